package lab

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/oomkit/oomkit/internal/alloc"
	"github.com/oomkit/oomkit/internal/cgroup"
	"github.com/oomkit/oomkit/internal/mm"
)

// guestHZ is CONFIG_HZ of the kernels the lab meets in its VM (Debian's
// amd64 kernels: 250). The penalty lower bound below holds for any HZ of
// 250 or more once 4 ms per sleep is taken off (a tick of rounding).
const guestHZ = 250

// memoryHighMax is a MemoryQoS container: memory.high 1/16 below
// memory.max. Phase 1: an allocator stops a quarter of the way from one to
// the other and holds.
// The model (mm.HighPenalty, MEMCG_CHARGE_BATCH, the 16 reclaim retries)
// predicts, for the charge batches between memory.high and the usage the
// kernel reports: at least one "high" event per batch and at most 17; a
// sleep of at least the summed penalties, which the kernel accounts as a
// memory stall (memory.pressure "some" total); no OOM, no "max" event, no
// kill. Phase 2: a second allocator pushes usage to memory.max: only then
// does the memcg OOM killer run, and it picks whom the model picks.
func memoryHighMax(r *run) error {
	L := r.limit
	H := L - L/16
	if err := r.root.Write("memory.high", strconv.FormatInt(H, 10)); err != nil {
		return err
	}
	events := filepath.Join(r.root.Dir, "memory.events")
	psi0 := psiSomeTotal(filepath.Join(r.root.Dir, "memory.pressure"))
	// A quarter of the way from high to max: the allocator's page tables
	// and its runtime's own growth are charged too, and must not reach max.
	// The allocator's runtime pages are charged here too (r.cfg.runtimeRSS),
	// so its blocks stop that much short.
	hold := H + (L-H)/4
	rt := r.cfg.runtimeRSS
	if rt > H/2 {
		return fmt.Errorf("an allocator has %s resident before it allocates, too much for a %s limit: use a larger --limit", alloc.FormatSize(rt), alloc.FormatSize(L))
	}
	r.expect(round{
		{role: "holder", rssBytes: hold - rt},
		{role: "pusher", rssBytes: L - hold - rt},
	})
	holder, err := r.startHolding("holder", r.root, allocArgs(L/128, hold-rt, 0, 0, true))
	if err != nil {
		return err
	}
	usage := readInt(filepath.Join(r.root.Dir, "memory.current"))
	high := readKeyed(events, "high")
	psi := psiSomeTotal(filepath.Join(r.root.Dir, "memory.pressure")) - psi0
	batch := mm.ChargeBatchPages(r.version) * mm.PageSize
	minEvents, maxEvents, sleep := predictOverHigh(r.version, H, usage, batch)
	r.cfg.logf("%s: memory.high %s, memory.max %s; holding at %s: %d high events (model: %d to %d), %v stalled (model: at least %v)",
		r.res.Scenario, alloc.FormatSize(H), alloc.FormatSize(L), alloc.FormatSize(usage), high, minEvents, maxEvents,
		time.Duration(psi)*time.Microsecond, sleep)
	r.check("the holder is over memory.high and under memory.max", usage > H && usage < L,
		fmt.Sprintf("memory.current %d, memory.high %d, memory.max %d", usage, H, L))
	r.check("high events as the model predicts (one per charge batch over high, 17 when throttled)",
		high >= minEvents && high <= maxEvents, fmt.Sprintf("memory.events high %d, model [%d, %d]", high, minEvents, maxEvents))
	r.check("the kernel stalled the allocator at least the model's penalties",
		time.Duration(psi)*time.Microsecond >= sleep, fmt.Sprintf("memory.pressure some total grew %dµs, model ≥ %v", psi, sleep))
	r.check("no OOM and no memory.max event below memory.max",
		readKeyed(events, "oom") == 0 && readKeyed(events, "max") == 0 && readKeyed(events, "oom_kill") == 0,
		strings.TrimSpace(readString(events)))
	r.checkAlive(holder, "memory.high throttles; it never kills")
	sl := cgroup.ReadSoftLimits(r.root.Dir, r.root.Path, cgroup.V2)
	r.check("oomkit's soft-limit reader sees memory.high and its events", sl.HighBytes != nil && *sl.HighBytes == H/mm.PageSize*mm.PageSize &&
		sl.HighEvents != nil && *sl.HighEvents >= high, fmt.Sprintf("read %v / %v", deref(sl.HighBytes), deref(sl.HighEvents)))

	// Phase 2: up to memory.max.
	if _, err := r.start("pusher", r.root, allocArgs(L/256, L, 0, 0, true)); err != nil {
		return err
	}
	if err := r.waitKills(1, killTimeout); err != nil {
		return err
	}
	r.check("memory.max was hit before the kill", readKeyed(events, "max") > 0, strings.TrimSpace(readString(events)))
	r.conclude()
	return nil
}

// predictOverHigh is the model's account of charging from memory.high
// (highBytes) up to usageBytes in charge batches: the number of batches
// (each raises one "high" event in reclaim_high(); with a penalty above
// HZ/100 and nothing reclaimable, 16 retries raise 16 more), and the sleep
// the penalties add up to, less a tick of rounding each.
func predictOverHigh(v mm.Version, highBytes, usageBytes, batchBytes int64) (minEvents, maxEvents int64, sleep time.Duration) {
	hp := highBytes / mm.PageSize
	for u := highBytes + batchBytes; u <= usageBytes; u += batchBytes {
		minEvents++
		pen := mm.HighPenalty(v, batchBytes/mm.PageSize, mm.HighOverage(u/mm.PageSize, hp), guestHZ)
		if pen > 0 {
			maxEvents += 1 + 16
			sleep += max(pen-4*time.Millisecond, 0)
		} else {
			maxEvents++
		}
	}
	// The batch that crosses high, and charges the kernel makes for the
	// allocator besides its pages (page tables), may add one batch each
	// side.
	return max(minEvents-1, 1), maxEvents + 2*17, sleep
}

// psiSomeTotal is the "some … total=N" of a pressure file, in µs; 0 when
// unreadable.
func psiSomeTotal(path string) int64 {
	for _, line := range strings.Split(readString(path), "\n") {
		if !strings.HasPrefix(line, "some ") {
			continue
		}
		for _, f := range strings.Fields(line) {
			if v, ok := strings.CutPrefix(f, "total="); ok {
				n, _ := strconv.ParseInt(v, 10, 64)
				return n
			}
		}
	}
	return 0
}

func readString(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}

func readInt(path string) int64 {
	n, _ := strconv.ParseInt(strings.TrimSpace(readString(path)), 10, 64)
	return n
}

func deref(p *int64) string {
	if p == nil {
		return "null"
	}
	return strconv.FormatInt(*p, 10)
}
