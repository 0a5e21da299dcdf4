package explain

import (
	"bytes"
	"encoding/json"
	"math"
	"strconv"
	"unicode/utf8"
)

// This file writes an Event's JSON by hand: encoding/json's reflection
// took a third of explaining a report (BENCHMARKS.md), and an agent writes
// an event per kill of a storm. The output is byte for byte what
// encoding/json writes (TestAppendJSONMatchesEncodingJSON, FuzzExplain
// hold it): field names and order from the struct tags, null for nil,
// strings escaped as encoding/json escapes them without HTML escaping.
// The Kubernetes object, whose shape other code owns, goes through
// encoding/json. (A MarshalJSON method would not help: encoding/json
// checks and compacts what one returns, which costs more than it saves.)

// AppendJSON appends the event's JSON object (no newline) to b.
func (e *Event) AppendJSON(b []byte) []byte {
	b = append(b, `{"schema":`...)
	b = appendString(b, e.Schema)
	b = append(b, `,"source":{"file":`...)
	b = appendString(b, e.Source.File)
	b = appendKey(b, "line")
	b = appendIntp(b, e.Source.Line)
	b = appendKey(b, "last_line")
	b = appendIntp(b, e.Source.LastLine)
	b = append(b, '}')
	b = appendKey(b, "time")
	b = appendStringp(b, e.Time)
	b = appendKey(b, "time_from")
	b = appendStringp(b, (*string)(e.TimeFrom))
	b = appendKey(b, "time_text")
	b = appendStringp(b, e.TimeText)
	b = appendKey(b, "uptime_seconds")
	if e.UptimeSeconds == nil {
		b = append(b, "null"...)
	} else {
		b = appendFloat(b, *e.UptimeSeconds)
	}
	b = appendKey(b, "host")
	b = appendStringp(b, e.Host)
	b = appendKey(b, "boot_id")
	b = appendStringp(b, e.BootID)
	b = appendKey(b, "kmsg_seq")
	if e.KmsgSeq == nil {
		b = append(b, "null"...)
	} else {
		b = strconv.AppendUint(b, *e.KmsgSeq, 10)
	}
	b = appendKey(b, "kernel_version")
	b = appendStringp(b, e.KernelVersion)
	b = appendKey(b, "kernel_version_from")
	b = appendStringp(b, (*string)(e.KernelVersionFrom))
	b = appendKey(b, "trigger")
	b = e.Trigger.appendJSON(b)
	b = appendKey(b, "constraint")
	b = appendStringp(b, e.Constraint)
	b = appendKey(b, "oom_kind")
	b = appendStringp(b, (*string)(e.OOMKind))
	b = appendKey(b, "oom_memcg")
	b = appendStringp(b, e.OOMMemcg)
	b = appendKey(b, "task_memcg")
	b = appendStringp(b, e.TaskMemcg)
	b = appendKey(b, "cgroup_version")
	b = appendStringp(b, e.CgroupVersion)
	b = appendKey(b, "memcg")
	b = e.Memcg.appendJSON(b)
	b = appendKey(b, "mem_info")
	b = e.MemInfo.appendJSON(b)
	b = appendKey(b, "tasks")
	if e.Tasks == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i := range e.Tasks {
			if i > 0 {
				b = append(b, ',')
			}
			b = e.Tasks[i].appendJSON(b)
		}
		b = append(b, ']')
	}
	b = appendKey(b, "victims")
	if e.Victims == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i := range e.Victims {
			if i > 0 {
				b = append(b, ',')
			}
			b = e.Victims[i].appendJSON(b)
		}
		b = append(b, ']')
	}
	b = appendKey(b, "group_kill_path")
	b = appendStringp(b, e.GroupKillPath)
	b = appendKey(b, "no_killable")
	b = strconv.AppendBool(b, e.NoKillable)
	b = appendKey(b, "panic")
	b = appendStringp(b, e.Panic)
	b = appendKey(b, "truncated")
	b = strconv.AppendBool(b, e.Truncated)
	b = appendKey(b, "kubernetes")
	b = appendViaEncodingJSON(b, e.Kubernetes)
	b = appendKey(b, "analysis")
	b = e.Analysis.appendJSON(b)
	b = appendKey(b, "warnings")
	b = appendStrings(b, e.Warnings)
	return append(b, '}')
}

func (t *Trigger) appendJSON(b []byte) []byte {
	if t == nil {
		return append(b, "null"...)
	}
	b = append(b, `{"comm":`...)
	b = appendStringp(b, t.Comm)
	b = appendKey(b, "pid")
	b = appendIntp(b, t.PID)
	b = appendKey(b, "gfp_mask")
	b = appendStringp(b, t.GFPMask)
	b = appendKey(b, "gfp_flags")
	b = appendStrings(b, t.GFPFlags)
	b = appendKey(b, "order")
	b = appendIntp(b, t.Order)
	b = appendKey(b, "oom_score_adj")
	b = appendIntp(b, t.OOMScoreAdj)
	return append(b, '}')
}

func (m *Memcg) appendJSON(b []byte) []byte {
	if m == nil {
		return append(b, "null"...)
	}
	b = append(b, `{"usage_kb":`...)
	b = appendInt64p(b, m.UsageKB)
	b = appendKey(b, "limit_kb")
	b = appendInt64p(b, m.LimitKB)
	b = appendKey(b, "failcnt")
	b = appendInt64p(b, m.Failcnt)
	b = appendKey(b, "swap_usage_kb")
	b = appendInt64p(b, m.SwapUsageKB)
	b = appendKey(b, "swap_limit_kb")
	b = appendInt64p(b, m.SwapLimitKB)
	b = appendKey(b, "swap_is_memsw")
	b = strconv.AppendBool(b, m.SwapIsMemsw)
	b = appendKey(b, "kmem_usage_kb")
	b = appendInt64p(b, m.KmemUsageKB)
	b = appendKey(b, "stats_path")
	b = appendStringp(b, m.StatsPath)
	return append(b, '}')
}

func (m *MemInfo) appendJSON(b []byte) []byte {
	if m == nil {
		return append(b, "null"...)
	}
	b = append(b, `{"ram_pages":`...)
	b = appendInt64p(b, m.RAMPages)
	b = appendKey(b, "reserved_pages")
	b = appendInt64p(b, m.ReservedPages)
	b = appendKey(b, "swap_total_kb")
	b = appendInt64p(b, m.SwapTotalKB)
	b = appendKey(b, "swap_free_kb")
	b = appendInt64p(b, m.SwapFreeKB)
	b = appendKey(b, "free_pages")
	b = appendInt64p(b, m.FreePages)
	return append(b, '}')
}

func (t *Task) appendJSON(b []byte) []byte {
	b = append(b, `{"pid":`...)
	b = appendInt(b, int64(t.PID))
	b = appendKey(b, "uid")
	b = appendIntp(b, t.UID)
	b = appendKey(b, "tgid")
	b = appendIntp(b, t.TGID)
	b = appendKey(b, "total_vm_pages")
	b = appendInt(b, t.TotalVMPages)
	b = appendKey(b, "rss_pages")
	b = appendInt(b, t.RSSPages)
	b = appendKey(b, "rss_anon_pages")
	b = appendInt64p(b, t.RSSAnonPages)
	b = appendKey(b, "rss_file_pages")
	b = appendInt64p(b, t.RSSFilePages)
	b = appendKey(b, "rss_shmem_pages")
	b = appendInt64p(b, t.RSSShmemPages)
	b = appendKey(b, "pgtables_bytes")
	b = appendInt64p(b, t.PgtablesBytes)
	b = appendKey(b, "swapents")
	b = appendInt64p(b, t.SwapEnts)
	b = appendKey(b, "oom_score_adj")
	b = appendInt(b, int64(t.OOMScoreAdj))
	b = appendKey(b, "name")
	b = appendString(b, t.Name)
	return append(b, '}')
}

func (v *Victim) appendJSON(b []byte) []byte {
	b = append(b, `{"pid":`...)
	b = appendInt(b, int64(v.PID))
	b = appendKey(b, "comm")
	b = appendString(b, v.Comm)
	b = appendKey(b, "total_vm_kb")
	b = appendInt64p(b, v.TotalVMKB)
	b = appendKey(b, "anon_rss_kb")
	b = appendInt64p(b, v.AnonRSSKB)
	b = appendKey(b, "file_rss_kb")
	b = appendInt64p(b, v.FileRSSKB)
	b = appendKey(b, "shmem_rss_kb")
	b = appendInt64p(b, v.ShmemRSSKB)
	b = appendKey(b, "uid")
	b = appendIntp(b, v.UID)
	b = appendKey(b, "pgtables_kb")
	b = appendInt64p(b, v.PgtablesKB)
	b = appendKey(b, "oom_score_adj")
	b = appendIntp(b, v.OOMScoreAdj)
	b = appendKey(b, "reaped")
	b = strconv.AppendBool(b, v.Reaped)
	b = appendKey(b, "reap_failed")
	b = strconv.AppendBool(b, v.ReapFailed)
	b = appendKey(b, "group_kill")
	b = strconv.AppendBool(b, v.GroupKill)
	b = appendKey(b, "message")
	b = appendStringp(b, v.Message)
	b = appendKey(b, "from")
	b = appendString(b, string(v.From))
	return append(b, '}')
}

func (a *Analysis) appendJSON(b []byte) []byte {
	b = append(b, `{"rules":`...)
	b = appendStringp(b, a.Rules)
	b = appendKey(b, "rules_kernels")
	b = appendStringp(b, a.RulesKernels)
	b = appendKey(b, "rules_from")
	b = appendString(b, string(a.RulesFrom))
	b = appendKey(b, "assumed_kernel")
	b = appendStringp(b, a.AssumedKernel)
	b = appendKey(b, "total_pages")
	b = appendInt64p(b, a.TotalPages)
	b = appendKey(b, "total_pages_from")
	b = appendStringp(b, (*string)(a.TotalPagesFrom))
	b = appendKey(b, "ranking")
	if a.Ranking == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i, r := range a.Ranking {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"pid":`...)
			b = appendInt(b, int64(r.PID))
			b = appendKey(b, "name")
			b = appendString(b, r.Name)
			b = appendKey(b, "points")
			b = appendInt(b, r.Points)
			b = appendKey(b, "raw_points")
			b = appendInt(b, r.RawPoints)
			b = appendKey(b, "oom_score_adj")
			b = appendInt(b, int64(r.OOMScoreAdj))
			b = appendKey(b, "rss_pages")
			b = appendInt(b, r.RSSPages)
			b = appendKey(b, "rank")
			b = appendInt(b, int64(r.Rank))
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	b = appendKey(b, "predicted_victim_pid")
	b = appendIntp(b, a.PredictedVictimPID)
	b = appendKey(b, "kernel_victim_pid")
	b = appendIntp(b, a.KernelVictimPID)
	b = appendKey(b, "agrees")
	b = appendBoolp(b, a.Agrees)
	b = appendKey(b, "decided_by")
	b = appendStringp(b, (*string)(a.DecidedBy))
	b = appendKey(b, "clamped")
	b = appendInt(b, int64(a.Clamped))
	b = appendKey(b, "tied_with")
	b = appendInt(b, int64(a.TiedWith))
	b = appendKey(b, "by_rules")
	if a.ByRules == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i, r := range a.ByRules {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"rules":`...)
			b = appendString(b, r.Rules)
			b = appendKey(b, "kernels")
			b = appendString(b, r.Kernels)
			b = appendKey(b, "predicted_victim_pid")
			b = appendIntp(b, r.PredictedVictimPID)
			b = appendKey(b, "agrees")
			b = appendBoolp(b, r.Agrees)
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	b = appendKey(b, "reasons")
	b = appendStrings(b, a.Reasons)
	b = appendKey(b, "summary")
	b = appendString(b, a.Summary)
	return append(b, '}')
}

// appendViaEncodingJSON appends v as encoding/json writes it without
// HTML escaping, as the CLI's encoder does.
func appendViaEncodingJSON(b []byte, v any) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return append(b, "null"...)
	}
	return append(b, bytes.TrimSuffix(buf.Bytes(), []byte("\n"))...)
}

func appendKey(b []byte, k string) []byte {
	b = append(b, ',', '"')
	b = append(b, k...)
	return append(b, '"', ':')
}

// appendInt is strconv.AppendInt(b, n, 10) without its scratch buffer
// and copy: a report's JSON is mostly small numbers, a dozen per task
// row.
func appendInt(b []byte, n int64) []byte {
	if 0 <= n && n < 10 {
		return append(b, byte('0'+n))
	}
	u := uint64(n)
	if n < 0 {
		b = append(b, '-')
		u = -u
	}
	var d [20]byte
	i := len(d)
	for u >= 10 {
		q := u / 10
		i--
		d[i] = byte('0' + u - q*10)
		u = q
	}
	i--
	d[i] = byte('0' + u)
	return append(b, d[i:]...)
}

func appendIntp(b []byte, p *int) []byte {
	if p == nil {
		return append(b, "null"...)
	}
	return appendInt(b, int64(*p))
}

func appendInt64p(b []byte, p *int64) []byte {
	if p == nil {
		return append(b, "null"...)
	}
	return appendInt(b, *p)
}

func appendBoolp(b []byte, p *bool) []byte {
	if p == nil {
		return append(b, "null"...)
	}
	return strconv.AppendBool(b, *p)
}

func appendStringp(b []byte, p *string) []byte {
	if p == nil {
		return append(b, "null"...)
	}
	return appendString(b, *p)
}

func appendStrings(b []byte, ss []string) []byte {
	if ss == nil {
		return append(b, "null"...)
	}
	b = append(b, '[')
	for i, s := range ss {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, s)
	}
	return append(b, ']')
}

// appendFloat writes f as encoding/json does: the shortest decimal, in
// exponent form outside [1e-6, 1e21).
func appendFloat(b []byte, f float64) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(b, "null"...) // encoding/json refuses these; a stamp never holds one
	}
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// "e-09" → "e-9", as encoding/json writes it.
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}

const hexDigits = "0123456789abcdef"

// appendString writes s as a JSON string the way encoding/json does with
// HTML escaping off: \" \\ \b \f \n \r \t, other control bytes as \u00XX,
// invalid UTF-8 as \ufffd, U+2028 and U+2029 escaped.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
