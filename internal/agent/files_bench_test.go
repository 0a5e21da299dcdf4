package agent

import (
	"path/filepath"
	"testing"

	"github.com/oomkit/oomkit/internal/kerneltest"
)

// BenchmarkReadMemcgFile is the cost of one sample's reads of a real v1
// memcg: each file once, through a kept-open descriptor.
func BenchmarkReadMemcgFile(b *testing.B) {
	m := kerneltest.NewMemcg(b, 64<<20)
	for _, f := range []string{"memory.usage_in_bytes", "memory.limit_in_bytes", "memory.stat", "memory.oom_control"} {
		b.Run(f, func(b *testing.B) {
			p, err := openPoll(filepath.Join(m.Dir, f), 8192)
			if err != nil {
				b.Fatal(err)
			}
			defer p.close()
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if _, err := p.read(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
