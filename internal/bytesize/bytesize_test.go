package bytesize

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestFormat(t *testing.T) {
	tests := []struct {
		n    int64
		want string
	}{
		{0, "0 B"}, {100, "100 B"}, {1024, "1 KiB"}, {1536 * MiB, "1.5 GiB"}, {20 * MiB, "20 MiB"},
		{1374389534, "1.28 GiB"}, {-2 * GiB, "-2 GiB"}, {3 * TiB, "3 TiB"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, Format(tt.n)); diff != "" {
				t.Errorf("Format(%d) (-want +got):\n%s", tt.n, diff)
			}
		})
	}
}
