package sim

import (
	"io"
	"path"

	"github.com/oomkit/oomkit/internal/mm"
	"github.com/oomkit/oomkit/internal/oomlog"
)

// WriteReport prints r as kernel v's OOM killer would, one dmesg line
// ("[ uptime] text") per line, through internal/oomlog's formatter — the
// same code the parser's round-trip property test checks, so `oomkit
// explain` reads every simulated report back to the same event.
func WriteReport(w io.Writer, r *oomlog.Report, v mm.Version) error {
	return oomlog.Format(w, r, v.String())
}

// cpusetName is the cpuset the kernel prints for a task: the last
// component of its cgroup path, "/" for the root.
func cpusetName(cg string) string {
	if cg == "/" || cg == "" {
		return "/"
	}
	return path.Base(cg)
}
