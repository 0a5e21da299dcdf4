package sim

import (
	"fmt"
	"math/big"

	"github.com/oomkit/oomkit/internal/mm"
)

// CommitLimitInput is a node for `oomkit sim commit-limit`: its memory and
// the vm.overcommit_ratio or vm.overcommit_kbytes in force (KBytes, when
// not 0, replaces Ratio, as in the kernel).
type CommitLimitInput struct {
	MemoryBytes, SwapBytes, HugetlbBytes int64
	Ratio, KBytes                        int64
	// CommittedASBytes, when set, is the node's Committed_AS: the record
	// then says how much a process can still commit in mode 2.
	CommittedASBytes *int64
}

// CommitLimitRecord is the oomkit.sim/v1 commit_limit record (docs/sim.md).
type CommitLimitRecord struct {
	Schema            string `json:"schema"`
	Event             string `json:"event"`
	MemoryBytes       int64  `json:"memory_bytes"`
	SwapBytes         int64  `json:"swap_bytes"`
	HugetlbBytes      int64  `json:"hugetlb_bytes"`
	OvercommitRatio   int64  `json:"overcommit_ratio"`
	OvercommitKBytes  int64  `json:"overcommit_kbytes"`
	CommitLimitBytes  int64  `json:"commit_limit_bytes"`
	CommittedASBytes  *int64 `json:"committed_as_bytes"`
	AllocatableBytes  *int64 `json:"allocatable_bytes"`
	UserReserveBytes  int64  `json:"user_reserve_bytes"`
	AdminReserveBytes int64  `json:"admin_reserve_bytes"`
}

// CommitLimit computes the kernel's CommitLimit (vm_commit_limit(),
// mm/util.c) and the mode-2 reserves for a node. It refuses a limit past
// 8 EiB rather than wrap.
func CommitLimit(in CommitLimitInput) (CommitLimitRecord, error) {
	oc := mm.Overcommit{Mode: mm.OvercommitNever, Ratio: in.Ratio, KBytes: in.KBytes}
	if in.KBytes != 0 {
		oc.Ratio = 0
	}
	const page = mm.PageSize
	mem, swap, huge := in.MemoryBytes, in.SwapBytes, in.HugetlbBytes
	// The kernel's unsigned long would wrap past 2^64 bytes; oomkit's
	// int64 past 8 EiB. No machine comes near: refuse, never wrap.
	exact := new(big.Int).Mul(big.NewInt((mem-huge)/page), big.NewInt(oc.Ratio))
	exact.Quo(exact, big.NewInt(100))
	if oc.KBytes != 0 {
		exact.SetInt64(oc.KBytes / (page / 1024))
	}
	exact.Add(exact, big.NewInt(swap/page))
	exact.Mul(exact, big.NewInt(page))
	if !exact.IsInt64() {
		return CommitLimitRecord{}, fmt.Errorf("CommitLimit would be %s bytes, more than 8 EiB: check --memory, --swap and --ratio", exact)
	}
	limit := mm.CommitLimitPages(mem/page, huge/page, swap/page, oc) * page
	res := mm.DefaultReserves((mem - huge) / 1024)
	rec := CommitLimitRecord{Schema: Schema, Event: "commit_limit", MemoryBytes: mem, SwapBytes: swap, HugetlbBytes: huge,
		OvercommitRatio: oc.Ratio, OvercommitKBytes: oc.KBytes, CommitLimitBytes: limit,
		UserReserveBytes: res.UserKB * 1024, AdminReserveBytes: res.AdminKB * 1024}
	if c := in.CommittedASBytes; c != nil {
		free := max(limit-*c-rec.UserReserveBytes-rec.AdminReserveBytes, 0)
		committed := *c
		rec.CommittedASBytes, rec.AllocatableBytes = &committed, &free
	}
	return rec, nil
}
