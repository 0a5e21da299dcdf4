// Package bytesize is oomkit's one syntax for sizes and percentages, and its
// one way of printing a size. Every command reads its size flags and scenario
// keys with Parse, Kubernetes quantities with ParseQuantity, percentages with
// ParsePercent, and prints sizes with Format.
//
// The rule (docs/sizes.md):
//
//   - A size is a whole number of bytes ("4096") or a number with a binary
//     unit: B, KiB, MiB, GiB, TiB, PiB, EiB, or Kubernetes' spellings Ki, Mi,
//     Gi, Ti, Pi, Ei ("100MiB", "1.5GiB", "64Mi", "1.5 GiB"). The unit's case
//     does not matter ("gib"): the "i" already says binary.
//   - Decimal-looking units (k, K, kB, KB, M, MB, G, GB, T, TB, P, PB, E, EB)
//     are refused: tools disagree on them (Kubernetes' M is 10⁶, Java's and
//     Docker's m is 2²⁰), and a guess would be off by 5–15%. The error says
//     what to write instead.
//   - Where the input is a Kubernetes quantity (a kubelet flag, a pod's
//     memory), ParseQuantity reads it as Kubernetes does: "1.5G" is 1.5×10⁹,
//     "1Gi" 2³⁰, "129e6" 129×10⁶. The binary spellings with a trailing B
//     ("16GiB") are accepted too.
//   - A percentage is written with its sign ("50%", "12.5%"); only "0" may
//     go without. A bare "50" is refused: it could be a fraction.
//   - Negative sizes, sizes above 2⁶³−1 bytes (8 EiB), fractions of a byte and
//     exponents in oomkit's own syntax ("1e400") are refused, never wrapped.
package bytesize

import (
	"bytes"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"
)

// Binary byte units.
const (
	KiB int64 = 1 << 10
	MiB int64 = 1 << 20
	GiB int64 = 1 << 30
	TiB int64 = 1 << 40
	PiB int64 = 1 << 50
	EiB int64 = 1 << 60
)

// maxLen bounds the text Parse and ParseQuantity look at: no size needs more,
// and it keeps the exact arithmetic cheap whatever the input.
const maxLen = 64

// binary maps every accepted unit, lower-cased, to its multiplier.
var binary = map[string]int64{
	"":    1,
	"kib": KiB, "ki": KiB,
	"mib": MiB, "mi": MiB,
	"gib": GiB, "gi": GiB,
	"tib": TiB, "ti": TiB,
	"pib": PiB, "pi": PiB,
	"eib": EiB, "ei": EiB,
}

// decimal maps the refused decimal-looking prefixes, lower-cased, to the
// binary unit with the same letter and the power of ten they would mean.
var decimal = map[string]struct {
	binary string
	pow10  int
}{
	"k": {"KiB", 3}, "m": {"MiB", 6}, "g": {"GiB", 9}, "t": {"TiB", 12}, "p": {"PiB", 15}, "e": {"EiB", 18},
}

// Parse reads a size in oomkit's syntax (see the package comment) and
// returns it in bytes.
func Parse(s string) (int64, error) {
	num, unit, err := split(s)
	if err != nil {
		return 0, err
	}
	lower := strings.ToLower(unit)
	if unit == "B" {
		lower = ""
	}
	mult, ok := binary[lower]
	if !ok {
		return 0, unitError(s, num, unit)
	}
	r, _ := new(big.Rat).SetString(num) // split checked the digits
	r.Mul(r, new(big.Rat).SetInt64(mult))
	return whole(s, r)
}

// split cuts s into its number (digits with at most one inner '.') and its
// unit, or says why s is not a size.
func split(s string) (num, unit string, err error) {
	t := strings.TrimSpace(s)
	if len(t) > maxLen {
		return "", "", fmt.Errorf("%q is too long for a size", truncate(t))
	}
	if strings.HasPrefix(t, "-") {
		return "", "", fmt.Errorf("%q is negative: a size is 0 or more bytes", s)
	}
	i := 0
	for i < len(t) && (t[i] >= '0' && t[i] <= '9' || t[i] == '.') {
		i++
	}
	num, unit = t[:i], strings.TrimPrefix(t[i:], " ")
	intPart, frac, dot := strings.Cut(num, ".")
	if intPart == "" || (dot && (frac == "" || strings.Contains(frac, "."))) {
		return "", "", notSize(s)
	}
	return num, unit, nil
}

// unitError explains a unit Parse does not take: a decimal one says what to
// write instead, anything else shows the syntax.
func unitError(s, num, unit string) error {
	u := strings.ToLower(unit)
	d, ok := decimal[strings.TrimSuffix(u, "b")]
	if !ok || u == "b" {
		if unit == "b" {
			return fmt.Errorf("%q: write %sB or %s for bytes (a lower-case b could be bits)", s, num, num)
		}
		return notSize(s)
	}
	bin := num + d.binary
	r, _ := new(big.Rat).SetString(num)
	r.Mul(r, new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(d.pow10)), nil)))
	if r.IsInt() && r.Num().IsInt64() {
		return fmt.Errorf("%q is ambiguous (decimal or binary?): write %s for %s×2^%d bytes, or %d for decimal",
			s, bin, num, d.pow10/3*10, r.Num().Int64())
	}
	return fmt.Errorf("%q is ambiguous (decimal or binary?): write %s, or the number of bytes", s, bin)
}

func notSize(s string) error {
	return fmt.Errorf("%q is not a size: write bytes or a number with a binary unit, e.g. 4096, 100MiB, 1.5GiB, 64Mi", truncate(s))
}

// whole returns r as an int64 number of bytes, or why it is not one.
func whole(s string, r *big.Rat) (int64, error) {
	if !r.IsInt() {
		return 0, fmt.Errorf("%q is not a whole number of bytes", s)
	}
	if !r.Num().IsInt64() {
		return 0, fmt.Errorf("%q is too large: at most 8EiB (2^63-1 bytes)", s)
	}
	return r.Num().Int64(), nil
}

// ParseQuantity reads a Kubernetes quantity as bytes, as the API server and
// the kubelet do (k8s.io/apimachinery's resource.ParseQuantity): "16Gi",
// "1.5G" (decimal, 1.5×10⁹), "129e6", "128974848"; oomkit's binary spelling
// "16GiB" is taken as "16Gi". Negative quantities, fractions of a byte
// ("100m" is a tenth of a byte in Kubernetes) and quantities of 8Ei or more
// (which Kubernetes clamps to 2⁶³−1 rather than refusing) are errors.
func ParseQuantity(s string) (int64, error) {
	t := strings.TrimSpace(s)
	if len(t) > maxLen {
		return 0, fmt.Errorf("%q is too long for a quantity", truncate(t))
	}
	if strings.HasSuffix(t, "iB") {
		t = strings.TrimSuffix(t, "B")
	}
	if err := checkExponent(s, t); err != nil {
		return 0, err
	}
	q, err := resource.ParseQuantity(t)
	if err != nil {
		if num, unit, serr := split(t); serr == nil && len(unit) == 2 && (unit[1] == 'B' || unit[1] == 'b') {
			if d, ok := decimal[strings.ToLower(unit[:1])]; ok {
				dec := strings.ToUpper(unit[:1])
				if dec == "K" {
					dec = "k" // Kubernetes' kilo is lower-case; K is not a suffix
				}
				return 0, fmt.Errorf("%q is not a Kubernetes quantity: write %s%s (decimal, 10^%d bytes each) or %s%si (binary)",
					s, num, dec, d.pow10, num, strings.ToUpper(unit[:1]))
			}
		}
		return 0, fmt.Errorf("%q is not a Kubernetes quantity: write e.g. 512Mi, 1.5Gi, 2G or 134217728", truncate(s))
	}
	return QuantityBytes(q, s)
}

// checkExponent refuses a quantity whose decimal exponent ("129e6") has more
// than two digits before apimachinery sees it: every byte count fits in e18,
// and resource.ParseQuantity takes minutes over "1e-99999999".
func checkExponent(s, t string) error {
	i := strings.IndexAny(t, "eE")
	if i < 0 || i == len(t)-1 { // no exponent, or the suffix E (exa)
		return nil
	}
	exp := strings.TrimLeft(t[i+1:], "+-0")
	if len(exp) <= 2 {
		return nil
	}
	if strings.HasPrefix(t[i+1:], "-") {
		return fmt.Errorf("%q is not a whole number of bytes", truncate(s))
	}
	return fmt.Errorf("%q is too large: at most 8Ei−1 bytes", truncate(s))
}

// CheckQuantity reads any Kubernetes quantity (memory, cpu, …) as the API
// server does, refusing first what would keep resource.ParseQuantity busy
// for minutes (an exponent of more than two digits, or more than 64
// characters), then what does not parse, then a negative value, which the
// API server refuses for every resource.
func CheckQuantity(s string) error {
	t := strings.TrimSpace(s)
	if len(t) > maxLen {
		return fmt.Errorf("%q is too long for a quantity", truncate(t))
	}
	if checkExponent(s, t) != nil {
		return fmt.Errorf("%q: an exponent of more than two digits is out of any quantity's range", truncate(s))
	}
	q, err := resource.ParseQuantity(t)
	if err != nil {
		return fmt.Errorf("%q is not a Kubernetes quantity: write e.g. 512Mi, 1.5Gi, 2G or 500m", truncate(s))
	}
	if q.Sign() < 0 {
		return fmt.Errorf("%q is negative: the API server takes only quantities of 0 or more", truncate(s))
	}
	return nil
}

// QuantityBytes returns a parsed Kubernetes quantity (e.g. a pod's memory
// request) as a whole number of bytes, or why it is not one; text names the
// quantity in the error.
func QuantityBytes(q resource.Quantity, text string) (int64, error) {
	if q.Sign() < 0 {
		return 0, fmt.Errorf("%q is negative: a memory quantity is 0 or more bytes", text)
	}
	d := q.AsDec()
	if d.Scale() > 0 {
		r, ok := new(big.Rat).SetString(d.String())
		if !ok || !r.IsInt() {
			return 0, fmt.Errorf("%q is not a whole number of bytes (in a Kubernetes quantity m is milli: 100m is a tenth of a byte; write 100Mi or 100M)", text)
		}
	}
	// Kubernetes stores anything at or above 2⁶³−1 as 2⁶³−1, so that value
	// cannot be told from an overflow: refuse it with the rest.
	if q.CmpInt64(math.MaxInt64) >= 0 {
		return 0, fmt.Errorf("%q is too large: at most 8Ei−1 bytes", text)
	}
	return q.Value(), nil
}

// ParsePercent reads a percentage from 0 to 100: "50%", "12.5%", "100%", or
// "0". A bare number other than 0 is refused (is "0.5" half or a half
// percent?).
func ParsePercent(s string) (float64, error) {
	t := strings.TrimSpace(s)
	if t == "0" {
		return 0, nil
	}
	num, ok := strings.CutSuffix(t, "%")
	num = strings.TrimSpace(num)
	intPart, frac, dot := strings.Cut(num, ".")
	if len(num) > maxLen || !digits(intPart) || (dot && !digits(frac)) {
		if !ok && strings.HasPrefix(num, "-") {
			return 0, fmt.Errorf("%q is not a percentage from 0%% to 100%%: write e.g. 50%%", truncate(s))
		}
		return 0, fmt.Errorf("%q is not a percentage: write e.g. 50%% or 12.5%%", truncate(s))
	}
	if !ok {
		return 0, fmt.Errorf("%q needs a %% sign: write %s%% (a bare number could be a fraction)", s, num)
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil || f > 100 {
		return 0, fmt.Errorf("%q is outside 0%%–100%%", s)
	}
	return f, nil
}

func digits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// Format prints a byte count in the largest binary unit that keeps it at 1
// or more, with three significant digits and no trailing zeros: 0 → "0 B",
// 1536 → "1.5 KiB", 177209344 → "169 MiB", 17301504 → "16.5 MiB",
// 1<<30 → "1 GiB". Parse reads it back, to within the rounding.
func Format(n int64) string { return string(AppendFormat(nil, n)) }

// AppendFormat appends Format(n) to dst, for writers that build a line
// without a string per size (explain's summary).
func AppendFormat(dst []byte, n int64) []byte {
	neg := n < 0
	u := uint64(n)
	if neg {
		u = -u // two's complement: also right for math.MinInt64
	}
	units := [...]string{"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"}
	f := float64(u)
	i := 0
	for f >= 1024 && i < len(units)-1 {
		f /= 1024
		i++
	}
	if neg {
		dst = append(dst, '-')
	}
	start := len(dst)
	switch {
	case i == 0 || f >= 100:
		dst = strconv.AppendFloat(dst, f, 'f', 0, 64)
	case f >= 10:
		dst = strconv.AppendFloat(dst, f, 'f', 1, 64)
	default:
		dst = strconv.AppendFloat(dst, f, 'f', 2, 64)
	}
	if bytes.IndexByte(dst[start:], '.') >= 0 {
		dst = bytes.TrimRight(bytes.TrimRight(dst, "0"), ".")
	}
	dst = append(dst, ' ')
	return append(dst, units[i]...)
}

// truncate shortens hostile input before it is quoted in an error.
func truncate(s string) string {
	if len(s) > maxLen {
		return s[:maxLen] + "…"
	}
	return s
}
