package agent

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/oomkit/oomkit/internal/agent/api"
)

// The reconciler makes one kill of each kernel kill, whoever saw it.
//
// Every kill raises oom_kill of the victim's memcg (memcg_memory_event_mm()
// in __oom_kill_process(), mm/oom_kill.c: on v1 only that memcg, on v2
// that memcg's memory.events.local and every ancestor's memory.events)
// and /proc/vmstat oom_kill, then prints "Killed process PID (comm)". The
// report before that line is rate-limited (10 per 5 s); the kill line is
// not. Kills are serialised by oom_lock, so counters and kill lines move in
// the same order.
//
// A kill line from the kernel log is a kill at once (the latency path). It
// then waits for its counter increment: the memcg named by the report's
// task_memcg, or by /proc/PID/cgroup read when the line arrived. A counter
// increment takes the oldest waiting kill of its memcg, else the oldest
// waiting kill whose memcg is unknown, else it waits for a kill line. An
// increment that no kill line claims within the grace window — counted
// only once the kernel log has been read past the increment, so a lagging
// reader never turns a reported kill into a missing one — becomes a kill
// of its own with report "missing". What /proc/vmstat counted beyond both
// (a memcg removed before its counter was read) becomes "missing" kills
// without a cgroup.
type reconciler struct {
	grace time.Duration
	st    reconState
	// kills holds kills that may still change (waiting for a counter), by
	// ID, so a match can update what is stored.
	kills map[string]*api.Kill
	// last is the last kill read from the kernel log, for group kills
	// whose kill lines arrive after the report was handed on.
	last *api.Kill
	// nodeShortSince is when /proc/vmstat first counted more kills than
	// the agent accounts for; zero when it does not.
	nodeShortSince time.Time
}

// reconState is what survives a restart, written with the kills it
// speaks for.
type reconState struct {
	Boot       string                  `json:"boot"`
	BaselineAt time.Time               `json:"baseline_at"`
	Cursor     uint64                  `json:"cursor"`
	HaveCursor bool                    `json:"have_cursor"`
	Counters   map[string]savedCounter `json:"counters"`
	// NodeBase is /proc/vmstat oom_kill at the baseline, NodeUnits the
	// kills accounted since; HaveNode is false until vmstat was read.
	NodeBase   int64       `json:"node_base"`
	NodeUnits  int64       `json:"node_units"`
	HaveNode   bool        `json:"have_node"`
	Increments []increment `json:"increments"`
	Waiting    []waiting   `json:"waiting"`
}

// increment is one counted kill no kill line has claimed yet.
type increment struct {
	Cgroup string    `json:"cgroup"`
	Ino    uint64    `json:"ino"`
	N      int64     `json:"n"` // the counter's value with this kill
	At     time.Time `json:"at"`
	Group  bool      `json:"group"` // the memcg's oom_group_kill went up too
}

// waiting is a kill line still waiting for its counter increment.
type waiting struct {
	ID     string `json:"id"`
	PID    int    `json:"pid"`
	Cgroup string `json:"cgroup"` // "" when unknown
	// Soft is true when Cgroup is only what /proc/PID/cgroup said of the
	// dying victim (an exiting task may already show another cgroup); the
	// counter that went up has the last word.
	Soft bool      `json:"soft"`
	At   time.Time `json:"at"`
}

func newReconciler(grace time.Duration, st reconState) *reconciler {
	if st.Counters == nil {
		st.Counters = map[string]savedCounter{}
	}
	return &reconciler{grace: grace, st: st, kills: map[string]*api.Kill{}}
}

// victimCgroup is a victim of a kill read from the kernel log and its memcg
// as far as known.
type victimCgroup struct {
	pid    int
	cgroup string
	soft   bool // from /proc, not from the report
}

// report accounts for a kill read from the kernel log. It returns the
// kill to store and count (nil when it only added victims to the previous
// group kill, which it returns as updated).
func (r *reconciler) report(k *api.Kill, victims []victimCgroup, live bool, at time.Time) (added, updated *api.Kill) {
	if p := r.last; p != nil && k.Trigger == nil && p.GroupKillPath != nil && at.Sub(p.ObservedAt) < time.Second && inGroup(*p.GroupKillPath, victims) {
		// The rest of a group kill, read after the report was handed on:
		// more victims, or the chosen one killed again.
		for _, v := range k.Victims {
			if !hasPID(p, v.PID) {
				p.Victims = append(p.Victims, v)
			}
		}
		p.Kills += k.Kills
		updated = p
	} else {
		added = k
		r.last = k
	}
	if !live {
		return added, updated
	}
	id := k.ID
	if updated != nil {
		id = updated.ID
	}
	for _, v := range victims {
		r.st.NodeUnits++
		if i := r.claimIncrement(v.cgroup, v.soft); i >= 0 {
			r.matched(k, updated, r.st.Increments[i].Cgroup, v.soft)
			r.st.Increments = slices.Delete(r.st.Increments, i, i+1)
			continue
		}
		r.st.Waiting = append(r.st.Waiting, waiting{ID: id, PID: v.pid, Cgroup: v.cgroup, Soft: v.soft, At: at})
	}
	if added != nil {
		r.kills[added.ID] = added
	} else {
		r.kills[updated.ID] = updated
	}
	return added, updated
}

func hasPID(k *api.Kill, pid int) bool {
	for _, v := range k.Victims {
		if v.PID == pid {
			return true
		}
	}
	return false
}

// inGroup reports whether victims whose memcg is known are in the group
// kill's cgroup or below it.
func inGroup(group string, victims []victimCgroup) bool {
	for _, v := range victims {
		if v.cgroup != "" && v.cgroup != group && !strings.HasPrefix(v.cgroup, strings.TrimSuffix(group, "/")+"/") {
			return false
		}
	}
	return true
}

// claimIncrement finds the oldest unclaimed increment of cgroup, or, when
// cgroup is unknown or only a hint, of any memcg; −1 if none.
func (r *reconciler) claimIncrement(cgroup string, soft bool) int {
	for i, inc := range r.st.Increments {
		if cgroup == "" || inc.Cgroup == cgroup {
			return i
		}
	}
	if soft && len(r.st.Increments) > 0 {
		return 0
	}
	return -1
}

// matched marks a kill as seen by its memcg's counter too, and takes the
// counter's memcg when the kill's was unknown or only a hint.
func (r *reconciler) matched(k, updated *api.Kill, cgroup string, soft bool) {
	if updated != nil {
		k = updated
	}
	if !slices.Contains(k.SeenBy, api.SeenCounter) {
		k.SeenBy = append(k.SeenBy, api.SeenCounter)
	}
	if cgroup != "" && (k.Cgroup == nil || soft && *k.Cgroup != cgroup) {
		k.Cgroup, k.CgroupFrom = &cgroup, ptr("counter")
	}
}

// counted accounts for counter increments read at now; it returns the
// kills whose stored form changed.
func (r *reconciler) counted(changes []counterChange, now time.Time, lookup func(id string) *api.Kill) []*api.Kill {
	var changed []*api.Kill
	for _, c := range changes {
		for n := c.from + 1; n <= c.to; n++ {
			group := n == c.to && c.groupKills > 0
			i := r.claimWaiting(c.path)
			if i < 0 {
				r.st.Increments = append(r.st.Increments, increment{Cgroup: c.path, Ino: c.ino, N: n, At: now, Group: group})
				continue
			}
			w := r.st.Waiting[i]
			r.st.Waiting = slices.Delete(r.st.Waiting, i, i+1)
			k := r.kills[w.ID]
			if k == nil {
				k = lookup(w.ID)
			}
			if k == nil {
				continue
			}
			if w.Cgroup != c.path {
				// Unknown, or /proc named another cgroup: the counter says.
				r.matched(k, nil, c.path, true)
			} else {
				r.matched(k, nil, c.path, false)
			}
			changed = append(changed, k)
		}
	}
	return changed
}

// claimWaiting finds the oldest kill line waiting for cgroup's increment,
// else the oldest whose memcg is unknown; −1 if none.
func (r *reconciler) claimWaiting(cgroup string) int {
	for i, w := range r.st.Waiting {
		if w.Cgroup == cgroup {
			return i
		}
	}
	for i, w := range r.st.Waiting {
		if w.Cgroup == "" {
			return i
		}
	}
	for i, w := range r.st.Waiting {
		if w.Soft {
			return i
		}
	}
	return -1
}

// expire turns unclaimed increments older than the grace window into
// missing kills, and /proc/vmstat's surplus likewise. logCaughtUp is the
// last time the kernel log was read to its end (zero: it cannot be read,
// so only the grace window counts).
func (r *reconciler) expire(now, logCaughtUp time.Time, logReadable bool, vmstat *int64, boot string, missing func(inc increment, id string) *api.Kill) []*api.Kill {
	var out []*api.Kill
	keep := r.st.Increments[:0]
	for _, inc := range r.st.Increments {
		due := now.Sub(inc.At) >= r.grace && (!logReadable || logCaughtUp.After(inc.At))
		if !due {
			keep = append(keep, inc)
			continue
		}
		r.st.NodeUnits++
		out = append(out, missing(inc, fmt.Sprintf("%s-c%d-%d", boot, inc.Ino, inc.N)))
	}
	r.st.Increments = keep
	w := r.st.Waiting[:0]
	for _, x := range r.st.Waiting {
		// A kill line whose increment never came (its memcg was removed
		// before a scan) stops waiting after a while.
		if now.Sub(x.At) < 2*r.grace {
			w = append(w, x)
		} else {
			delete(r.kills, x.ID)
		}
	}
	r.st.Waiting = w
	if len(r.st.Waiting) == 0 {
		clear(r.kills)
	}
	if vmstat == nil || !r.st.HaveNode {
		return out
	}
	short := *vmstat - r.st.NodeBase - r.st.NodeUnits - int64(len(r.st.Increments))
	if short <= 0 {
		r.nodeShortSince = time.Time{}
		return out
	}
	if r.nodeShortSince.IsZero() {
		r.nodeShortSince = now
	}
	if now.Sub(r.nodeShortSince) < r.grace || (logReadable && !logCaughtUp.After(r.nodeShortSince)) {
		return out
	}
	for i := int64(0); i < short; i++ {
		r.st.NodeUnits++
		n := r.st.NodeBase + r.st.NodeUnits
		out = append(out, missing(increment{N: n, At: r.nodeShortSince}, boot+"-n"+strconv.FormatInt(n, 10)))
	}
	r.nodeShortSince = time.Time{}
	return out
}

// busy reports whether anything waits for the grace window: increments,
// kill lines, or a /proc/vmstat surplus.
func (r *reconciler) busy() bool {
	return len(r.st.Increments) > 0 || len(r.st.Waiting) > 0 || !r.nodeShortSince.IsZero()
}

func ptr[T any](v T) *T { return &v }
