package kube

import "github.com/oomkit/oomkit/internal/bytesize"

// Binary byte units (bytesize's).
const (
	KiB = bytesize.KiB
	MiB = bytesize.MiB
	GiB = bytesize.GiB
	TiB = bytesize.TiB
)
