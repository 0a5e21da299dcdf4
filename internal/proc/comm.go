package proc

// Comm reads /proc/PID/comm (through procfs): the task name, at most 15
// bytes, as the OOM report prints it.
func (f FS) Comm(pid int) (string, error) {
	if err := procfsFile(f.pidPath(pid, "comm")); err != nil {
		return "", err
	}
	p, err := f.pfs.Proc(pid)
	if err != nil {
		return "", err
	}
	return p.Comm()
}
