// Package oomlog reads and writes the kernel's OOM-killer reports: every log
// prefix (dmesg, dmesg -T, syslog, journalctl, raw /dev/kmsg, rsyslog #012
// escapes) and every report format from 2.6 to 6.18 (mm/oom_kill.c,
// mm/memcontrol.c, mm/show_mem.c printk formats). It does no I/O of its own:
// a Scanner reads an io.Reader, Format writes a Report back in the text a
// given kernel version would print.
//
// Values that the report does not print are nil (pointers), empty, or (in
// a task row) left out of Task.Has, never a made-up zero.
package oomlog

import (
	"encoding/json"
	"time"
)

// Stamp is where and when a log line was printed, as far as its prefix says.
type Stamp struct {
	// Text is the time stamp exactly as printed ("[ 8334.895293]",
	// "Jan 16 21:33:51", "2024-02-01T10:00:00+0100"), or "" when the line
	// carried none.
	Text string
	// Uptime is seconds since boot from a dmesg "[ s.us]" stamp or a
	// /dev/kmsg record's microseconds; nil when not printed.
	Uptime *float64
	// Time is the wall-clock time of the line, nil when the log does not
	// say; TimeFrom says how it is known. A syslog stamp without a year
	// gets a Time only when Options.ModTime gives the year.
	Time     *time.Time
	TimeFrom TimeSource
	// Host is the host name from a syslog or journal prefix, "" if none.
	Host string
	// Seq is the /dev/kmsg sequence number of the record, nil for other
	// sources.
	Seq *uint64
	// BootID is the journal's _BOOT_ID of the line, "" for other sources.
	BootID string
	// Caller is the printk caller id ("T1234" for a task, "C2" for a CPU
	// in interrupt context) from a "[ Tpid]" prefix or a /dev/kmsg
	// "caller=" field; "" when the log does not carry one.
	Caller string
}

// TimeSource says how Stamp.Time is known.
type TimeSource string

const (
	// TimeFromStamp: the prefix printed a full date (journal short-iso,
	// dmesg -T, dmesg --time-format iso, logread's ctime with the year).
	TimeFromStamp TimeSource = "stamp"
	// TimeFromJournal: the journal's __REALTIME_TIMESTAMP (journalctl -o
	// json or -o export), the time journald received the record.
	TimeFromJournal TimeSource = "journal"
	// TimeYearInferred: a syslog stamp without a year ("Jan 16
	// 21:33:51"), the year taken from the file's modification time
	// (Options.ModTime).
	TimeYearInferred TimeSource = "year_inferred"
)

// Trigger is the task that invoked the OOM killer (the "X invoked
// oom-killer: gfp_mask=…, order=…, oom_score_adj=…" line and the CPU/Pid line
// of the stack dump that follows it).
type Trigger struct {
	Comm string
	PID  *int // from "CPU: n PID: p Comm:" or "Pid: p, comm:"; nil if not printed
	// GFPMask is the mask as printed, without the decoded flag list: "0xcc0".
	GFPMask  string
	GFPFlags []string // decoded flags printed in parentheses, nil if none
	Order    *int
	// OOMScoreAdj is the trigger's oom_score_adj; nil on 2.6 kernels that
	// print only oomkilladj=.
	OOMScoreAdj *int
	// OOMAdj is the legacy oom_adj (-17…15) from a 2.6 header's "oom_adj="
	// or "oomkilladj="; nil on kernels that do not print it.
	OOMAdj *int
	// Nodemask and Cpuset/MemsAllowed as printed on ≤4.20 header and cpuset
	// lines; "" when absent.
	Nodemask    string
	Cpuset      string
	MemsAllowed string
}

// MemcgUsage is the memcg usage block of a memcg OOM
// ("memory: usage U kB, limit L kB, failcnt F" and the lines after it).
type MemcgUsage struct {
	UsageKB *int64
	LimitKB *int64
	Failcnt *int64
	// SwapUsageKB/SwapLimitKB/SwapFailcnt come from the v2 "swap:" line or
	// the v1 "memory+swap:" line (then they are memory+swap totals; see
	// SwapIsMemsw).
	SwapUsageKB *int64
	SwapLimitKB *int64
	SwapFailcnt *int64
	// SwapIsMemsw is true when the swap values come from the v1
	// "memory+swap:" line (memory and swap together).
	SwapIsMemsw bool
	// KmemUsageKB/KmemLimitKB are from the v1 "kmem:" line.
	KmemUsageKB *int64
	KmemLimitKB *int64
	// StatsPath is the path of the first "Memory cgroup stats for <path>"
	// line; Stats holds the key/value pairs printed after it (bytes on 5.3+,
	// "KB" values converted to bytes on older kernels).
	StatsPath string
	Stats     map[string]int64
}

// MemInfo is what the global Mem-Info block tells about the machine.
type MemInfo struct {
	RAMPages      *int64 // "N pages RAM"
	ReservedPages *int64 // "N pages reserved"
	SwapTotalKB   *int64 // "Total swap = NkB"
	SwapFreeKB    *int64 // "Free swap  = NkB"
	FreePages     *int64 // "free:N" in the global counter paragraph
}

// TableFormat names the task-table column set a report used.
type TableFormat string

// The task-table formats of spec/kernel.md §4.6, plus the 2.6/3.x ones.
const (
	TableUnknown  TableFormat = ""
	TableOOMAdj   TableFormat = "oom_adj"        // 2.6: [ pid ] uid tgid total_vm rss cpu oom_adj oom_score_adj name
	TableNrPtes   TableFormat = "nr_ptes"        // ≤4.14 (3.x has no nr_pmds)
	TablePgtables TableFormat = "pgtables_bytes" // 4.15–6.7
	TableRSSSplit TableFormat = "rss_split"      // 6.8+: rss_anon rss_file rss_shmem
)

// Task is one row of the task table. Sizes are in pages as printed, except
// PgtablesBytes (bytes on 4.15+; on older kernels it is computed from
// nr_ptes+nr_pmds pages × 4096 and PgtablesPages holds the printed count).
//
// The columns that not every kernel prints hold a value only when Has
// lists them; otherwise they are zero, which is then not a printed zero.
// A row has no pointers of its own but its name: a report's table is
// read, copied and scanned by the collector as one block of values.
type Task struct {
	PID           int
	UID           int // HasUID
	TGID          int // HasTGID
	TotalVMPages  int64
	RSSPages      int64
	RSSAnonPages  int64 // HasRSSAnon, 6.8+
	RSSFilePages  int64 // HasRSSFile, 6.8+
	RSSShmemPages int64 // HasRSSShmem, 6.8+
	PgtablesBytes int64 // HasPgtablesBytes
	PgtablesPages int64 // HasPgtablesPages: nr_ptes+nr_pmds on ≤4.14 tables
	SwapEnts      int64 // HasSwapEnts
	OOMScoreAdj   int
	Name          string
	// CPU and OOMAdj are the "cpu" and "oom_adj" columns of 2.6 tables
	// (HasCPU, HasOOMAdj).
	CPU    int
	OOMAdj int
	// Has lists the optional columns the row printed.
	Has TaskColumns
}

// TaskColumns is a set of a task row's optional columns.
type TaskColumns uint16

// The optional columns of a task row.
const (
	HasUID TaskColumns = 1 << iota
	HasTGID
	HasRSSAnon
	HasRSSFile
	HasRSSShmem
	HasPgtablesBytes
	HasPgtablesPages
	HasSwapEnts
	HasCPU
	HasOOMAdj
)

// MarshalJSON writes a row as it read before Has: a column the row did not
// print is null, not a made-up zero.
func (t Task) MarshalJSON() ([]byte, error) {
	opt := func(c TaskColumns, v int64) *int64 {
		if t.Has&c == 0 {
			return nil
		}
		return &v
	}
	return json.Marshal(struct {
		PID           int
		UID           *int64
		TGID          *int64
		TotalVMPages  int64
		RSSPages      int64
		RSSAnonPages  *int64
		RSSFilePages  *int64
		RSSShmemPages *int64
		PgtablesBytes *int64
		PgtablesPages *int64
		SwapEnts      *int64
		OOMScoreAdj   int
		Name          string
		CPU           *int64
		OOMAdj        *int64
	}{
		t.PID, opt(HasUID, int64(t.UID)), opt(HasTGID, int64(t.TGID)), t.TotalVMPages, t.RSSPages,
		opt(HasRSSAnon, t.RSSAnonPages), opt(HasRSSFile, t.RSSFilePages), opt(HasRSSShmem, t.RSSShmemPages),
		opt(HasPgtablesBytes, t.PgtablesBytes), opt(HasPgtablesPages, t.PgtablesPages), opt(HasSwapEnts, t.SwapEnts),
		t.OOMScoreAdj, t.Name, opt(HasCPU, int64(t.CPU)), opt(HasOOMAdj, int64(t.OOMAdj)),
	})
}

// Victim is one "Killed process" line (and its oom_reaper line, when seen).
type Victim struct {
	PID        int
	Comm       string
	UID        *int
	TotalVMKB  *int64
	AnonRSSKB  *int64
	FileRSSKB  *int64
	ShmemRSSKB *int64
	PgtablesKB *int64
	// OOMScoreAdj is from "oom_score_adj:N" on the Killed line (5.4+).
	OOMScoreAdj *int
	// Reaped is true once an "oom_reaper: reaped process PID" line for this
	// victim was seen; ReapFailed when "unable to reap pid:PID" was.
	Reaped     bool
	ReapFailed bool
	// ReapedAnonRSSKB/ReapedFileRSSKB/ReapedShmemRSSKB are the "now
	// anon-rss:…kB, file-rss:…kB, shmem-rss:…kB" values of the reaper line.
	ReapedAnonRSSKB  *int64
	ReapedFileRSSKB  *int64
	ReapedShmemRSSKB *int64
	// GroupKill is true for victims killed because of memory.oom.group
	// (every Killed line after the "Tasks in … are going to be killed" line).
	GroupKill bool
	// Message is the prefix the kernel chose: "Out of memory", "Memory
	// cgroup out of memory", "Out of memory (oom_kill_allocating_task)",
	// or "" for a bare "Killed process" line.
	Message string
	// Exiting is true for "OOM victim N (comm) is already exiting. Skip
	// killing the task" (5.10+).
	Exiting bool
	// FromSummary is set when the victim is known only from the
	// oom-kill: summary line (task=, pid=, uid=): its Killed line is not
	// in the log (an excerpt, a grep for oom-kill, a journal that dropped
	// a line). Comm, PID and UID are then all that is known.
	FromSummary bool
	// Cut is set when the Killed line was cut short: inside the comm
	// (Comm is then ""), or inside its sizes.
	Cut bool
}

// Report is one OOM-killer invocation as printed in a log: from the
// "invoked oom-killer" header (or, when the header was not printed or not
// kept, from the first line that belongs to it) to its last Killed line and
// oom_reaper lines.
type Report struct {
	// Source line numbers (1-based) of the first and last line of the
	// report in its input.
	FirstLine, LastLine int
	Stamp               Stamp // of the first line

	// KernelVersion is the release from the CPU/Pid line ("5.4.0-1059-azure"),
	// "" when it is not known.
	KernelVersion string
	// KernelVersionInferred is set when the report printed no release of
	// its own and KernelVersion comes from another line of the same log,
	// host and boot: another stack dump banner (before or after the
	// report) or the boot's "Linux version" line.
	KernelVersionInferred bool
	Trigger               *Trigger // nil when the header was not seen

	// From the "oom-kill:" summary line (5.0+), or from the v1
	// "Task in <task> killed as a result of limit of <oom>" line.
	Constraint string // "CONSTRAINT_MEMCG", "CONSTRAINT_NONE", … or ""
	OOMMemcg   string // the memcg whose limit was hit; "" for global OOMs
	TaskMemcg  string // the victim's memcg; "" when not printed
	GlobalOOM  bool   // "global_oom" token, or a Mem-Info block / "Out of memory:" kill
	// Summary is the victim named by the oom-kill: line (task=, pid=, uid=),
	// nil when there was no summary line.
	SummaryComm string
	SummaryPID  *int
	SummaryUID  *int

	Memcg   *MemcgUsage // nil unless a memcg usage block was printed
	MemInfo *MemInfo    // nil unless a Mem-Info block was printed

	// Tasks is the task table in printed order, nil when none was printed
	// (an empty non-nil slice means the header was printed with no rows).
	Tasks       []Task
	TableFormat TableFormat

	// ChosenScore is the "score S" of a ≤5.0 "Kill process P (comm) score S
	// or sacrifice child" line; ChosenPID/ChosenComm name that process
	// (the kernel may then kill a child instead).
	ChosenScore *int
	ChosenPID   *int
	ChosenComm  string

	Victims []Victim
	// GroupKillPath is the path of "Tasks in <path> are going to be killed
	// due to memory.oom.group set", "" when absent.
	GroupKillPath string
	// RepeatedKills counts Killed lines for a process Victims already
	// lists: the memory.oom.group walk does not skip the victim just
	// killed, and kills it again while its memory is still mapped. Each is
	// a kill to the kernel's oom_kill counters (/proc/vmstat, the memcg's
	// memory.events), so counters exceed len(Victims) by this much.
	RepeatedKills int

	// NoKillable is set by "Out of memory and no killable processes...".
	NoKillable bool
	// PanicOnOOM is 1 for "Out of memory: system-wide panic_on_oom is
	// enabled", 2 for "compulsory panic_on_oom is enabled" (the value of
	// vm.panic_on_oom that the message implies), 0 when neither was printed.
	PanicOnOOM int
	// Panic is the text of a "Kernel panic - not syncing: …" line that
	// ended the report, "" if none.
	Panic string
	// Truncated is set when the report stops before its kill line (the log
	// ended, a panic cut it short, or another report began).
	Truncated bool
	// CutLines counts lines of the report that end before their grammar
	// does (a summary cut after mems_allowed=, a header cut before
	// gfp_mask=, a Killed line cut in its comm, a line over
	// Options.MaxLineBytes); the fields up to the cut are kept.
	CutLines int

	// Warnings are things the parser noticed and could not make sense of:
	// a malformed line, an overlong line cut short, a kill line without the
	// fields it should carry. They go into the event's warnings.
	Warnings []string
}
