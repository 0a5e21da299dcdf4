package oomlog

// This file tells which host and boot a line was printed in, so that a
// report that printed no kernel release of its own (its stack dump banner
// was cut, rate-limited or grepped away) can take the release another line
// of the same host and boot printed, before or after it.

// bootKey names the host and boot a line was printed in, as far as the
// log says.
type bootKey struct {
	host string // the syslog or journal host name, "" when not printed
	id   string // the journal's _BOOT_ID, "" for other sources
	// n counts the boots begun in this log without an id: a "Linux
	// version" banner, or dmesg uptimes running backwards.
	n int
}

// uptimeSlack is how far back a dmesg uptime may go without meaning a new
// boot: printk stamps come from each CPU's local_clock()
// (kernel/printk/printk.c), which may differ by a little between CPUs.
const uptimeSlack = 1.0

// noteStamp follows the host and boot through a line's stamp: a new host
// name, a new journal boot id, or an uptime lower than the last begins
// another boot, whose kernel release is not yet known.
func (a *Assembler) noteStamp(st *Stamp) {
	switch {
	case st.Host != "" && st.Host != a.boot.host:
		a.newBoot()
		a.boot.host = st.Host
	case st.BootID != "" && st.BootID != a.boot.id:
		a.newBoot()
		a.boot.id = st.BootID
	}
	if st.Uptime != nil {
		if *st.Uptime+uptimeSlack < a.uptime {
			a.newBoot()
		}
		a.uptime = *st.Uptime
	}
}

// newBoot starts another boot of the same host.
func (a *Assembler) newBoot() {
	a.boot.n++
	a.release = ""
	a.uptime = 0
}

// learnRelease records the kernel release a stack dump banner printed and
// gives it to the held reports of the same host and boot that printed
// none: the kernel that printed lines after them is the one that printed
// them.
func (a *Assembler) learnRelease(release string) {
	a.release = release
	for _, b := range a.done {
		if b.r.KernelVersion == "" && b.boot == a.boot {
			b.r.KernelVersion, b.r.KernelVersionInferred = release, true
		}
	}
}

// inferRelease gives r the release of its host and boot, if one was
// printed before it.
func (a *Assembler) inferRelease(b *builder) {
	if b.r.KernelVersion == "" && a.release != "" && b.boot == a.boot {
		b.r.KernelVersion, b.r.KernelVersionInferred = a.release, true
	}
}
