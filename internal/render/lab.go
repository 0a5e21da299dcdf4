package render

import (
	"fmt"
	"io"

	"github.com/oomkit/oomkit/internal/lab"
)

// LabResult prints one scenario's outcome as text.
func LabResult(w io.Writer, r lab.Result) {
	status := "ok  "
	switch {
	case r.Skipped != nil:
		fmt.Fprintf(w, "skip %s: %s\n", vs(r.Scenario), vs(*r.Skipped))
		return
	case !r.Agrees:
		status = "FAIL"
	}
	delta := "?"
	if r.OOMKillDelta != nil {
		delta = fmt.Sprint(*r.OOMKillDelta)
	}
	fmt.Fprintf(w, "%s %s (%.1f s, oom_kill +%s): %s\n", status, vs(r.Scenario), r.DurationSeconds, delta, vs(r.Summary))
	for _, c := range r.Checks {
		mark := "ok"
		if !c.OK {
			mark = "FAILED"
		}
		fmt.Fprintf(w, "       %s: %s — %s\n", mark, vs(c.Name), vs(c.Detail))
	}
}
