package k8s

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"

	"github.com/oomkit/oomkit/internal/kube"
)

// Attribution is what a memory cgroup path, and the API server's Pod
// behind it, say about a kill's container. Fields that are not known are
// "" or nil.
type Attribution struct {
	// From the cgroup path alone (internal/kube's decoding), known even
	// when the API server is not.

	// Scope is the level of the kubelet's hierarchy the path ends at:
	// "container", "pod", "qos", "node" (kubepods); "" when the path is
	// not under kubepods.
	Scope       string
	PodUID      string
	ContainerID string

	// From the API server.

	// Resolved is true when the pod was found (alive, or deleted within
	// the retention window).
	Resolved bool
	// Deleted is true when the pod has been deleted since.
	Deleted   bool
	Namespace string
	Pod       string
	Node      string
	// WorkloadKind and Workload are the pod's top controller: a
	// ReplicaSet is followed to its Deployment and a Job to its CronJob;
	// StatefulSet, DaemonSet and others are taken as they are; "Pod" and
	// the pod's name when it has no controller.
	WorkloadKind string
	Workload     string
	// Container is the container's name, from the container statuses'
	// IDs; "" for the pod sandbox (pause) or an ID no status carried.
	Container string
	// ContainerType is "regular", "init", "sidecar" (restartable init)
	// or "ephemeral", as oomkit.container/v1 spells them.
	ContainerType string
	// QOSClass is the pod's status.qosClass (or the path's tier).
	QOSClass string
	// MemoryRequestBytes and MemoryLimitBytes are the container's, after
	// the API server's defaulting; nil when unset.
	MemoryRequestBytes *int64
	MemoryLimitBytes   *int64
}

// FieldPath is the container's field path in the pod, as the kubelet puts
// it in its Events' involvedObject ("spec.containers{app}"); "" when the
// container is not known.
func (a *Attribution) FieldPath() string {
	switch {
	case a.Container == "":
		return ""
	case a.ContainerType == kube.ContainerInit || a.ContainerType == kube.ContainerSidecar:
		return "spec.initContainers{" + a.Container + "}"
	case a.ContainerType == kube.ContainerEphemeral:
		return "spec.ephemeralContainers{" + a.Container + "}"
	}
	return "spec.containers{" + a.Container + "}"
}

// ResolverOptions tune a Resolver; zero values take the defaults.
type ResolverOptions struct {
	// DeletedRetention is how long a deleted pod stays resolvable, so a
	// kill followed at once by the pod's deletion is still attributed.
	// Default 10 minutes.
	DeletedRetention time.Duration
	// Now is the clock (tests).
	Now func() time.Time
}

// DefaultDeletedRetention is ResolverOptions.DeletedRetention's default.
const DefaultDeletedRetention = 10 * time.Minute

// maxIDsPerPod bounds the container IDs remembered per pod: the current
// and previous instance of every container, and those seen in between.
const maxIDsPerPod = 64

// Resolver maps memory cgroup paths to the pods of one node. It keeps a pod
// informer restricted to the node (field selector spec.nodeName): one LIST
// and one WATCH, no other requests at idle.
type Resolver struct {
	client   *Client
	node     string
	opts     ResolverOptions
	informer cache.SharedIndexInformer
	reg      cache.ResourceEventHandlerRegistration
	owners   *ownerCache

	mu   sync.Mutex
	pods map[string]*podEntry // by pod UID, and by a static pod's config hash
}

// podEntry is the latest pod the informer saw for a UID, the container IDs
// its statuses have carried, and when it was deleted.
type podEntry struct {
	pod       *corev1.Pod
	ids       map[string]containerRef
	order     []string // ids in the order seen, to drop the oldest
	deletedAt time.Time
}

type containerRef struct{ name, typ string }

// NewResolver builds a Resolver for node. Run starts it; WaitForSync says
// when it is warm.
func NewResolver(client *Client, node string, opts ResolverOptions) (*Resolver, error) {
	if node == "" {
		return nil, errors.New("the node name is empty (set --node-name, or NODE_NAME from the downward API)")
	}
	if opts.DeletedRetention <= 0 {
		opts.DeletedRetention = DefaultDeletedRetention
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	r := &Resolver{client: client, node: node, opts: opts, pods: map[string]*podEntry{}, owners: newOwnerCache(client)}
	sel := fields.OneTermEqualSelector("spec.nodeName", node).String()
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			o.FieldSelector = sel
			return client.Pods(metav1.NamespaceAll).List(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			o.FieldSelector = sel
			return client.Pods(metav1.NamespaceAll).Watch(ctx, o)
		},
	}
	r.informer = cache.NewSharedIndexInformerWithOptions(lw, &corev1.Pod{}, cache.SharedIndexInformerOptions{})
	if err := r.informer.SetTransform(slimPod); err != nil {
		return nil, err
	}
	reg, err := r.informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { r.observe(obj) },
		UpdateFunc: func(_, obj any) { r.observe(obj) },
		DeleteFunc: r.deleted,
	})
	if err != nil {
		return nil, err
	}
	r.reg = reg
	return r, nil
}

// Run runs the informer until ctx ends.
func (r *Resolver) Run(ctx context.Context) { r.informer.RunWithContext(ctx) }

// Synced reports whether the informer has listed the node's pods once and
// handed them all to the Resolver.
func (r *Resolver) Synced() bool { return r.reg.HasSynced() }

// WaitForSync blocks until Synced or ctx ends.
func (r *Resolver) WaitForSync(ctx context.Context) error {
	if !cache.WaitForCacheSync(ctx.Done(), r.reg.HasSynced) {
		return fmt.Errorf("list the pods of node %s: %w", r.node, context.Cause(ctx))
	}
	return nil
}

// slimPod drops what attribution never reads (managed fields, the
// last-applied annotation, environment, volumes), so a node's pods cost
// little memory in the informer.
func slimPod(obj any) (any, error) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return obj, nil
	}
	pod.ManagedFields = nil
	delete(pod.Annotations, corev1.LastAppliedConfigAnnotation)
	pod.Spec.Volumes = nil
	for _, cs := range [][]corev1.Container{pod.Spec.Containers, pod.Spec.InitContainers} {
		for i := range cs {
			cs[i].Env, cs[i].EnvFrom, cs[i].VolumeMounts = nil, nil, nil
			cs[i].Command, cs[i].Args = nil, nil
		}
	}
	for i := range pod.Spec.EphemeralContainers {
		c := &pod.Spec.EphemeralContainers[i]
		c.Env, c.EnvFrom, c.VolumeMounts, c.Command, c.Args = nil, nil, nil, nil, nil
	}
	return pod, nil
}

// observe records a pod's latest state and the container IDs it carries.
func (r *Resolver) observe(obj any) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	e := r.entry(pod)
	e.pod, e.deletedAt = pod, time.Time{}
	recordIDs(e, pod)
	r.pruneLocked()
}

// deleted keeps a deleted pod resolvable for the retention window.
func (r *Resolver) deleted(obj any) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	e := r.entry(pod)
	e.pod, e.deletedAt = pod, r.opts.Now()
	recordIDs(e, pod)
	r.pruneLocked()
}

// entry finds or adds the entry of pod, under its UID and, for a mirror
// pod, under the static pod's config hash its cgroup is named after.
func (r *Resolver) entry(pod *corev1.Pod) *podEntry {
	e := r.pods[string(pod.UID)]
	if e == nil {
		e = &podEntry{ids: map[string]containerRef{}}
		r.pods[string(pod.UID)] = e
	}
	if h := pod.Annotations[corev1.MirrorPodAnnotationKey]; h != "" {
		r.pods[h] = e
	}
	return e
}

// pruneLocked forgets pods deleted longer ago than the retention.
func (r *Resolver) pruneLocked() {
	cut := r.opts.Now().Add(-r.opts.DeletedRetention)
	for k, e := range r.pods {
		if !e.deletedAt.IsZero() && e.deletedAt.Before(cut) {
			delete(r.pods, k)
		}
	}
}

// recordIDs remembers the container IDs of pod's statuses, current and
// last terminated: a container that restarts after its main process was
// killed already shows a new ID by the time the kill is resolved.
func recordIDs(e *podEntry, pod *corev1.Pod) {
	add := func(id string, ref containerRef) {
		_, id, ok := strings.Cut(id, "://")
		if !ok || id == "" {
			return
		}
		if _, seen := e.ids[id]; !seen {
			e.order = append(e.order, id)
		}
		e.ids[id] = ref
		for len(e.order) > maxIDsPerPod {
			delete(e.ids, e.order[0])
			e.order = e.order[1:]
		}
	}
	types := containerTypes(pod)
	for _, list := range [][]corev1.ContainerStatus{pod.Status.InitContainerStatuses, pod.Status.ContainerStatuses, pod.Status.EphemeralContainerStatuses} {
		for _, cs := range list {
			ref := containerRef{name: cs.Name, typ: types[cs.Name]}
			add(cs.ContainerID, ref)
			if t := cs.LastTerminationState.Terminated; t != nil {
				add(t.ContainerID, ref)
			}
			if t := cs.State.Terminated; t != nil {
				add(t.ContainerID, ref)
			}
		}
	}
}

// containerTypes maps each container name of pod to its type.
func containerTypes(pod *corev1.Pod) map[string]string {
	m := map[string]string{}
	for i := range pod.Spec.InitContainers {
		m[pod.Spec.InitContainers[i].Name] = kube.ContainerInit
		if kube.IsSidecar(pod, &pod.Spec.InitContainers[i]) {
			m[pod.Spec.InitContainers[i].Name] = kube.ContainerSidecar
		}
	}
	for i := range pod.Spec.Containers {
		m[pod.Spec.Containers[i].Name] = kube.ContainerRegular
	}
	for i := range pod.Spec.EphemeralContainers {
		m[pod.Spec.EphemeralContainers[i].Name] = kube.ContainerEphemeral
	}
	return m
}

// Resolve attributes a memory cgroup path. It never fails: what the path
// says is always there, and the API server's facts when the informer has
// the pod. Only a pod owned by a ReplicaSet or Job costs a request (a GET
// of the owner, cached), and only the first time that owner is seen.
func (r *Resolver) Resolve(ctx context.Context, cgroupPath string) Attribution {
	a, pod := r.lookup(cgroupPath)
	if pod != nil {
		a.WorkloadKind, a.Workload = r.owners.workload(ctx, pod)
	}
	return a
}

// Lookup is Resolve without a request, for a caller that must not wait
// for the network (the agent's loop): complete is false when the pod's
// top controller needs the GET Resolve makes (WorkloadKind and Workload
// then name its ReplicaSet or Job).
func (r *Resolver) Lookup(cgroupPath string) (a Attribution, complete bool) {
	a, pod := r.lookup(cgroupPath)
	if pod == nil {
		return a, true
	}
	var ref *metav1.OwnerReference
	a.WorkloadKind, a.Workload, ref = r.owners.cached(pod)
	return a, ref == nil
}

// lookup attributes a path from the informer's view; pod is nil when the
// pod is not known.
func (r *Resolver) lookup(cgroupPath string) (Attribution, *corev1.Pod) {
	info, ok := kube.ParsePath(cgroupPath)
	if !ok {
		return Attribution{}, nil
	}
	a := Attribution{Scope: info.Scope, PodUID: info.PodUID, ContainerID: info.ContainerID, QOSClass: info.QOSClass}
	if a.PodUID == "" {
		return a, nil
	}
	r.mu.Lock()
	e := r.pods[a.PodUID]
	var pod *corev1.Pod
	var ref containerRef
	var deleted bool
	if e != nil && (e.deletedAt.IsZero() || r.opts.Now().Sub(e.deletedAt) <= r.opts.DeletedRetention) {
		pod, deleted = e.pod, !e.deletedAt.IsZero()
		ref = lookupID(e, a.ContainerID)
	}
	r.mu.Unlock()
	if pod == nil {
		return a, nil
	}
	a.Resolved, a.Deleted = true, deleted
	a.Namespace, a.Pod, a.Node = pod.Namespace, pod.Name, pod.Spec.NodeName
	if pod.Status.QOSClass != "" {
		a.QOSClass = string(pod.Status.QOSClass)
	}
	a.Container, a.ContainerType = ref.name, ref.typ
	if c := findContainer(pod, ref.name); c != nil {
		a.MemoryRequestBytes = memoryBytes(c.Resources.Requests)
		a.MemoryLimitBytes = memoryBytes(c.Resources.Limits)
	}
	return a, pod
}

// lookupID finds a container by its full ID, or by a short form (≥ 12 hex
// digits) either side may carry.
func lookupID(e *podEntry, id string) containerRef {
	if id == "" {
		return containerRef{}
	}
	if ref, ok := e.ids[id]; ok {
		return ref
	}
	for full, ref := range e.ids {
		if strings.HasPrefix(full, id) || strings.HasPrefix(id, full) {
			return ref
		}
	}
	return containerRef{}
}

func findContainer(pod *corev1.Pod, name string) *corev1.Container {
	if name == "" {
		return nil
	}
	for _, list := range [][]corev1.Container{pod.Spec.Containers, pod.Spec.InitContainers} {
		for i := range list {
			if list[i].Name == name {
				return &list[i]
			}
		}
	}
	for i := range pod.Spec.EphemeralContainers {
		if pod.Spec.EphemeralContainers[i].Name == name {
			c := corev1.Container(pod.Spec.EphemeralContainers[i].EphemeralContainerCommon)
			return &c
		}
	}
	return nil
}

// memoryBytes is the memory entry of l in bytes, nil when absent.
func memoryBytes(l corev1.ResourceList) *int64 {
	q, ok := l[corev1.ResourceMemory]
	if !ok {
		return nil
	}
	n := q.Value()
	return &n
}

// confirm asks the API server directly whether a pod with uid runs on the
// node (a fresh LIST), for a kill the informer cannot attribute: the pod
// may be newer than the informer's view after an outage. A pod found is
// added to the Resolver.
func (r *Resolver) confirm(ctx context.Context, uid string) (bool, error) {
	sel := fields.OneTermEqualSelector("spec.nodeName", r.node).String()
	list, err := r.client.Pods(metav1.NamespaceAll).List(ctx, metav1.ListOptions{FieldSelector: sel})
	if err != nil {
		return false, err
	}
	found := false
	for i := range list.Items {
		pod := &list.Items[i]
		if string(pod.UID) == uid || pod.Annotations[corev1.MirrorPodAnnotationKey] == uid {
			p, _ := slimPod(pod.DeepCopy())
			r.observe(p)
			found = true
		}
	}
	return found, nil
}
