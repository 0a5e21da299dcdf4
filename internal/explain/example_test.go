package explain_test

import (
	"bytes"
	"fmt"

	"github.com/oomkit/oomkit/internal/explain"
	"github.com/oomkit/oomkit/internal/oomlog"
)

// Explain recomputes the kernel's choice from a report: in the article's
// first twist every score clamps to 1 on 5.4.0-1059, so the last task
// scanned dies; a 5.9+ kernel would have killed the big one.
func ExampleExplain() {
	log, _ := explain.Sample("twist-1")
	s := oomlog.NewScanner(bytes.NewReader(log), oomlog.Options{})
	for s.Scan() {
		e := explain.Explain(s.Report(), explain.Options{})
		a := e.Analysis
		fmt.Println(*a.Rules, *a.DecidedBy, *a.PredictedVictimPID, *a.Agrees)
		for _, o := range a.ByRules {
			fmt.Println(o.Kernels, *o.PredictedVictimPID)
		}
	}
	// Output:
	// clamp_last_wins tie_last_scanned 14300 true
	// ≤5.2 15885
	// 5.3–5.8/5.4.0–5.4.143 14300
	// ≥5.9/5.4.144+ 15976
}
