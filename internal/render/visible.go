package render

import "github.com/oomkit/oomkit/internal/visible"

// vs shows a string from outside oomkit (a process or cgroup name, a path,
// a manifest value, a note quoting one) with its control characters
// escaped (internal/visible), before columns are padded.
func vs(s string) string { return visible.String(s) }
