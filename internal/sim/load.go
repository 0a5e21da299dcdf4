package sim

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/oomkit/oomkit/internal/bytesize"
	"github.com/oomkit/oomkit/internal/kube"
	"github.com/oomkit/oomkit/internal/mm"
)

// DefaultDuration is how long a scenario runs when it does not say.
const DefaultDuration = 10 * time.Minute

// maxProcesses bounds a scenario file, so a hostile file cannot ask for
// unbounded memory before the simulation starts.
const maxProcesses = 1 << 20

// Load reads a scenario from YAML. name is the file name used in errors
// ("scenario.yaml"). Unknown keys, bad sizes, durations and references are
// errors that name the key path.
func Load(name string, data []byte) (*Scenario, error) {
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, errEOF(err)) {
			return nil, fmt.Errorf("%s: empty scenario (see docs/sim.md for the format)", name)
		}
		return nil, fmt.Errorf("%s: %s", name, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	var more yaml.Node
	if err := dec.Decode(&more); err == nil {
		return nil, fmt.Errorf("%s: more than one YAML document; put one scenario in a file", name)
	}
	l := &loader{file: name}
	s, err := l.scenario(&doc)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// errEOF returns err itself when it is io.EOF-like, so errors.Is matches.
func errEOF(err error) error {
	if err != nil && err.Error() == "EOF" {
		return err
	}
	return errors.New("not eof")
}

type loader struct {
	file string
}

// errorf makes the one-line error of the format: "file: key.path: message".
func (l *loader) errorf(p, format string, args ...any) error {
	if p == "" {
		return fmt.Errorf("%s: %s", l.file, fmt.Sprintf(format, args...))
	}
	return fmt.Errorf("%s: %s: %s", l.file, p, fmt.Sprintf(format, args...))
}

func join(p, key string) string {
	if p == "" {
		return key
	}
	return p + "." + key
}

func index(p string, i int) string { return fmt.Sprintf("%s[%d]", p, i) }

// fields walks a mapping node, rejecting unknown and repeated keys.
func (l *loader) fields(n *yaml.Node, p string, known []string, f func(key string, v *yaml.Node, kp string) error) error {
	if n.Kind == yaml.AliasNode {
		return l.errorf(p, "YAML aliases are not supported")
	}
	if n.Kind != yaml.MappingNode {
		if p == "" {
			return l.errorf(p, "want a mapping of keys (kernel, node, processes, …), got %s", kindName(n))
		}
		return l.errorf(p, "want a mapping, got %s", kindName(n))
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			return l.errorf(p, "keys must be plain strings")
		}
		key := k.Value
		kp := join(p, key)
		if key == "<<" {
			return l.errorf(kp, "YAML merge keys are not supported")
		}
		if !slices.Contains(known, key) {
			return l.errorf(kp, "unknown key (known: %s)", strings.Join(known, ", "))
		}
		if seen[key] {
			return l.errorf(kp, "given twice")
		}
		seen[key] = true
		if v.Kind == yaml.AliasNode {
			return l.errorf(kp, "YAML aliases are not supported")
		}
		if err := f(key, v, kp); err != nil {
			return err
		}
	}
	return nil
}

func (l *loader) seq(n *yaml.Node, p string, f func(i int, v *yaml.Node, ip string) error) error {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		return l.errorf(p, "want a list, got %s", kindName(n))
	}
	if len(n.Content) > maxProcesses {
		return l.errorf(p, "%d entries: at most %d", len(n.Content), maxProcesses)
	}
	for i, v := range n.Content {
		if v.Kind == yaml.AliasNode {
			return l.errorf(index(p, i), "YAML aliases are not supported")
		}
		if err := f(i, v, index(p, i)); err != nil {
			return err
		}
	}
	return nil
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "nothing"
		}
		return strconv.Quote(n.Value)
	}
	return "something else"
}

func (l *loader) scalar(n *yaml.Node, p string) (string, error) {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		return "", l.errorf(p, "want a value, got %s", kindName(n))
	}
	return n.Value, nil
}

func (l *loader) str(n *yaml.Node, p string) (string, error) { return l.scalar(n, p) }

// maxSize bounds every size in a scenario: 4 EiB, so that the engine's sums
// of two sizes cannot overflow an int64.
const maxSize = 1 << 62

func (l *loader) size(n *yaml.Node, p string) (int64, error) {
	return l.sizeWith(n, p, bytesize.Parse)
}

// quantity reads a size that is a Kubernetes quantity (a container's
// memory), as the API server would.
func (l *loader) quantity(n *yaml.Node, p string) (int64, error) {
	return l.sizeWith(n, p, bytesize.ParseQuantity)
}

func (l *loader) sizeWith(n *yaml.Node, p string, parse func(string) (int64, error)) (int64, error) {
	s, err := l.scalar(n, p)
	if err != nil {
		return 0, err
	}
	v, err := parse(s)
	if err == nil && v > maxSize {
		err = fmt.Errorf("%q is more than the simulator takes (4EiB)", s)
	}
	if err != nil {
		return 0, l.errorf(p, "%v", err)
	}
	return v, nil
}

// limit reads a size or "max"/"unlimited".
func (l *loader) limit(n *yaml.Node, p string) (int64, error) {
	s, err := l.scalar(n, p)
	if err != nil {
		return 0, err
	}
	if s == "max" || s == "unlimited" {
		return Unlimited, nil
	}
	v, err := l.size(n, p)
	if err != nil {
		return 0, fmt.Errorf("%w, or max", err)
	}
	return v, nil
}

func (l *loader) duration(n *yaml.Node, p string) (time.Duration, error) {
	s, err := l.scalar(n, p)
	if err != nil {
		return 0, err
	}
	d, err := ParseDuration(s)
	if err != nil {
		return 0, l.errorf(p, "%v", err)
	}
	return d, nil
}

func (l *loader) integer(n *yaml.Node, p string, lo, hi int64) (int64, error) {
	s, err := l.scalar(n, p)
	if err != nil {
		return 0, err
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, l.errorf(p, "%q is not a whole number", s)
	}
	if v < lo || v > hi {
		return 0, l.errorf(p, "%d is out of range [%d, %d]", v, lo, hi)
	}
	return v, nil
}

func (l *loader) boolean(n *yaml.Node, p string) (bool, error) {
	s, err := l.scalar(n, p)
	if err != nil {
		return false, err
	}
	switch s {
	case "true", "1":
		return true, nil
	case "false", "0":
		return false, nil
	}
	return false, l.errorf(p, "%q is not true or false", s)
}

func (l *loader) scenario(doc *yaml.Node) (*Scenario, error) {
	root := doc
	if doc.Kind == yaml.DocumentNode {
		if len(doc.Content) == 0 {
			return nil, l.errorf("", "empty scenario (see docs/sim.md for the format)")
		}
		root = doc.Content[0]
	}
	s := &Scenario{Duration: DefaultDuration}
	s.Sysctl = Sysctl{OvercommitRatio: 50, AdminReserveKB: -1, UserReserveKB: -1}
	var kernelSet, memSet bool
	err := l.fields(root, "", []string{"name", "description", "kernel", "node", "sysctl", "baseline", "kubelet", "cgroups", "pods", "processes", "duration"},
		func(key string, v *yaml.Node, kp string) error {
			var err error
			switch key {
			case "name":
				s.Name, err = l.str(v, kp)
			case "description":
				s.Description, err = l.str(v, kp)
			case "kernel":
				var raw string
				if raw, err = l.str(v, kp); err == nil {
					// The range --assume-kernel takes: the model's rules
					// only cover these releases.
					if s.Kernel, err = mm.ParseModelled(raw); err != nil {
						err = l.errorf(kp, "%v", err)
					}
					kernelSet = true
				}
			case "node":
				memSet, err = l.node(v, kp, &s.Node)
			case "sysctl":
				err = l.sysctls(v, kp, func(k string, val int64) { applySysctl(&s.Sysctl, k, val) })
			case "baseline":
				err = l.fields(v, kp, []string{"committed", "resident", "page_cache"}, func(k string, v *yaml.Node, kp string) error {
					var err error
					switch k {
					case "committed":
						s.Baseline.CommittedBytes, err = l.size(v, kp)
					case "resident":
						s.Baseline.ResidentBytes, err = l.size(v, kp)
					case "page_cache":
						s.Baseline.PageCacheBytes, err = l.size(v, kp)
					}
					return err
				})
			case "kubelet":
				s.Kubelet, err = l.kubelet(v, kp)
			case "cgroups":
				err = l.seq(v, kp, func(i int, v *yaml.Node, ip string) error {
					c, err := l.cgroup(v, ip)
					s.Cgroups = append(s.Cgroups, c)
					return err
				})
			case "pods":
				err = l.seq(v, kp, func(i int, v *yaml.Node, ip string) error {
					pod, err := l.pod(v, ip)
					s.Pods = append(s.Pods, pod)
					return err
				})
			case "processes":
				err = l.seq(v, kp, func(i int, v *yaml.Node, ip string) error {
					pr, err := l.process(v, ip)
					s.Processes = append(s.Processes, pr)
					return err
				})
			case "duration":
				s.Duration, err = l.duration(v, kp)
				if err == nil && s.Duration <= 0 {
					err = l.errorf(kp, "must be more than 0s")
				}
			}
			return err
		})
	if err != nil {
		return nil, err
	}
	if !kernelSet {
		return nil, l.errorf("kernel", "required: the kernel release whose rules apply (e.g. \"5.4.0\")")
	}
	if !memSet {
		return nil, l.errorf("node.memory", "required: the node's RAM (e.g. 12GiB)")
	}
	if err := l.validate(s); err != nil {
		return nil, err
	}
	return s, nil
}

func (l *loader) node(n *yaml.Node, p string, node *Node) (memSet bool, err error) {
	err = l.fields(n, p, []string{"memory", "swap", "hugetlb", "cgroup_version"}, func(k string, v *yaml.Node, kp string) error {
		var err error
		switch k {
		case "memory":
			node.MemoryBytes, err = l.size(v, kp)
			if err == nil && node.MemoryBytes < 16*mm.PageSize {
				err = l.errorf(kp, "%s is too small for a machine (at least 64KiB)", bytesize.Format(node.MemoryBytes))
			}
			memSet = true
		case "swap":
			node.SwapBytes, err = l.size(v, kp)
		case "hugetlb":
			node.HugetlbBytes, err = l.size(v, kp)
		case "cgroup_version":
			var ver int64
			ver, err = l.integer(v, kp, 1, 2)
			node.CgroupV2 = ver == 2
		}
		return err
	})
	if err == nil && node.HugetlbBytes > node.MemoryBytes {
		err = l.errorf(join(p, "hugetlb"), "%s is more than node.memory (%s)", bytesize.Format(node.HugetlbBytes), bytesize.Format(node.MemoryBytes))
	}
	return memSet, err
}

// sysctlKeys are the vm.* settings a scenario may set, with their ranges.
var sysctlKeys = map[string][2]int64{
	"vm.overcommit_memory":        {0, 2},
	"vm.overcommit_ratio":         {0, 1 << 40},
	"vm.overcommit_kbytes":        {0, 1 << 50},
	"vm.oom_kill_allocating_task": {0, 1},
	"vm.panic_on_oom":             {0, 2},
	"vm.admin_reserve_kbytes":     {0, 1 << 50},
	"vm.user_reserve_kbytes":      {0, 1 << 50},
}

func sortedSysctlKeys() []string {
	keys := make([]string, 0, len(sysctlKeys))
	for k := range sysctlKeys {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func (l *loader) sysctls(n *yaml.Node, p string, set func(string, int64)) error {
	return l.fields(n, p, sortedSysctlKeys(), func(k string, v *yaml.Node, kp string) error {
		r := sysctlKeys[k]
		val, err := l.integer(v, kp, r[0], r[1])
		if err != nil {
			return err
		}
		set(k, val)
		return nil
	})
}

// applySysctl writes one vm.* value the way the kernel's handlers do:
// writing overcommit_ratio clears overcommit_kbytes and the other way
// round (overcommit_ratio_handler/overcommit_kbytes_handler, mm/util.c).
func applySysctl(s *Sysctl, key string, v int64) {
	switch key {
	case "vm.overcommit_memory":
		s.OvercommitMemory = int(v)
	case "vm.overcommit_ratio":
		s.OvercommitRatio, s.OvercommitKBytes = v, 0
	case "vm.overcommit_kbytes":
		s.OvercommitKBytes = v
		if v != 0 {
			s.OvercommitRatio = 0
		}
	case "vm.oom_kill_allocating_task":
		s.OOMKillAllocatingTask = v != 0
	case "vm.panic_on_oom":
		s.PanicOnOOM = int(v)
	case "vm.admin_reserve_kbytes":
		s.AdminReserveKB = v
	case "vm.user_reserve_kbytes":
		s.UserReserveKB = v
	}
}

func (l *loader) kubelet(n *yaml.Node, p string) (*Kubelet, error) {
	k := &Kubelet{Version: "1.30", EvictionHardBytes: 100 << 20, Housekeeping: 10 * time.Second}
	err := l.fields(n, p, []string{"version", "eviction_hard", "housekeeping", "memory_qos", "memory_throttling_factor", "memory_reservation_policy"}, func(key string, v *yaml.Node, kp string) error {
		var err error
		switch key {
		case "version":
			if k.Version, err = l.str(v, kp); err == nil {
				if _, verr := kube.ParseVersion(k.Version); verr != nil {
					err = l.errorf(kp, "%q is not a Kubernetes release oomkit models (e.g. \"1.30\")", k.Version)
				}
			}
		case "eviction_hard":
			var s string
			if s, err = l.str(v, kp); err != nil {
				return err
			}
			q, ok := strings.CutPrefix(strings.ReplaceAll(s, " ", ""), "memory.available<")
			if !ok {
				return l.errorf(kp, "%q: only memory.available<QUANTITY is simulated (e.g. memory.available<100Mi)", s)
			}
			if strings.HasSuffix(q, "%") {
				return l.errorf(kp, "%q: percentages are not simulated; give a size (e.g. memory.available<100Mi)", s)
			}
			k.EvictionHardBytes, err = bytesize.ParseQuantity(q)
			if err == nil && k.EvictionHardBytes > maxSize {
				err = fmt.Errorf("%q is more than the simulator takes (4EiB)", q)
			}
			if err != nil {
				err = l.errorf(kp, "%v", err)
			}
		case "memory_qos":
			var b bool
			if b, err = l.boolean(v, kp); err == nil {
				k.MemoryQoS.Gate = &b
			}
		case "memory_throttling_factor":
			var str string
			if str, err = l.str(v, kp); err != nil {
				return err
			}
			f, perr := strconv.ParseFloat(str, 64)
			if perr != nil || f <= 0 || f > 1 {
				return l.errorf(kp, "%q: want a number in (0, 1], e.g. 0.9", str)
			}
			k.MemoryQoS.ThrottlingFactor = &f
		case "memory_reservation_policy":
			k.MemoryQoS.ReservationPolicy, err = l.str(v, kp)
		case "housekeeping":
			k.Housekeeping, err = l.duration(v, kp)
			if err == nil && k.Housekeeping <= 0 {
				err = l.errorf(kp, "must be more than 0s")
			}
		}
		return err
	})
	if err == nil {
		if v, verr := kube.ParseVersion(k.Version); verr == nil {
			if qerr := k.MemoryQoS.Validate(v); qerr != nil {
				err = l.errorf(p, "%v", qerr)
			}
		}
	}
	return k, err
}

func (l *loader) cgroup(n *yaml.Node, p string) (Cgroup, error) {
	c := Cgroup{MemoryMaxBytes: Unlimited, SwapMaxBytes: Unlimited}
	err := l.fields(n, p, []string{"path", "memory_max", "memory_high", "swap_max", "oom_group", "page_cache"}, func(k string, v *yaml.Node, kp string) error {
		var err error
		switch k {
		case "path":
			c.Path, err = l.cgroupPath(v, kp)
		case "memory_max":
			c.MemoryMaxBytes, err = l.limit(v, kp)
		case "memory_high":
			c.MemoryHighBytes, err = l.limit(v, kp)
			if err == nil && c.MemoryHighBytes == 0 {
				err = l.errorf(kp, "must be more than 0 (or max)")
			}

		case "swap_max":
			c.SwapMaxBytes, err = l.limit(v, kp)
		case "oom_group":
			c.OOMGroup, err = l.boolean(v, kp)
		case "page_cache":
			c.PageCacheBytes, err = l.size(v, kp)
		}
		return err
	})
	if err == nil && c.Path == "" {
		err = l.errorf(join(p, "path"), "required (e.g. /kubepods/pod1)")
	}
	return c, err
}

func (l *loader) cgroupPath(v *yaml.Node, kp string) (string, error) {
	s, err := l.str(v, kp)
	if err != nil {
		return "", err
	}
	if !strings.HasPrefix(s, "/") {
		return "", l.errorf(kp, "%q must be absolute (start with /)", s)
	}
	c := path.Clean(s)
	if c != s || strings.ContainsAny(s, " \t\n,") {
		return "", l.errorf(kp, "%q is not a clean cgroup path (e.g. /kubepods/pod1)", s)
	}
	return c, nil
}

func (l *loader) pod(n *yaml.Node, p string) (Pod, error) {
	var pod Pod
	err := l.fields(n, p, []string{"name", "uid", "priority", "critical", "containers"}, func(k string, v *yaml.Node, kp string) error {
		var err error
		switch k {
		case "name":
			pod.Name, err = l.str(v, kp)
		case "uid":
			pod.UID, err = l.str(v, kp)
			if err == nil && (pod.UID == "" || strings.ContainsAny(pod.UID, "/ \t")) {
				err = l.errorf(kp, "%q is not a pod UID", pod.UID)
			}
		case "priority":
			pod.Priority, err = l.integer(v, kp, -2147483648, 2147483647)
		case "critical":
			pod.Critical, err = l.boolean(v, kp)
		case "containers":
			err = l.seq(v, kp, func(i int, v *yaml.Node, ip string) error {
				c, err := l.container(v, ip)
				pod.Containers = append(pod.Containers, c)
				return err
			})
		}
		return err
	})
	if err != nil {
		return pod, err
	}
	if pod.Name == "" {
		return pod, l.errorf(join(p, "name"), "required")
	}
	if len(pod.Containers) == 0 {
		return pod, l.errorf(join(p, "containers"), "required: at least one container")
	}
	return pod, nil
}

func (l *loader) container(n *yaml.Node, p string) (Container, error) {
	var c Container
	res := func(v *yaml.Node, kp string, mem, cpu *int64) error {
		return l.fields(v, kp, []string{"memory", "cpu"}, func(k string, v *yaml.Node, kp string) error {
			var err error
			switch k {
			case "memory":
				*mem, err = l.quantity(v, kp)
			case "cpu":
				var s string
				if s, err = l.str(v, kp); err == nil {
					*cpu, err = parseCPU(s)
					if err != nil {
						err = l.errorf(kp, "%v", err)
					}
				}
			}
			return err
		})
	}
	err := l.fields(n, p, []string{"name", "requests", "limits"}, func(k string, v *yaml.Node, kp string) error {
		switch k {
		case "name":
			var err error
			c.Name, err = l.str(v, kp)
			return err
		case "requests":
			return res(v, kp, &c.RequestBytes, &c.CPURequestMilli)
		case "limits":
			return res(v, kp, &c.LimitBytes, &c.CPULimitMilli)
		}
		return nil
	})
	if err == nil && c.Name == "" {
		err = l.errorf(join(p, "name"), "required")
	}
	if err == nil && c.LimitBytes > 0 && c.RequestBytes > c.LimitBytes {
		err = l.errorf(join(p, "requests.memory"), "%s is more than limits.memory (%s)", bytesize.Format(c.RequestBytes), bytesize.Format(c.LimitBytes))
	}
	return c, err
}

// parseCPU reads a Kubernetes CPU quantity: "500m" or "2" or "0.5".
func parseCPU(s string) (int64, error) {
	if m, ok := strings.CutSuffix(s, "m"); ok {
		v, err := strconv.ParseInt(m, 10, 64)
		if err != nil || v < 0 {
			return 0, fmt.Errorf("%q is not a CPU quantity (e.g. 500m or 2)", s)
		}
		return v, nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f < 0 || f > 1e9 || math.IsNaN(f) {
		return 0, fmt.Errorf("%q is not a CPU quantity (e.g. 500m or 2)", s)
	}
	return int64(math.Round(f * 1000)), nil
}

func (l *loader) process(n *yaml.Node, p string) (Process, error) {
	pr := Process{Runtime: Runtime{Kind: RuntimeNative}}
	var runtimeNode *yaml.Node
	var runtimeKnobs = map[string]*yaml.Node{}
	var runtimePath string
	err := l.fields(n, p, []string{"name", "pid", "uid", "cgroup", "pod", "container", "oom_score_adj", "cap_sys_admin",
		"runtime", "dotnet", "jvm", "go", "env", "start", "base", "actions"}, func(k string, v *yaml.Node, kp string) error {
		var err error
		switch k {
		case "name":
			pr.Name, err = l.str(v, kp)
			if err == nil && (pr.Name == "" || strings.ContainsAny(pr.Name, "\n\r")) {
				err = l.errorf(kp, "%q is not a process name", pr.Name)
			}
		case "pid":
			var v64 int64
			v64, err = l.integer(v, kp, 2, 4194304)
			pr.PID = int(v64)
		case "uid":
			var v64 int64
			v64, err = l.integer(v, kp, 0, math.MaxInt32)
			pr.UID = int(v64)
		case "cgroup":
			pr.Cgroup, err = l.cgroupPath(v, kp)
		case "pod":
			pr.Pod, err = l.str(v, kp)
		case "container":
			pr.Container, err = l.str(v, kp)
		case "oom_score_adj":
			var v64 int64
			v64, err = l.integer(v, kp, -1000, 1000)
			adj := int(v64)
			pr.OOMScoreAdj = &adj
		case "cap_sys_admin":
			pr.CapSysAdmin, err = l.boolean(v, kp)
		case "runtime":
			runtimeNode, runtimePath = v, kp
		case "dotnet", "jvm", "go":
			runtimeKnobs[k] = v
		case "env":
			err = l.seq(v, kp, func(i int, v *yaml.Node, ip string) error {
				s, err := l.str(v, ip)
				if err == nil && !strings.Contains(s, "=") {
					err = l.errorf(ip, "%q is not KEY=VALUE", s)
				}
				pr.Runtime.Env = append(pr.Runtime.Env, s)
				return err
			})
		case "start":
			pr.Start, err = l.duration(v, kp)
		case "base":
			err = l.fields(v, kp, []string{"vsz", "rss"}, func(k string, v *yaml.Node, kp string) error {
				var err error
				if k == "vsz" {
					pr.BaseVSZBytes, err = l.size(v, kp)
				} else {
					pr.BaseRSSBytes, err = l.size(v, kp)
				}
				return err
			})
		case "actions":
			pr.Actions, err = l.actions(v, kp, 0)
		}
		return err
	})
	if err != nil {
		return pr, err
	}
	if pr.Name == "" {
		return pr, l.errorf(join(p, "name"), "required")
	}
	if runtimeNode != nil {
		kind, err := l.str(runtimeNode, runtimePath)
		if err != nil {
			return pr, err
		}
		switch kind {
		case RuntimeNative, RuntimeDotnet, RuntimeJVM, RuntimeGo:
			pr.Runtime.Kind = kind
		default:
			return pr, l.errorf(runtimePath, "%q is not a runtime (native, dotnet, jvm or go)", kind)
		}
	}
	for _, k := range []string{"dotnet", "jvm", "go"} {
		v, ok := runtimeKnobs[k]
		if !ok {
			continue
		}
		kp := join(p, k)
		if pr.Runtime.Kind != k {
			return pr, l.errorf(kp, "knobs for %s, but runtime is %s (set runtime: %s)", k, pr.Runtime.Kind, k)
		}
		if err := l.runtimeKnobs(v, kp, &pr.Runtime); err != nil {
			return pr, err
		}
	}
	return pr, nil
}

func (l *loader) runtimeKnobs(n *yaml.Node, p string, rt *Runtime) error {
	switch rt.Kind {
	case RuntimeDotnet:
		return l.fields(n, p, []string{"heap_hard_limit_percent", "heap_hard_limit"}, func(k string, v *yaml.Node, kp string) error {
			var err error
			if k == "heap_hard_limit_percent" {
				rt.DotnetHeapHardLimitPercent, err = l.integer(v, kp, 1, 99)
				if err != nil {
					err = l.errorf(kp, "must be from 1 to 99: the GC ignores other values (if ((percent_of_mem > 0) && (percent_of_mem < 100)))")
				}
			} else {
				rt.DotnetHeapHardLimitBytes, err = l.size(v, kp)
			}
			return err
		})
	case RuntimeJVM:
		return l.fields(n, p, []string{"max_ram_percentage", "xmx"}, func(k string, v *yaml.Node, kp string) error {
			if k == "xmx" {
				var err error
				rt.JVMXmxBytes, err = l.size(v, kp)
				return err
			}
			s, err := l.str(v, kp)
			if err != nil {
				return err
			}
			f, perr := strconv.ParseFloat(s, 64)
			if perr != nil || f <= 0 || f > 100 {
				return l.errorf(kp, "%q is not a percentage from 0 to 100 (e.g. 75.0)", s)
			}
			rt.JVMMaxRAMPercentage = f
			return nil
		})
	case RuntimeGo:
		return l.fields(n, p, []string{"gomemlimit"}, func(k string, v *yaml.Node, kp string) error {
			var err error
			rt.GoMemLimitBytes, err = l.size(v, kp)
			return err
		})
	}
	return nil
}

const maxForkDepth = 16

func (l *loader) actions(n *yaml.Node, p string, depth int) ([]Action, error) {
	var out []Action
	err := l.seq(n, p, func(i int, v *yaml.Node, ip string) error {
		if v.Kind != yaml.MappingNode || len(v.Content) != 2 {
			return l.errorf(ip, "want one of alloc, fork, sleep, sysctl, exit (e.g. - sleep: 5s)")
		}
		var a Action
		err := l.fields(v, ip, []string{ActAlloc, ActFork, ActSleep, ActSysctl, ActExit}, func(k string, v *yaml.Node, kp string) error {
			a.Kind = k
			var err error
			switch k {
			case ActAlloc:
				a.Alloc, err = l.alloc(v, kp)
			case ActFork:
				if depth >= maxForkDepth {
					return l.errorf(kp, "forks nest more than %d deep", maxForkDepth)
				}
				a.Fork, err = l.fork(v, kp, depth)
			case ActSleep:
				a.Sleep, err = l.duration(v, kp)
			case ActSysctl:
				a.Sysctl = map[string]int64{}
				err = l.sysctls(v, kp, func(k string, val int64) { a.Sysctl[k] = val })
			case ActExit:
				empty := v.Kind == yaml.ScalarNode && v.Tag == "!!null" || v.Kind == yaml.MappingNode && len(v.Content) == 0
				if !empty {
					err = l.errorf(kp, "takes no arguments (write exit: {})")
				}
			}
			return err
		})
		out = append(out, a)
		return err
	})
	return out, err
}

func (l *loader) alloc(n *yaml.Node, p string) (*Alloc, error) {
	a := &Alloc{Repeat: 1, Mapping: mm.MapPrivate}
	var blockSet bool
	err := l.fields(n, p, []string{"block", "touch", "every", "repeat", "mapping"}, func(k string, v *yaml.Node, kp string) error {
		var err error
		switch k {
		case "block":
			a.BlockBytes, err = l.size(v, kp)
			if err == nil && a.BlockBytes <= 0 {
				err = l.errorf(kp, "must be more than 0")
			}
			blockSet = true
		case "touch":
			var s string
			if s, err = l.str(v, kp); err == nil {
				a.TouchPercent, err = bytesize.ParsePercent(s)
				if err != nil {
					err = l.errorf(kp, "%v", err)
				}
			}
		case "every":
			a.Every, err = l.duration(v, kp)
		case "repeat":
			var r int64
			r, err = l.integer(v, kp, 0, 1<<31-1)
			a.Repeat = int(r)
		case "mapping":
			var s string
			if s, err = l.str(v, kp); err == nil {
				switch s {
				case "private":
					a.Mapping = mm.MapPrivate
				case "shared":
					a.Mapping = mm.MapShared
				case "noreserve":
					a.Mapping = mm.MapNoReserve
				case "tmpfs":
					a.Mapping = mm.MapTmpfs
				default:
					err = l.errorf(kp, "%q is not a mapping (private, shared, noreserve or tmpfs)", s)
				}
			}
		}
		return err
	})
	if err == nil && !blockSet {
		err = l.errorf(join(p, "block"), "required (e.g. 100MiB)")
	}
	if err == nil && a.Repeat == 0 && a.Every <= 0 {
		err = l.errorf(join(p, "every"), "required when repeat is 0 (allocate until stopped), e.g. every: 1s")
	}
	return a, err
}

func (l *loader) fork(n *yaml.Node, p string, depth int) (*Fork, error) {
	f := &Fork{}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return f, nil
	}
	err := l.fields(n, p, []string{"name", "pid", "actions"}, func(k string, v *yaml.Node, kp string) error {
		var err error
		switch k {
		case "name":
			f.Name, err = l.str(v, kp)
		case "pid":
			var v64 int64
			v64, err = l.integer(v, kp, 2, 4194304)
			f.PID = int(v64)
		case "actions":
			f.Actions, err = l.actions(v, kp, depth+1)
		}
		return err
	})
	return f, err
}

// ParseDuration reads a Go duration ("10s", "1m30s", "500ms") or 0.
func ParseDuration(s string) (time.Duration, error) {
	if s == "0" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("%q is not a duration (use e.g. 10s, 1m30s or 500ms)", s)
	}
	return d, nil
}
