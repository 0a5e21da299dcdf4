// Package lab runs the article's experiments on the real kernel: each
// scenario creates a throw-away memory cgroup (oomkit-lab-<random>, under
// the caller's own memcg, v1 or v2), starts `oomkit alloc` processes in it
// with the sizes, order and oom_score_adj the scenario names, waits for the
// OOM killer, reads the kernel's own report from /dev/kmsg (only records
// after the position noted before starting), parses and explains it, and
// sets what the kernel did next to what internal/mm predicts — from the
// report's task table and from the scenario's setup before it ran.
//
// Safety (DESIGN.md): nothing allocates outside a cgroup the lab created
// with a limit; the limit may not exceed half of MemAvailable; cgroups are
// removed at the end, on SIGINT/SIGTERM (context cancellation), and by the
// next run when a crash left them (an flock tells live from dead).
package lab

import (
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/oomkit/oomkit/internal/bytesize"
	"github.com/oomkit/oomkit/internal/cgroup"
	"github.com/oomkit/oomkit/internal/explain"
	"github.com/oomkit/oomkit/internal/mm"
	"github.com/oomkit/oomkit/internal/oomlog"
)

// Schema is the JSON schema name of a Result.
const Schema = "oomkit.lab/v1"

// DefaultLimitBytes is the memcg limit of a scenario when none is given:
// small enough that the whole suite runs in seconds, large enough that the
// Go runtime's own few MiB do not decide the outcome.
const DefaultLimitBytes = 128 * bytesize.MiB

// MinLimitBytes is the smallest --limit the scenarios' proportions work
// with.
const MinLimitBytes = 32 * bytesize.MiB

// Config is one lab run.
type Config struct {
	// LimitBytes is the scenarios' memcg limit. 0 means DefaultLimitBytes,
	// or more when an allocator's own starting RSS needs it (Prepare).
	LimitBytes int64
	// Keep leaves each scenario's cgroup in place (its processes killed)
	// for inspection; the next run or `oomkit lab clean` removes it.
	Keep bool
	// Exe and ExeArgs start the allocator: Exe ExeArgs… alloc FLAGS…
	// Exe defaults to os.Executable().
	Exe     string
	ExeArgs []string
	// Env is added to the allocators' environment.
	Env []string
	// Log receives one progress line per scenario step (nil: none).
	Log io.Writer
	// Host is the machine (CurrentHost() if zero).
	Host *Host

	// runtimeRSS is what an allocator has resident before its first
	// block, measured by Prepare.
	runtimeRSS int64
}

// Victim is a process the kernel killed, or the model says it kills.
type Victim struct {
	PID  *int    `json:"pid"`
	Comm *string `json:"comm"`
	// Role is the process's part in the scenario ("main", "helper"), null
	// when the process is not one the lab started.
	Role *string `json:"role"`
}

// OtherKernel is what another kernel era would have chosen.
type OtherKernel struct {
	// Kernels names the range ("5.3–5.8/5.4.0–5.4.143").
	Kernels string `json:"kernels"`
	Rules   string `json:"rules"`
	// FromReport is the choice from the same task table, per report;
	// FromSetup the choice from the scenario's plan.
	FromReport []Victim `json:"from_report"`
	FromSetup  []string `json:"from_setup"`
	// IntendedAdj is true when FromReport put the oom_score_adj the
	// scenario intended back into the table because this host could not
	// set it (see the result's notes).
	IntendedAdj bool `json:"intended_adj"`
}

// Check is one scenario-specific assertion about what happened.
type Check struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
}

// Result is one scenario's outcome, the oomkit.lab/v1 object.
type Result struct {
	Schema        string  `json:"schema"`
	Scenario      string  `json:"scenario"`
	Title         string  `json:"title"`
	KernelVersion string  `json:"kernel_version"`
	CgroupVersion *string `json:"cgroup_version"`
	LimitBytes    *int64  `json:"limit_bytes"`
	Cgroup        *string `json:"cgroup"`
	// KernelVictims are the processes the kernel's reports name as killed,
	// in order.
	KernelVictims []Victim `json:"kernel_victims"`
	// PredictedVictims is internal/mm's choice from each report's own task
	// table under this kernel's rules.
	PredictedVictims []Victim `json:"predicted_victims"`
	// ExpectedVictims are the roles the model chose from the scenario's
	// setup, before anything ran.
	ExpectedVictims []string `json:"expected_victims"`
	// OtherKernels are the choices of the other rule sets.
	OtherKernels []OtherKernel `json:"other_kernels"`
	Checks       []Check       `json:"checks"`
	// Agrees is true when the kernel's victims are the predicted ones,
	// they have the expected roles, and every check passed.
	Agrees bool `json:"agrees"`
	// OOMKillDelta is the change of the cgroup's own oom_kill counter (v1
	// memory.oom_control, v2 memory.events) over the scenario.
	OOMKillDelta *int64 `json:"oom_kill_delta"`
	// Event is the first report, parsed and explained (oomkit.event/v1);
	// LaterEvents the reports after it.
	Event           *explain.Event  `json:"event"`
	LaterEvents     []explain.Event `json:"later_events"`
	DurationSeconds float64         `json:"duration_seconds"`
	// Skipped says why the scenario did not run here, null when it ran.
	Skipped *string `json:"skipped"`
	// Error says why a scenario that ran could not finish, null otherwise.
	Error   *string `json:"error"`
	Summary string  `json:"summary"`
	// Notes say what the lab had to change on this host (e.g. adj 0
	// instead of -997 without CAP_SYS_RESOURCE) and what that means.
	Notes []string `json:"notes"`
}

// Scenario is one named experiment.
type Scenario struct {
	Name  string
	Title string
	// Needs is "v2" for scenarios that only mean something on cgroup v2,
	// "vm" for those that exhaust the whole machine's memory and so run
	// only in a throw-away VM (`lab run --vm`; its cgroups are v2).
	Needs string
	run   func(*run) error
}

// Scenarios returns every scenario in suite order.
func Scenarios() []Scenario { return slices.Clone(scenarios) }

// Lookup finds a scenario by name.
func Lookup(name string) (Scenario, bool) {
	for _, s := range scenarios {
		if s.Name == name {
			return s, true
		}
	}
	return Scenario{}, false
}

// Prepare fills cfg's defaults, checks the host, and removes what crashed
// runs left. Call it once before Run.
func Prepare(cfg *Config) error {
	chosen := cfg.LimitBytes != 0
	if !chosen {
		cfg.LimitBytes = DefaultLimitBytes
	}
	if cfg.LimitBytes < MinLimitBytes {
		return fmt.Errorf("--limit %s is too small: the scenarios need at least %s", bytesize.Format(cfg.LimitBytes), bytesize.Format(MinLimitBytes))
	}
	if cfg.Host == nil {
		h := CurrentHost()
		cfg.Host = &h
	}
	if err := CheckHost(*cfg.Host, cfg.LimitBytes); err != nil {
		return err
	}
	if cfg.Exe == "" {
		exe, err := os.Executable()
		if err != nil {
			return fmt.Errorf("find oomkit's own executable to start allocators: %w", err)
		}
		cfg.Exe = exe
	}
	removed, err := CleanStale(*cfg.Host)
	for _, p := range removed {
		cfg.logf("removed %s, left behind by an earlier run that did not finish", p)
	}
	if err != nil {
		return err
	}
	if cfg.runtimeRSS, err = measureRuntimeRSS(*cfg); err != nil {
		return err
	}
	cfg.logf("an allocator has %s resident before its first block (the Go runtime; charged where it started, counted in its RSS)", bytesize.Format(cfg.runtimeRSS))
	if l := limitFor(cfg.runtimeRSS); !chosen && l > cfg.LimitBytes {
		// The scenarios' proportions hold while the runtime's pages are at
		// most a quarter of the limit (twist-1, twist-2); a larger binary
		// (or -race) needs a larger default, not a failed run.
		if err := CheckHost(*cfg.Host, l); err != nil {
			return fmt.Errorf("%w (an allocator starts with %s resident, so the scenarios need a %s limit)", err, bytesize.Format(cfg.runtimeRSS), bytesize.Format(l))
		}
		cfg.logf("the limit is %s, not %s: the scenarios need the allocators' own %s to be at most a fifth of it", bytesize.Format(l), bytesize.Format(cfg.LimitBytes), bytesize.Format(cfg.runtimeRSS))
		cfg.LimitBytes = l
	}
	return nil
}

func (c *Config) logf(format string, args ...any) {
	if c.Log != nil {
		fmt.Fprintf(c.Log, format+"\n", args...)
	}
}

// Run runs one scenario and returns its result. A cancelled ctx (SIGINT)
// stops it, removes its cgroup and returns ctx's cause as the error.
func Run(ctx context.Context, cfg Config, sc Scenario) (Result, error) {
	h := *cfg.Host
	res := newResult(h, sc)
	if sc.Needs == "v2" && h.Layout.Memory != cgroup.V2 {
		res.Skipped = ptr(fmt.Sprintf("needs the cgroup v2 memory controller (memory.oom.group, memory.high, memory.events); this host has the memory controller on %s — run it in a v2 VM with --vm", h.Layout.Memory))
		res.Summary = "skipped: " + *res.Skipped
		return res, nil
	}
	if sc.Needs == "vm" && !h.ThrowawayVM {
		res.Skipped = ptr("runs only in a throw-away VM (--vm): it makes the whole machine run out of memory, which the lab never does to a real host")
		res.Summary = "skipped: " + *res.Skipped
		return res, nil
	}
	v, err := mm.ParseVersion(h.KernelRelease)
	if err != nil {
		return res, err
	}
	started := time.Now()
	var retries []string
	for attempt := 1; ; attempt++ {
		res = newResult(h, sc)
		r := &run{ctx: ctx, cfg: cfg, host: h, version: v, rules: mm.RulesFor(v), res: &res, limit: cfg.LimitBytes}
		res.LimitBytes = ptr(cfg.LimitBytes)
		err = r.setup()
		if err == nil {
			err = sc.run(r)
		}
		limited := r.rateLimited()
		r.teardown()
		if ctxErr := context.Cause(ctx); ctxErr != nil {
			return res, ctxErr
		}
		if limited && attempt == maxAttempts {
			res.Agrees = false
			res.Checks = append(res.Checks, Check{Name: "the kernel printed its full report", OK: false,
				Detail: fmt.Sprintf("rate-limited on all %d attempts: many OOM kills elsewhere on this machine? run the scenario again later", maxAttempts)})
		}
		if !limited || attempt == maxAttempts {
			break
		}
		// A report without its task table cannot be checked against the
		// model; the limit is system-wide (other OOMs on the machine count)
		// and resets 5 s after its window began.
		retries = append(retries, fmt.Sprintf("attempt %d: the kernel rate-limited its OOM report (at most 10 full reports per 5 s, system-wide) and printed only the Killed line; the scenario ran again after %s", attempt, rateLimitWait))
		select {
		case <-ctx.Done():
			return res, context.Cause(ctx)
		case <-time.After(rateLimitWait):
		}
	}
	res.Notes = append(append([]string{}, retries...), res.Notes...)
	res.DurationSeconds = math.Round(time.Since(started).Seconds()*1000) / 1000
	if err != nil {
		res.Error = ptr(err.Error())
		res.Agrees = false
		res.Summary = "error: " + err.Error()
	}
	return res, nil
}

// A scenario whose report the kernel rate-limited runs again, up to
// maxAttempts times, after rateLimitWait (oom_rs: DEFAULT_RATELIMIT_INTERVAL
// 5 s, burst 10, mm/oom_kill.c).
const (
	maxAttempts   = 3
	rateLimitWait = 5500 * time.Millisecond
)

func newResult(h Host, sc Scenario) Result {
	res := Result{
		Schema: Schema, Scenario: sc.Name, Title: sc.Title, KernelVersion: h.KernelRelease,
		KernelVictims: []Victim{}, PredictedVictims: []Victim{}, ExpectedVictims: []string{},
		OtherKernels: []OtherKernel{}, Checks: []Check{}, LaterEvents: []explain.Event{}, Notes: []string{},
	}
	if h.Layout.Memory != "" {
		res.CgroupVersion = ptr(string(h.Layout.Memory))
	}
	return res
}

// rateLimited reports whether one of the scenario's kills was logged
// without its report.
func (r *run) rateLimited() bool {
	if r.kernel == nil || r.root == nil {
		return false
	}
	for _, rep := range r.reports() {
		if rateLimited(rep) {
			return true
		}
	}
	return false
}

// run is one scenario's execution state.
type run struct {
	ctx      context.Context
	cfg      Config
	host     Host
	version  mm.Version
	rules    mm.Rules
	res      *Result
	limit    int64
	root     *cgroup.Memcg
	lock     *os.File
	memcgs   []*cgroup.Memcg // every memcg created, root first
	children []*child
	kernel   *kernelLog
	killsAt0 int64
	plan     []round
	// nodePages is the OOM killer's totalpages for a global OOM (RAM +
	// swap), set by scenarios that exhaust the machine; 0 otherwise.
	nodePages int64
	// intended is the oom_score_adj each role was meant to have, where the
	// host could not set it.
	intended map[string]int
}

// adj returns the oom_score_adj to give role: intended, or 0 when it is
// negative and this host cannot lower oom_score_adj (no CAP_SYS_RESOURCE).
func (r *run) adj(role string, intended int) int {
	if intended >= 0 || r.host.CanLowerAdj {
		return intended
	}
	if r.intended == nil {
		r.intended = map[string]int{}
		r.res.Notes = append(r.res.Notes, "this host does not let oomkit lower oom_score_adj (no CAP_SYS_RESOURCE), so processes meant to run at a negative adj run at 0; the other kernels' choices from the report are computed with the intended adj put back into the same task table")
	}
	r.intended[role] = intended
	return 0
}

// effAdj is the adj role really runs with.
func (r *run) effAdj(role string, intended int) int {
	if _, ok := r.intended[role]; ok {
		return 0
	}
	return intended
}

func (r *run) setup() error {
	name := cgroup.RandomName(Prefix)
	lf, err := lockCgroup(name)
	if err != nil {
		return err
	}
	r.lock = lf
	m, err := cgroup.Create(r.host.Layout, r.host.OwnMemcg, name)
	if err != nil {
		return err
	}
	r.root = m
	r.memcgs = append(r.memcgs, m)
	r.res.Cgroup = ptr(m.Path)
	if err := m.SetLimit(r.limit); err != nil {
		return err
	}
	r.cfg.logf("%s: cgroup %s, limit %s", r.res.Scenario, m.Path, bytesize.Format(r.limit))
	kl, err := openKernelLog()
	if err != nil {
		return err
	}
	r.kernel = kl
	r.killsAt0 = r.oomKills()
	return nil
}

func (r *run) teardown() {
	for _, c := range r.children {
		c.stop()
	}
	if r.root != nil && !r.cfg.Keep {
		if err := r.root.Remove(); err != nil {
			r.cfg.logf("%s: cleanup: %v", r.res.Scenario, err)
		}
	}
	if r.kernel != nil {
		r.kernel.close()
	}
	if !r.cfg.Keep {
		unlockCgroup(r.lock)
	} else if r.lock != nil {
		r.lock.Close() // kept: the next run's cleanup may take it
	}
}

// child creates a sub-cgroup of the scenario's root (no limit of its own).
func (r *run) child(name string) (*cgroup.Memcg, error) {
	m, err := r.root.Child(r.host.Layout, name)
	if err != nil {
		return nil, err
	}
	r.memcgs = append(r.memcgs, m)
	return m, nil
}

// oomKills is the scenario's oom_kill count: on v2 the root's memory.events
// (hierarchical since 5.2); on v1 the sum of memory.oom_control over every
// memcg the scenario made (v1 counts only where the victim was).
func (r *run) oomKills() int64 {
	if r.host.Layout.Memory == cgroup.V2 {
		return readKeyed(filepath.Join(r.root.Dir, "memory.events"), "oom_kill")
	}
	var n int64
	for _, m := range r.memcgs {
		n += readKeyed(filepath.Join(m.Dir, "memory.oom_control"), "oom_kill")
	}
	return n
}

// readKeyedFirst returns the first word of a cgroup file, "" if unreadable.
func readKeyedFirst(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return ""
	}
	return f[0]
}

// readKeyed reads "key N" from a flat keyed cgroup file; 0 if absent.
func readKeyed(path, key string) int64 {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		var n int64
		if _, err := fmt.Sscanf(line, key+" %d", &n); err == nil && strings.HasPrefix(line, key+" ") {
			return n
		}
	}
	return 0
}

// waitKills waits until the cgroup's oom_kill counter has grown by n and
// the kernel's reports for those kills are in the log, or until timeout.
// It returns the reports seen.
func (r *run) waitKills(n int64, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		if err := context.Cause(r.ctx); err != nil {
			return err
		}
		got := r.oomKills() - r.killsAt0
		if got >= n {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("waited %s for %d OOM kill(s) in %s, saw %d", timeout, n, r.root.Path, got)
		}
		if err := r.allExited(); err != nil {
			return fmt.Errorf("%d OOM kill(s) expected in %s, saw %d: %w", n, r.root.Path, got, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	// The counter moves just before the "Killed process" line is printed.
	for {
		if r.victimCount() >= int(n) {
			return nil
		}
		if time.Now().After(deadline.Add(3 * time.Second)) {
			lost := ""
			if l := r.kernel.lost(); l > 0 {
				lost = fmt.Sprintf(" (the kernel overwrote %d records before they were read: a bigger log buffer, log_buf_len=, keeps them)", l)
			}
			return fmt.Errorf("the oom_kill counter of %s grew by %d but /dev/kmsg shows %d Killed line(s) for it%s", r.root.Path, n, r.victimCount(), lost)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// reports returns the kernel's reports for this scenario.
func (r *run) reports() []*oomlog.Report {
	return r.kernel.reports(r.root.Path, func(pid int) bool { return r.childOf(pid) != nil })
}

// victimCount counts the distinct processes killed in the scenario's
// reports.
func (r *run) victimCount() int {
	seen := map[int]bool{}
	for _, rep := range r.reports() {
		for _, v := range rep.Victims {
			if !v.Exiting {
				seen[*r.victim(v.PID, v.Comm).PID] = true
			}
		}
	}
	return len(seen)
}

// allExited returns an error naming how the scenario's processes ended
// when none is left running (so no kill can come), nil otherwise.
func (r *run) allExited() error {
	if len(r.children) == 0 {
		return nil
	}
	var parts []string
	for _, c := range r.children {
		if c.alive() {
			return nil
		}
		parts = append(parts, fmt.Sprintf("%s (pid %d) %s%s", c.role, c.pid, c.exitText(), c.stderrText()))
	}
	return fmt.Errorf("every process has exited: %s", strings.Join(parts, "; "))
}

func ptr[T any](v T) *T { return &v }

// limitFor is the smallest limit, in steps of 32 MiB, that is at least
// five times an allocator's starting RSS: the twists need it to be at
// most a quarter, and a child's start varies a little from the one
// measured.
func limitFor(runtimeRSS int64) int64 {
	const step = 32 * bytesize.MiB
	return (5*runtimeRSS + step - 1) / step * step
}
