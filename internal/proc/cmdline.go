package proc

// Cmdline reads /proc/PID/cmdline (through procfs): the arguments, empty
// for kernel threads and zombies.
func (f FS) Cmdline(pid int) ([]string, error) {
	if err := procfsFile(f.pidPath(pid, "cmdline")); err != nil {
		return nil, err
	}
	p, err := f.pfs.Proc(pid)
	if err != nil {
		return nil, err
	}
	return p.CmdLine()
}
