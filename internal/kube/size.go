package kube

import "github.com/oomkit/oomkit/internal/bytesize"

// Binary byte units (bytesize's).
const (
	KiB = bytesize.KiB
	MiB = bytesize.MiB
	GiB = bytesize.GiB
	TiB = bytesize.TiB
)

// FormatBytes prints n as every command prints a size (bytesize.Format).
func FormatBytes(n int64) string { return bytesize.Format(n) }
