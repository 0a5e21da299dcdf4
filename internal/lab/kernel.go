package lab

import (
	"context"
	"errors"
	"io"
	"strconv"
	"strings"
	"sync"

	"github.com/oomkit/oomkit/internal/kmsg"
	"github.com/oomkit/oomkit/internal/oomlog"
)

// kernelLog is /dev/kmsg from the moment a scenario started: the reader is
// positioned at the end of the ring first, so only later records count.
type kernelLog struct {
	mu      sync.Mutex
	r       *kmsg.Reader
	records []kmsg.Record
	err     error
}

func openKernelLog() (*kernelLog, error) {
	r, err := kmsg.Open("", false)
	if err != nil {
		return nil, err
	}
	if err := r.SeekEnd(); err != nil {
		r.Close()
		return nil, err
	}
	return &kernelLog{r: r}, nil
}

// pull reads every record logged since the last pull.
func (k *kernelLog) pull() {
	for {
		rec, err := k.r.Next(context.Background())
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			if !errors.Is(err, kmsg.ErrMalformed) {
				k.err = err
				return
			}
			continue
		}
		k.records = append(k.records, rec)
	}
}

// reports parses everything logged so far and returns the OOM reports whose
// OOM memcg (or, for a global OOM, the victim's memcg) is path or below it.
// Other engineers' and other runs' OOMs in other cgroups are ignored.
func (k *kernelLog) reports(path string) []*oomlog.Report {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.pull()
	a := oomlog.NewAssembler(oomlog.Options{})
	var all []*oomlog.Report
	var line []byte
	for _, rec := range k.records {
		line = line[:0]
		line = strconv.AppendInt(line, int64(rec.Priority), 10)
		line = append(line, ',')
		line = strconv.AppendUint(line, rec.Seq, 10)
		line = append(line, ',')
		line = strconv.AppendUint(line, rec.Usec, 10)
		line = append(line, ",-"...)
		if rec.Caller != "" {
			line = append(line, ",caller="...)
			line = append(line, rec.Caller...)
		}
		line = append(line, ';')
		line = append(line, rec.Text...)
		all = append(all, a.Feed(oomlog.Record{Text: string(line)})...)
	}
	all = append(all, a.Flush()...)
	var mine []*oomlog.Report
	for _, rep := range all {
		if under(rep.OOMMemcg, path) || (rep.OOMMemcg == "" && under(rep.TaskMemcg, path)) {
			mine = append(mine, rep)
		}
	}
	return mine
}

// victims counts the distinct processes killed in path's reports.
func (k *kernelLog) victims(path string) int {
	seen := map[int]bool{}
	for _, rep := range k.reports(path) {
		for _, v := range rep.Victims {
			if !v.Exiting {
				seen[v.PID] = true
			}
		}
	}
	return len(seen)
}

// lost is how many records the kernel overwrote before they were read.
func (k *kernelLog) lost() uint64 {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.r.Lost()
}

func (k *kernelLog) close() { k.r.Close() }

// under reports whether cgroup path p is root or inside it.
func under(p, root string) bool {
	return p == root || strings.HasPrefix(p, root+"/")
}
