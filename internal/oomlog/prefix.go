package oomlog

import (
	"strconv"
	"strings"
	"time"

	"github.com/oomkit/oomkit/internal/kmsg"
)

// lineSource says what kind of prefix a line carried; it matters for the
// lines that follow it (a /dev/kmsg record's continuation lines are
// dictionary entries, not message text).
type lineSource uint8

const (
	srcPlain       lineSource = iota // no prefix, or only a dmesg stamp
	srcKmsg                          // "prio,seq,usec,flags;text"
	srcForeignKmsg                   // a /dev/kmsg record of user space (facility > 0): not kernel text
	srcSyslog                        // syslog / journal prefix with a kernel tag
	srcForeign                       // syslog / journal prefix of another program: not kernel text
	srcUntagged                      // a time stamp, then no tag where syslog puts one: look for the message
)

// splitPrefix removes every log prefix from line and records what it said in
// st. It returns the kernel's message text. A line that another program
// wrote (a syslog line whose tag is not "kernel") comes back as srcForeign.
func splitPrefix(line string, st *Stamp, loc *time.Location) (string, lineSource) {
	return splitPrefixInto(line, st, loc, nil)
}

// splitPrefixInto is splitPrefix with a dmesg stamp's uptime kept in *up
// (nil: a new float64): the Assembler reads a line's stamp before it
// knows whether the line begins a report, and copies it only if it does.
func splitPrefixInto(line string, st *Stamp, loc *time.Location, up *float64) (string, lineSource) {
	s := stripLevel(line)
	src := srcPlain
	if len(s) > 0 && s[0] >= '0' && s[0] <= '9' {
		if body, src, ok := splitKmsg(s, st); ok {
			return stripLevel(body), src
		}
		if len(s) < len(line) && strings.HasPrefix(s, "1 ") {
			if body, src, ok := splitRFC5424(s, st, loc); ok {
				return body, src
			}
		}
		if rest, ok := splitISO(s, st, loc); ok {
			if st.Text != "" && strings.IndexByte(st.Text, ',') > 0 {
				// dmesg --time-format iso: the message follows directly.
				s = rest
			} else {
				s, src = splitTag(rest, st)
				if src != srcSyslog {
					return s, src
				}
			}
		}
	} else if isMonth3(s) {
		if rest, ok := splitSyslogTime(s, st); ok {
			s, src = splitTag(rest, st)
			if src != srcSyslog {
				return s, src
			}
		}
	} else if rest, fac, ok := splitDecode(s); ok {
		// dmesg -x: "kern  :warn  : [ 12.3] text".
		if fac != "kern" {
			return "", srcForeign
		}
		s = rest
		if len(s) > 0 && isDigit(s[0]) {
			// dmesg -x --time-format iso
			if body, ok := splitISO(s, st, loc); ok && strings.IndexByte(st.Text, ',') > 0 {
				s = body
			} else {
				*st = Stamp{}
			}
		}
	}
	s = stripLevel(s)
	if len(s) > 2 && s[0] == '[' {
		if rest, ok := splitBracket(s, st, loc, up); ok {
			s = rest
			if src == srcPlain {
				// journalctl -o short-monotonic: "[ 12.3] host kernel: text".
				if body, ok := splitKernelTag(s, st); ok {
					s = body
				}
			}
		}
	}
	return stripLevel(s), src
}

// splitRFC5424 reads an RFC 5424 syslog line after its "<PRI>": "1
// TIMESTAMP HOSTNAME APP-NAME PROCID MSGID STRUCTURED-DATA MSG", each
// field "-" when absent. The message is the kernel's when APP-NAME is
// "kernel".
func splitRFC5424(s string, st *Stamp, loc *time.Location) (string, lineSource, bool) {
	f := strings.SplitN(s, " ", 7)
	if len(f) < 7 || f[0] != "1" {
		return "", 0, false
	}
	if f[1] != "-" {
		if _, ok := splitISO(f[1]+" ", st, loc); !ok {
			return "", 0, false
		}
	}
	if f[2] != "-" {
		st.Host = f[2]
	}
	rest := f[6]
	// STRUCTURED-DATA: "-" or "[id k=\"v\" …]…" (a "]" inside a value is
	// escaped as "\]").
	if strings.HasPrefix(rest, "-") {
		rest = rest[1:]
	} else {
		for strings.HasPrefix(rest, "[") {
			i := 1
			for i < len(rest) && rest[i] != ']' {
				if rest[i] == '\\' {
					i++
				}
				i++
			}
			if i >= len(rest) {
				return "", 0, false
			}
			rest = rest[i+1:]
		}
	}
	rest = strings.TrimPrefix(strings.TrimPrefix(rest, " "), "\ufeff")
	if f[3] != "kernel" {
		return "", srcForeign, true
	}
	return rest, srcSyslog, true
}

// splitDecode parses dmesg -x's "facility:level : " prefix ("kern  :warn  : ").
func splitDecode(s string) (rest, facility string, ok bool) {
	c := strings.IndexByte(s, ':')
	if c < 3 || c > 9 {
		return "", "", false
	}
	facility = strings.TrimRight(s[:c], " ")
	if !facilities[facility] {
		return "", "", false
	}
	r := s[c+1:]
	c = strings.IndexByte(r, ':')
	if c < 3 || c > 7 || !levels[strings.TrimRight(r[:c], " ")] {
		return "", "", false
	}
	return strings.TrimPrefix(r[c+1:], " "), facility, true
}

var (
	facilities = map[string]bool{"kern": true, "user": true, "mail": true, "daemon": true, "auth": true, "syslog": true,
		"lpr": true, "news": true, "uucp": true, "cron": true, "authpriv": true, "ftp": true, "local0": true, "local1": true,
		"local2": true, "local3": true, "local4": true, "local5": true, "local6": true, "local7": true}
	levels = map[string]bool{"emerg": true, "alert": true, "crit": true, "err": true, "warn": true, "notice": true, "info": true, "debug": true}
)

// stripLevel removes a "<N>" console level prefix.
func stripLevel(s string) string {
	if len(s) >= 3 && s[0] == '<' {
		for i := 1; i < len(s) && i <= 4; i++ {
			c := s[i]
			if c == '>' {
				if i > 1 {
					return s[i+1:]
				}
				return s
			}
			if c < '0' || c > '9' {
				return s
			}
		}
	}
	return s
}

// kmsgHead returns the length of a /dev/kmsg record header
// "prio,seq,usec,flags[,more]" ending at a ';', or -1.
func kmsgHead(s string) int {
	n := len(s)
	if n > 129 {
		n = 129
	}
	field, digits := 0, 0
	for i := 0; i < n; i++ {
		c := s[i]
		switch {
		case c == ';':
			if field >= 3 && i >= 7 {
				return i
			}
			return -1
		case field < 3 && c == ',':
			if digits == 0 {
				return -1
			}
			field, digits = field+1, 0
		case field < 3 && c >= '0' && c <= '9':
			digits++
		case field < 3:
			return -1
		}
	}
	return -1
}

// splitKmsg reads a saved /dev/kmsg record "prio,seq,usec,flags[,more];text"
// with the kmsg package's record parser; kmsgHead, a cheap test of the
// prefix's shape, keeps lines that merely contain a ';' away from it.
func splitKmsg(s string, st *Stamp) (string, lineSource, bool) {
	semi := kmsgHead(s)
	if semi < 0 {
		return "", 0, false
	}
	rec, err := kmsg.Parse([]byte(s))
	if err != nil {
		return "", 0, false
	}
	seq, up := rec.Seq, float64(rec.Usec)/1e6
	st.Seq, st.Uptime, st.Text, st.Caller = &seq, &up, s[:semi], rec.Caller
	if rec.Facility() != 0 {
		return "", srcForeignKmsg, true
	}
	return rec.Text, srcKmsg, true
}

// splitISO parses an ISO 8601 stamp ("2024-02-01T10:00:00+0100",
// "2024-02-01T10:00:00.123456+01:00", dmesg's "2024-02-01T10:00:00,123456+01:00")
// and returns the text after it.
func splitISO(s string, st *Stamp, loc *time.Location) (string, bool) {
	if len(s) < 19 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != ' ') || s[13] != ':' || s[16] != ':' {
		return "", false
	}
	end := strings.IndexByte(s[11:], ' ')
	if end < 0 {
		return "", false
	}
	end += 11
	if s[10] == ' ' {
		// "2024-02-01 10:00:00 text" has no zone; the stamp ends at 19.
		end = 19
		if len(s) <= 19 || s[19] != ' ' {
			return "", false
		}
	}
	text := s[:end]
	st.Text = text
	norm := strings.Replace(text, ",", ".", 1)
	for _, layout := range isoLayouts {
		if t, err := time.ParseInLocation(layout, norm, loc); err == nil {
			st.Time, st.TimeFrom = &t, TimeFromStamp
			break
		}
	}
	return s[end+1:], true
}

var isoLayouts = []string{
	"2006-01-02T15:04:05.999999999Z07:00",
	"2006-01-02T15:04:05.999999999Z0700",
	"2006-01-02T15:04:05Z07:00",
	"2006-01-02T15:04:05Z0700",
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05",
}

// isMonth3 reports whether s starts with an English month abbreviation
// and a space, as a syslog stamp does.
func isMonth3(s string) bool {
	if len(s) < 4 || s[3] != ' ' {
		return false
	}
	// Every line of a syslog file asks: switch on the first letter
	// rather than compare with all twelve.
	a, b, c := s[0], s[1], s[2]
	switch a {
	case 'J':
		return b == 'a' && c == 'n' || b == 'u' && (c == 'n' || c == 'l')
	case 'F':
		return b == 'e' && c == 'b'
	case 'M':
		return b == 'a' && (c == 'r' || c == 'y')
	case 'A':
		return b == 'p' && c == 'r' || b == 'u' && c == 'g'
	case 'S':
		return b == 'e' && c == 'p'
	case 'O':
		return b == 'c' && c == 't'
	case 'N':
		return b == 'o' && c == 'v'
	case 'D':
		return b == 'e' && c == 'c'
	}
	return false
}

// syslogTime returns the length of a leading "Jan  5 15:19:27" (syslog,
// journalctl short) or "Jan  5 15:19:27.123456" (journalctl
// short-precise) stamp, or -1. The year is not printed, so such a stamp
// never gives a Time.
func syslogTime(s string) int {
	if len(s) < 16 || !isMonth3(s) || s[6] != ' ' || s[9] != ':' || s[12] != ':' || !isDigit(s[7]) || !isDigit(s[14]) {
		return -1
	}
	end := 15
	if s[end] == '.' {
		end++
		for end < len(s) && isDigit(s[end]) {
			end++
		}
	}
	if end >= len(s) || s[end] != ' ' {
		return -1
	}
	return end
}

// inferYear gives a syslog stamp without a year ("Jan 16 21:33:51",
// "Jan 16 21:33:51.123456") the latest year that does not put it after
// mod, the file's modification time: a log file is written in order and
// rotated logs keep the time of their last line. A day of slack allows
// for a host whose clock ran ahead. It does nothing to other stamps.
func inferYear(st *Stamp, mod time.Time, loc *time.Location) {
	if st.Time != nil || mod.IsZero() {
		return
	}
	s := st.Text
	if syslogTime(s+" ") < 0 {
		return
	}
	month := monthNumber(s[:3])
	day, _ := strconv.Atoi(strings.TrimLeft(s[4:6], " "))
	h, _ := strconv.Atoi(s[7:9])
	mi, _ := strconv.Atoi(s[10:12])
	se, _ := strconv.Atoi(s[13:15])
	ns := 0
	if len(s) > 16 && s[15] == '.' {
		frac := (s[16:] + "000000000")[:9]
		ns, _ = strconv.Atoi(frac)
	}
	if month == 0 || day < 1 || day > 31 || h > 23 || mi > 59 || se > 60 {
		return
	}
	limit := mod.Add(24 * time.Hour)
	for y := mod.In(loc).Year(); y >= mod.In(loc).Year()-1; y-- {
		t := time.Date(y, time.Month(month), day, h, mi, se, ns, loc)
		if t.Month() != time.Month(month) {
			continue // Feb 29 of a year without one
		}
		if !t.After(limit) {
			st.Time, st.TimeFrom = &t, TimeYearInferred
			return
		}
	}
}

// splitSyslogTime records a syslog or journal stamp and returns the text
// after it.
func splitSyslogTime(s string, st *Stamp) (string, bool) {
	end := syslogTime(s)
	if end < 0 {
		return "", false
	}
	st.Text = s[:end]
	return s[end+1:], true
}

// tagKind is whose line a syslog line is, by its tag.
type tagKind uint8

const (
	tagNone   tagKind = iota // no "tag:" where syslog puts one: a prefix oomlog does not know
	tagKernel                // "kernel:"
	tagOther                 // another program's tag ("CRON[14500]:")
)

// kernelTag reads "[host] tag: …" after a syslog stamp: whose line it is,
// where the host ends (hostEnd -1: no host) and where the message starts.
func kernelTag(s string) (kind tagKind, hostEnd, body int) {
	sp := strings.IndexByte(s, ' ')
	tok := s
	if sp >= 0 {
		tok = s[:sp]
	}
	if tok == "kernel:" {
		if sp < 0 {
			return tagKernel, -1, len(s)
		}
		return tagKernel, -1, sp + 1
	}
	if len(tok) > 0 && tok[len(tok)-1] == ':' {
		return tagOther, 0, 0
	}
	if sp < 0 {
		return tagNone, 0, 0
	}
	r := s[sp+1:]
	sp2 := strings.IndexByte(r, ' ')
	tag := r
	if sp2 >= 0 {
		tag = r[:sp2]
	}
	switch {
	case tag == "kernel:":
		if sp2 < 0 {
			return tagKernel, sp, len(s)
		}
		return tagKernel, sp, sp + 1 + sp2 + 1
	case len(tag) > 0 && tag[len(tag)-1] == ':':
		return tagOther, 0, 0
	}
	return tagNone, 0, 0
}

// splitTag reads "[host] tag: text" after a syslog or journal time stamp:
// the kernel's message, another program's line (srcForeign), or, without
// a tag where syslog puts one, the rest of a prefix oomlog does not know
// (srcUntagged).
func splitTag(s string, st *Stamp) (string, lineSource) {
	kind, hostEnd, body := kernelTag(s)
	switch kind {
	case tagOther:
		return "", srcForeign
	case tagNone:
		return s, srcUntagged
	}
	if hostEnd >= 0 {
		st.Host = s[:hostEnd]
	}
	if body > len(s) {
		return "", srcSyslog
	}
	return s[body:], srcSyslog
}

// splitKernelTag strips "host kernel: " or "kernel: " after a monotonic
// journal stamp.
func splitKernelTag(s string, st *Stamp) (string, bool) {
	if rest, ok := strings.CutPrefix(s, "kernel: "); ok {
		return rest, true
	}
	sp := strings.IndexByte(s, ' ')
	if sp > 0 && sp < 256 {
		if rest, ok := strings.CutPrefix(s[sp+1:], "kernel: "); ok {
			st.Host = s[:sp]
			return rest, true
		}
	}
	return "", false
}

// splitBracket parses "[ 5864.708440]" (dmesg), "[Di Aug 12 03:54:03 2025]"
// (dmesg -T, any locale) and a following caller id "[ T1234]" or "[C2]".
func splitBracket(s string, st *Stamp, loc *time.Location, up *float64) (string, bool) {
	end := strings.IndexByte(s, ']')
	if end < 2 || end > 64 {
		return "", false
	}
	inner := s[1:end]
	rest := s[end+1:]
	switch {
	case isUptime(inner):
		v, ok := parseUptime(strings.TrimLeft(inner, " "))
		if !ok {
			return "", false
		}
		if st.Text == "" {
			st.Text = s[:end+1]
		}
		if up == nil {
			up = new(float64)
		}
		*up = v
		st.Uptime = up
	case isCaller(inner):
		st.Caller = strings.TrimLeft(inner, " ")
		return strings.TrimPrefix(rest, " "), true
	case isRelative(inner):
		// dmesg --time-format reltime/delta ("[  +0.000123]",
		// "[Jan16 21:33]", "[<    0.000123>]"): no absolute time.
		if st.Text == "" {
			st.Text = s[:end+1]
		}
	default:
		t, ok := parseCtime(inner, loc)
		if !ok {
			return "", false
		}
		if st.Text == "" {
			st.Text = s[:end+1]
		}
		if t != nil {
			st.Time, st.TimeFrom = t, TimeFromStamp
		}
	}
	if len(rest) > 2 && rest[0] == '[' {
		if e := strings.IndexByte(rest, ']'); e > 1 && e < 16 && isCaller(rest[1:e]) {
			st.Caller = strings.TrimLeft(rest[1:e], " ")
			rest = rest[e+1:]
		}
	}
	return strings.TrimPrefix(rest, " "), true
}

// parseUptime reads "123.456789" (isUptime) as strconv.ParseFloat does,
// without its general path: the digits as one integer, divided by the
// power of ten of the fraction. Both are exact float64 values below 2^53
// and one division rounds correctly, so the result is ParseFloat's.
func parseUptime(s string) (float64, bool) {
	var n uint64
	frac := -1
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '.' {
			frac = 0
			continue
		}
		n = n*10 + uint64(c-'0')
		if frac >= 0 {
			frac++
		}
		if n >= 1<<53 || frac > len(pow10)-1 {
			v, err := strconv.ParseFloat(s, 64)
			return v, err == nil
		}
	}
	if frac < 0 {
		frac = 0
	}
	return float64(n) / pow10[frac], true
}

// pow10 are the powers of ten a stamp's fraction divides by, exactly.
var pow10 = [...]float64{1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15}

// isUptime reports whether s is "  123.456789".
func isUptime(s string) bool {
	i := 0
	for i < len(s) && s[i] == ' ' {
		i++
	}
	d := i
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	if i == d || i >= len(s) || s[i] != '.' {
		return false
	}
	i++
	f := i
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	return i == len(s) && i > f
}

// isRelative reports whether s is a dmesg reltime or delta stamp: "
// +0.000123", "<    0.000123>", "Jan16 21:33" or "Dec 4 18:13".
func isRelative(s string) bool {
	t := strings.TrimLeft(s, " ")
	switch {
	case strings.HasPrefix(t, "+"):
		return isUptime(t[1:])
	case strings.HasPrefix(t, "<") && strings.HasSuffix(t, ">"):
		return isUptime(t[1 : len(t)-1])
	}
	// "Jan16 21:33" / "Jan16 21:33:51"; util-linux prints the day with
	// strftime's %e, space-padded: "Dec 4 18:13".
	if len(t) < 11 || !isMonth3(t[:3]+" ") || t[5] != ' ' || !isDigit(t[3]) && t[3] != ' ' || !isDigit(t[4]) {
		return false
	}
	c := t[6:]
	return (len(c) == 5 || len(c) == 8) && c[2] == ':' && isDigit(c[0]) && isDigit(c[4])
}

// isCaller reports whether s is a printk caller id: "T1234", " T12", "C3".
func isCaller(s string) bool {
	s = strings.TrimLeft(s, " ")
	return len(s) >= 2 && (s[0] == 'T' || s[0] == 'C') && allDigits(s[1:])
}

// parseCtime parses a dmesg -T stamp "Di Aug 12 03:54:03 2025" (strftime
// "%a %b %e %H:%M:%S %Y" in the user's locale). It returns ok when the shape
// matches; the time is nil when the month name is not one it knows.
func parseCtime(s string, loc *time.Location) (*time.Time, bool) {
	f := strings.Fields(s)
	if len(f) < 4 {
		return nil, false
	}
	year, clock := f[len(f)-1], f[len(f)-2]
	if len(year) != 4 || !allDigits(year) || len(clock) != 8 || clock[2] != ':' || clock[5] != ':' {
		return nil, false
	}
	h, _ := strconv.Atoi(clock[0:2])
	mi, _ := strconv.Atoi(clock[3:5])
	se, _ := strconv.Atoi(clock[6:8])
	y, _ := strconv.Atoi(year)
	// "%a %b %e": the month and the day are the two fields before the clock.
	month := monthNumber(strings.TrimSuffix(f[len(f)-4], "."))
	day, _ := strconv.Atoi(f[len(f)-3])
	if month == 0 || day < 1 || day > 31 || h > 23 || mi > 59 || se > 60 {
		return nil, true
	}
	t := time.Date(y, time.Month(month), day, h, mi, se, 0, loc)
	return &t, true
}

// monthNames are abbreviated month names as strftime("%b") prints them in
// common locales (C/en, de, fr, es, it, pt, nl, sv/da/nb, pl, cs, ru, tr, fi).
var monthNames = map[string]int{}

func init() {
	lists := [][]string{
		{"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"},
		{"jan", "feb", "mär", "apr", "mai", "jun", "jul", "aug", "sep", "okt", "nov", "dez"},
		{"janv", "févr", "mars", "avr", "mai", "juin", "juil", "août", "sept", "oct", "nov", "déc"},
		{"ene", "feb", "mar", "abr", "may", "jun", "jul", "ago", "sept", "oct", "nov", "dic"},
		{"gen", "feb", "mar", "apr", "mag", "giu", "lug", "ago", "set", "ott", "nov", "dic"},
		{"jan", "fev", "mar", "abr", "mai", "jun", "jul", "ago", "set", "out", "nov", "dez"},
		{"jan", "feb", "mrt", "apr", "mei", "jun", "jul", "aug", "sep", "okt", "nov", "dec"},
		{"jan", "feb", "mar", "apr", "maj", "jun", "jul", "aug", "sep", "okt", "nov", "dec"},
		{"sty", "lut", "mar", "kwi", "maj", "cze", "lip", "sie", "wrz", "paź", "lis", "gru"},
		{"led", "úno", "bře", "dub", "kvě", "čvn", "čvc", "srp", "zář", "říj", "lis", "pro"},
		{"янв", "фев", "мар", "апр", "мая", "июн", "июл", "авг", "сен", "окт", "ноя", "дек"},
		{"oca", "şub", "mar", "nis", "may", "haz", "tem", "ağu", "eyl", "eki", "kas", "ara"},
		{"tammi", "helmi", "maalis", "huhti", "touko", "kesä", "heinä", "elo", "syys", "loka", "marras", "joulu"},
	}
	for _, l := range lists {
		for i, m := range l {
			if _, ok := monthNames[m]; !ok {
				monthNames[m] = i + 1
			}
		}
	}
	monthNames["mrz"] = 3 // de_AT/de_CH
	monthNames["maí"] = 5 // is
}

// monthNumber returns 1–12 for a month name in any locale it knows, 0 if not.
func monthNumber(w string) int {
	// CJK locales print the number followed by 月 (ja, zh) or 월 (ko).
	for _, suf := range []string{"月", "월"} {
		if n, ok := strings.CutSuffix(w, suf); ok && allDigits(n) {
			m, _ := strconv.Atoi(n)
			if m >= 1 && m <= 12 {
				return m
			}
			return 0
		}
	}
	return monthNames[strings.ToLower(w)]
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return true
}
