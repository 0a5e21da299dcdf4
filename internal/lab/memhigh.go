package lab

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/oomkit/oomkit/internal/alloc"
	"github.com/oomkit/oomkit/internal/bytesize"
	"github.com/oomkit/oomkit/internal/cgroup"
	"github.com/oomkit/oomkit/internal/mm"
)

// guestHZ is CONFIG_HZ of the kernels the lab meets in its VM (Debian's
// amd64 kernels: 250). The penalty lower bound below holds for any HZ of
// 250 or more once 4 ms per sleep is taken off (a tick of rounding).
const guestHZ = 250

// memoryHighMax is a MemoryQoS container: memory.high 1/16 below
// memory.max, one allocator adding 1 MiB every 10 ms.
// Phase 1: once usage is a quarter of the way from high to max, the lab
// stops the allocator (SIGSTOP) and reads the kernel's counters. The
// model (mm.HighPenalty, MEMCG_CHARGE_BATCH, the 16 reclaim retries)
// predicts, for the charge batches between memory.high and that usage: at
// least one "high" event per batch (17 when throttled and reclaim frees
// nothing, more while it frees something); a sleep of at least the
// summed penalties, which the kernel accounts as a memory stall
// (memory.pressure "some" total); no OOM, no "max" event, no kill. Phase
// 2: the allocator goes on (SIGCONT) to memory.max: only then does the
// memcg OOM killer run, and it kills the allocator, as the model says.
func memoryHighMax(r *run) error {
	L := r.limit
	H := L - L/16
	if err := r.root.Write("memory.high", strconv.FormatInt(H, 10)); err != nil {
		return err
	}
	events := filepath.Join(r.root.Dir, "memory.events")
	current := filepath.Join(r.root.Dir, "memory.current")
	psi0 := psiSomeTotal(filepath.Join(r.root.Dir, "memory.pressure"))
	target := H + (L-H)/4
	r.expect(round{{role: "allocator", rssBytes: L}})
	batch := mm.ChargeBatchPages(r.version) * mm.PageSize
	// Blocks of 1 MiB (the kernel still charges them 256 KiB at a time as
	// the pages fault in), 10 ms apart: slow enough to stop near target.
	c, err := r.start("allocator", r.root, allocArgs(bytesize.MiB, 2*L, 10*time.Millisecond, 0, false))
	if err != nil {
		return err
	}
	var belowHigh, aboveHigh []float64 // seconds per block
	var last float64
	_, err = c.waitFor(r.ctx, 2*killTimeout, "a quarter of the way from memory.high to memory.max", func(rec alloc.Record) bool {
		u := readInt(current)
		if rec.Event == "block" {
			if u > H {
				aboveHigh = append(aboveHigh, rec.ElapsedSeconds-last)
			} else {
				belowHigh = append(belowHigh, rec.ElapsedSeconds-last)
			}
			last = rec.ElapsedSeconds
		}
		return u >= target
	})
	if err != nil {
		return err
	}
	if err := syscall.Kill(c.pid, syscall.SIGSTOP); err != nil {
		return err
	}
	usage := readInt(current)
	high := readKeyed(events, "high")
	psi := psiSomeTotal(filepath.Join(r.root.Dir, "memory.pressure")) - psi0
	minEvents, maxEvents, sleep := predictOverHigh(r.version, H, usage, batch)
	r.cfg.logf("%s: memory.high %s, memory.max %s; stopped at %s: %d high events (model: at least %d, %d if reclaim frees nothing), %v stalled (model: at least %v); a block took %.0f ms below high, %.0f ms above (medians)",
		r.res.Scenario, bytesize.Format(H), bytesize.Format(L), bytesize.Format(usage), high, minEvents, maxEvents,
		time.Duration(psi)*time.Microsecond, sleep, 1000*median(belowHigh), 1000*median(aboveHigh))
	r.check("the allocator is over memory.high and under memory.max", usage > H && usage < L,
		fmt.Sprintf("memory.current %d, memory.high %d, memory.max %d", usage, H, L))
	// At least one event per charge batch over high. No upper bound:
	// mem_cgroup_handle_over_high() (mm/memcontrol.c, 5.8+) retries its
	// reclaim, one "high" event each, 16 times when reclaim frees nothing
	// but without limit while it frees something ("if (nr_reclaimed ||
	// nr_retries--)"); maxEvents is the count when nothing is freed, which
	// a run past it shows reclaim made progress (6.12 did, by one).
	r.check("high events as the model predicts (at least one per charge batch over high)",
		high >= minEvents, fmt.Sprintf("memory.events high %d, model at least %d (%d if reclaim frees nothing)", high, minEvents, maxEvents))
	r.check("the kernel stalled the allocator at least the model's penalties",
		sleep > 0 && time.Duration(psi)*time.Microsecond >= sleep, fmt.Sprintf("memory.pressure some total grew %dµs, model ≥ %v", psi, sleep))
	r.check("no OOM and no memory.max event below memory.max",
		readKeyed(events, "oom") == 0 && readKeyed(events, "max") == 0 && readKeyed(events, "oom_kill") == 0,
		strings.Join(strings.Fields(readString(events)), " "))
	r.checkAlive(c, "memory.high throttles; it never kills")
	sl := cgroup.ReadSoftLimits(r.root.Dir, r.root.Path, cgroup.V2)
	r.check("oomkit's soft-limit reader sees memory.high and its events", sl.HighBytes != nil && *sl.HighBytes == H/mm.PageSize*mm.PageSize &&
		sl.HighEvents != nil && *sl.HighEvents >= high, fmt.Sprintf("read %s / %s", deref(sl.HighBytes), deref(sl.HighEvents)))

	// Phase 2: on to memory.max.
	if err := syscall.Kill(c.pid, syscall.SIGCONT); err != nil {
		return err
	}
	if err := r.waitKills(1, killTimeout); err != nil {
		return err
	}
	r.checkKilled(c)
	r.check("memory.max was hit before the kill", readKeyed(events, "max") > 0, strings.Join(strings.Fields(readString(events)), " "))
	r.conclude()
	return nil
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
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
