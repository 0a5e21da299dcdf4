package proc

// OOMScoreAdj reads /proc/PID/oom_score_adj (−1000 … 1000).
func (f FS) OOMScoreAdj(pid int) (int64, error) {
	return f.readPIDInt(pid, "oom_score_adj")
}
