package oomlog

// Pending returns the first line of the earliest report the Assembler still
// holds — being read, or finished and waiting for its victims' oom_reaper
// lines — and false when it holds none. A reader that persists where it
// stopped in a live log (internal/watch) may resume after the line before
// it: every report that began earlier has been returned.
func (a *Assembler) Pending() (firstLine int, ok bool) {
	for _, list := range [][]*builder{a.open, a.done} {
		for _, b := range list {
			if !ok || b.r.FirstLine < firstLine {
				firstLine, ok = b.r.FirstLine, true
			}
		}
	}
	return firstLine, ok
}
