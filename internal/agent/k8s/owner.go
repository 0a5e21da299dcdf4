package k8s

import (
	"context"
	"sync"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// maxOwners bounds the owner cache; when full it starts again empty (a
// node runs a few hundred pods at most, so this happens only with churn).
const maxOwners = 4096

// ownerCache follows a pod's controller to its top controller. A
// ReplicaSet's Deployment and a Job's CronJob are in the ReplicaSet's and
// Job's own ownerReferences, so attribution needs one GET of the
// ReplicaSet or Job — once per owner, when a kill first needs it — and RBAC
// `get` on replicasets and jobs. The alternatives cost more: an informer
// on ReplicaSets or Jobs would LIST and WATCH every one in the cluster from
// every node, all the time; reading the Deployment's name off the
// ReplicaSet's name (minus its pod-template-hash) is a guess that other
// controllers (Argo Rollouts, custom ones) break.
type ownerCache struct {
	client *Client
	mu     sync.Mutex
	top    map[types.UID]metav1.OwnerReference // a ReplicaSet's or Job's controller
}

func newOwnerCache(client *Client) *ownerCache {
	return &ownerCache{client: client, top: map[types.UID]metav1.OwnerReference{}}
}

// workload is pod's top controller: kind and name.
func (o *ownerCache) workload(ctx context.Context, pod *corev1.Pod) (string, string) {
	kind, name, ref := o.cached(pod)
	if ref == nil {
		return kind, name
	}
	top, err := o.fetch(ctx, pod.Namespace, ref)
	if err != nil {
		// Not cached: the next kill tries again.
		return ref.Kind, ref.Name
	}
	return top.Kind, top.Name
}

// cached is pod's top controller as far as known without a request; ref
// is the pod's ReplicaSet or Job when its own controller is not cached
// yet (kind and name are then that ReplicaSet's or Job's).
func (o *ownerCache) cached(pod *corev1.Pod) (kind, name string, ref *metav1.OwnerReference) {
	ref = metav1.GetControllerOf(pod)
	if ref == nil {
		return "Pod", pod.Name, nil
	}
	if (ref.Kind != "ReplicaSet" || ref.APIVersion != "apps/v1") && (ref.Kind != "Job" || ref.APIVersion != "batch/v1") {
		return ref.Kind, ref.Name, nil
	}
	o.mu.Lock()
	top, ok := o.top[ref.UID]
	o.mu.Unlock()
	if ok {
		return top.Kind, top.Name, nil
	}
	return ref.Kind, ref.Name, ref
}

// fetch reads the ReplicaSet or Job ref (in namespace ns) and caches its
// controller.
func (o *ownerCache) fetch(ctx context.Context, ns string, ref *metav1.OwnerReference) (metav1.OwnerReference, error) {
	var meta *metav1.ObjectMeta
	if ref.Kind == "ReplicaSet" {
		rs, err := o.client.ReplicaSets(ns).Get(ctx, ref.Name, metav1.GetOptions{})
		if err != nil {
			return metav1.OwnerReference{}, err
		}
		meta = &rs.ObjectMeta
	} else {
		job, err := o.client.Jobs(ns).Get(ctx, ref.Name, metav1.GetOptions{})
		if err != nil {
			return metav1.OwnerReference{}, err
		}
		meta = &job.ObjectMeta
	}
	top := *ref
	if c := metav1.GetControllerOfNoCopy(meta); c != nil && meta.UID == ref.UID {
		top = *c
	}
	o.mu.Lock()
	if len(o.top) >= maxOwners {
		o.top = map[types.UID]metav1.OwnerReference{}
	}
	o.top[ref.UID] = top
	o.mu.Unlock()
	return top, nil
}
