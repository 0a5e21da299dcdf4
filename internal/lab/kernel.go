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
// OOM memcg (or, for a global OOM, the victim's memcg) is path or below it,
// and reports that print no memcg at all but kill a process ours says is
// its own: the kernel rate-limits the report's header, cgroup lines and
// task table (oom_rs: 10 per 5 s, system-wide) and then prints only the
// Killed line. Other engineers' and other runs' OOMs are ignored.
func (k *kernelLog) reports(path string, ours func(pid int) bool) []*oomlog.Report {
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
		switch {
		case under(rep.OOMMemcg, path), rep.OOMMemcg == "" && under(rep.TaskMemcg, path):
			mine = append(mine, rep)
		case rep.OOMMemcg == "" && rep.TaskMemcg == "" && len(rep.Tasks) == 0 && killsOurs(rep, ours):
			mine = append(mine, rep)
		}
	}
	return mine
}

func killsOurs(rep *oomlog.Report, ours func(int) bool) bool {
	for _, v := range rep.Victims {
		if ours(v.PID) {
			return true
		}
	}
	return false
}

// rateLimited reports whether rep is a Killed line without the report
// around it (the kernel's oom_rs rate limit suppressed the rest).
func rateLimited(rep *oomlog.Report) bool {
	return len(rep.Victims) > 0 && rep.Tasks == nil && rep.OOMMemcg == "" && rep.Trigger == nil
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
