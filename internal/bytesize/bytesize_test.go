package bytesize

import (
	"math"
	"strconv"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/resource"
)

// parseTests: the binary units are IEC 80000-13's (1 KiB = 2^10 bytes, 1 MiB
// = 2^20, …), Kubernetes' Ki/Mi/Gi the same (resource.Quantity's BinarySI).
var parseTests = []struct {
	in      string
	want    int64
	wantErr string
}{
	{in: "0", want: 0},
	{in: "4096", want: 4096},
	{in: "4096B", want: 4096},
	{in: "100MiB", want: 104857600},
	{in: "64Mi", want: 67108864},
	{in: "1.5GiB", want: 1610612736},
	{in: "1.5 GiB", want: 1610612736},
	{in: " 2 gib ", want: 2147483648},
	{in: "1TiB", want: 1099511627776},
	{in: "1PiB", want: 1125899906842624},
	{in: "7EiB", want: 8070450532247928832},
	{in: "0.5KiB", want: 512},
	{in: "9223372036854775807", want: math.MaxInt64},
	{in: "9223372036854775808", wantErr: "too large"},
	{in: "8EiB", wantErr: "too large"},
	{in: "99999999999TiB", wantErr: "too large"},
	{in: "-1MiB", wantErr: "negative"},
	{in: "-0", wantErr: "negative"},
	{in: "1e400", wantErr: "not a size"},
	{in: "1e3", wantErr: "not a size"},
	{in: "0x10", wantErr: "not a size"},
	{in: "", wantErr: "not a size"},
	{in: "MiB", wantErr: "not a size"},
	{in: ".5GiB", wantErr: "not a size"},
	{in: "5.GiB", wantErr: "not a size"},
	{in: "1.2.3MiB", wantErr: "not a size"},
	{in: "10 parsecs", wantErr: "not a size"},
	{in: "1.5", wantErr: "whole number of bytes"},
	{in: "0.1KiB", wantErr: "whole number of bytes"},
	{in: "100MB", wantErr: `"100MB" is ambiguous (decimal or binary?): write 100MiB for 100×2^20 bytes, or 100000000 for decimal`},
	{in: "100M", wantErr: "write 100MiB"},
	{in: "1k", wantErr: `write 1KiB for 1×2^10 bytes, or 1000 for decimal`},
	{in: "12GB", wantErr: "write 12GiB"},
	{in: "1.5gb", wantErr: "or 1500000000 for decimal"},
	{in: "99999999999EB", wantErr: "write 99999999999EiB, or the number of bytes"},
	{in: "100b", wantErr: "write 100B or 100 for bytes"},
	{in: strings.Repeat("9", 65), wantErr: "too long"},
}

func TestParse(t *testing.T) {
	for _, tt := range parseTests {
		got, err := Parse(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Parse(%q) = %d, %v; want an error containing %q", tt.in, got, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("Parse(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
		}
	}
}

// quantityTests: the values are the Kubernetes documentation's ("Resource
// units in Kubernetes: memory": 128974848, 129e6, 129M, 128974848000m and
// 123Mi are about the same; 400m is 0.4 bytes) and apimachinery's suffix
// table (k = 10^3, M = 10^6, G = 10^9, Ki = 2^10 …).
var quantityTests = []struct {
	in      string
	want    int64
	wantErr string
}{
	{in: "128974848", want: 128974848},
	{in: "129e6", want: 129000000},
	{in: "129M", want: 129000000},
	{in: "128974848000m", want: 128974848},
	{in: "123Mi", want: 128974848},
	{in: "123MiB", want: 128974848},
	{in: "1.5G", want: 1500000000},
	{in: "16Gi", want: 17179869184},
	{in: "1k", want: 1000},
	{in: "1E", want: 1000000000000000000},
	{in: "1Ei", want: 1152921504606846976},
	{in: "0", want: 0},
	{in: "400m", wantErr: "not a whole number of bytes"},
	{in: "0.5", wantErr: "not a whole number of bytes"},
	{in: "-1Gi", wantErr: "negative"},
	{in: "1e400", wantErr: "too large"},
	{in: "1e-99999999", wantErr: "not a whole number of bytes"},
	{in: "1e99999999", wantErr: "too large"},
	{in: "9223372036854775808", wantErr: "too large"},
	{in: "8Ei", wantErr: "too large"},
	{in: "16GB", wantErr: `"16GB" is not a Kubernetes quantity: write 16G (decimal, 10^9 bytes each) or 16Gi (binary)`},
	{in: "64kB", wantErr: "write 64k (decimal"},
	{in: "16K", wantErr: "not a Kubernetes quantity"},
	{in: "lots", wantErr: "not a Kubernetes quantity"},
	{in: "", wantErr: "not a Kubernetes quantity"},
}

func TestParseQuantity(t *testing.T) {
	for _, tt := range quantityTests {
		got, err := ParseQuantity(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseQuantity(%q) = %d, %v; want an error containing %q", tt.in, got, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseQuantity(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
		}
	}
}

var percentTests = []struct {
	in      string
	want    float64
	wantErr string
}{
	{in: "50%", want: 50},
	{in: "12.5%", want: 12.5},
	{in: "0%", want: 0},
	{in: "0", want: 0},
	{in: "100%", want: 100},
	{in: " 7 % ", want: 7},
	{in: "50", wantErr: "needs a % sign: write 50%"},
	{in: "0.5", wantErr: "write 0.5%"},
	{in: "150%", wantErr: "outside 0%–100%"},
	{in: "-1%", wantErr: "not a percentage"},
	{in: "NaN%", wantErr: "not a percentage"},
	{in: "inf%", wantErr: "not a percentage"},
	{in: "1e2%", wantErr: "not a percentage"},
	{in: "half", wantErr: "not a percentage"},
	{in: "%", wantErr: "not a percentage"},
}

func TestParsePercent(t *testing.T) {
	for _, tt := range percentTests {
		got, err := ParsePercent(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParsePercent(%q) = %v, %v; want an error containing %q", tt.in, got, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParsePercent(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}

// TestFormat: three significant digits in the largest binary unit; the
// page counts are from the hand-checked twist-1 report (43356 and 229846
// pages of 4 KiB resident: 169.4 and 897.8 MiB).
func TestFormat(t *testing.T) {
	for _, tt := range []struct {
		in   int64
		want string
	}{
		{0, "0 B"}, {512, "512 B"}, {1023, "1023 B"}, {1024, "1 KiB"}, {1536, "1.5 KiB"},
		{43356 * 4096, "169 MiB"}, {229846 * 4096, "898 MiB"}, {1 << 30, "1 GiB"},
		{17301504, "16.5 MiB"}, {-4096, "-4 KiB"}, {1610612736, "1.5 GiB"},
		{1234 * 1024 * 1024, "1.21 GiB"}, {100 << 40, "100 TiB"},
		{math.MaxInt64, "8 EiB"}, {math.MinInt64, "-8 EiB"},
	} {
		if got := Format(tt.in); got != tt.want {
			t.Errorf("Format(%d) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// FuzzParse: Parse never panics, never returns a negative size, and what it
// accepts reads back the same as a plain byte count.
func FuzzParse(f *testing.F) {
	for _, tt := range parseTests {
		f.Add(tt.in)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := Parse(s)
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("Parse(%q): error %q is more than one line", s, err)
			}
			return
		}
		if n < 0 {
			t.Fatalf("Parse(%q) = %d < 0", s, n)
		}
		if back, err := Parse(strconv.FormatInt(n, 10)); err != nil || back != n {
			t.Fatalf("Parse(%q) = %d, but Parse(%d) = %d, %v", s, n, n, back, err)
		}
	})
}

// FuzzParseQuantity: never panics or takes long, never negative, never above
// what an int64 holds.
func FuzzParseQuantity(f *testing.F) {
	for _, tt := range quantityTests {
		f.Add(tt.in)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseQuantity(s)
		if err == nil && n < 0 {
			t.Fatalf("ParseQuantity(%q) = %d < 0", s, n)
		}
		if err != nil && strings.Contains(err.Error(), "\n") {
			t.Fatalf("ParseQuantity(%q): error %q is more than one line", s, err)
		}
	})
}

// TestCheckQuantity: any resource's quantity as the API server takes it;
// what would keep apimachinery busy for minutes is refused first.
func TestCheckQuantity(t *testing.T) {
	for _, ok := range []string{"500m", "2", "1.5Gi", "0", "1e18", "100M"} {
		if err := CheckQuantity(ok); err != nil {
			t.Errorf("CheckQuantity(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"-1", "-500m", "1e999999999", "1e-99999999", "lots", "", strings.Repeat("9", 65)} {
		if err := CheckQuantity(bad); err == nil {
			t.Errorf("CheckQuantity(%q) = nil, want an error", bad)
		}
	}
}

func FuzzCheckQuantity(f *testing.F) {
	for _, tt := range quantityTests {
		f.Add(tt.in)
	}
	f.Add("1e999999999")
	f.Add("-500m")
	f.Fuzz(func(t *testing.T, s string) {
		err := CheckQuantity(s)
		if err == nil {
			q, perr := resource.ParseQuantity(strings.TrimSpace(s))
			if perr != nil || q.Sign() < 0 {
				t.Fatalf("CheckQuantity(%q) = nil, but apimachinery: %v, sign %d", s, perr, q.Sign())
			}
		} else if strings.Contains(err.Error(), "\n") {
			t.Fatalf("CheckQuantity(%q): error %q is more than one line", s, err)
		}
	})
}

func FuzzParsePercent(f *testing.F) {
	for _, tt := range percentTests {
		f.Add(tt.in)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePercent(s)
		if err == nil && (p < 0 || p > 100 || math.IsNaN(p)) {
			t.Fatalf("ParsePercent(%q) = %v, outside 0–100", s, p)
		}
	})
}

// FuzzFormat: Format's number and unit mean n to within its rounding (three
// significant digits: at most 0.5% off).
func FuzzFormat(f *testing.F) {
	for _, n := range []int64{0, 1, 1023, 1024, 1536, 17301504, 1 << 30, math.MaxInt64, math.MinInt64} {
		f.Add(n)
	}
	units := map[string]float64{"B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40, "PiB": 1 << 50, "EiB": 1 << 60}
	f.Fuzz(func(t *testing.T, n int64) {
		s := Format(n)
		num, unit, ok := strings.Cut(s, " ")
		v, err := strconv.ParseFloat(num, 64)
		mult, known := units[unit]
		if !ok || err != nil || !known {
			t.Fatalf("Format(%d) = %q: not a number and a unit", n, s)
		}
		want := float64(n)
		if diff := math.Abs(v*mult - want); diff > math.Abs(want)*0.005 {
			t.Fatalf("Format(%d) = %q is %.0f, %.2f%% off", n, s, v*mult, diff/math.Abs(want)*100)
		}
	})
}
