package proc

// Environ reads /proc/PID/environ (through procfs): KEY=VALUE pairs as the
// process started with them. Another user's environ needs
// PTRACE_MODE_READ; the error then satisfies IsPermission.
func (f FS) Environ(pid int) ([]string, error) {
	if err := procfsFile(f.pidPath(pid, "environ")); err != nil {
		return nil, err
	}
	p, err := f.pfs.Proc(pid)
	if err != nil {
		return nil, err
	}
	return p.Environ()
}
