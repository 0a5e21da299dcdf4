package k8s

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/oomkit/oomkit/internal/kube"
)

// BenchmarkResolve is the attribution of one kill on a full node (110
// pods, the kubelet's default maximum, three containers each): a path
// decode and map lookups, no request. Its baseline is the decode alone,
// kube.ParsePath over the same paths.
func BenchmarkResolve(b *testing.B) {
	r, err := NewResolver(nil, "node-1", ResolverOptions{})
	if err != nil {
		b.Fatal(err)
	}
	var paths []string
	for i := range 110 {
		uid := fmt.Sprintf("0057cc81-ea16-463a-96c2-%012d", i)
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("p-%d", i), Namespace: "ns", UID: types.UID(uid)}}
		pod.Status.QOSClass = corev1.PodQOSBurstable
		for c := range 3 {
			id := fmt.Sprintf("%064x", i*3+c)
			name := fmt.Sprintf("c%d", c)
			pod.Spec.Containers = append(pod.Spec.Containers, corev1.Container{Name: name})
			pod.Status.ContainerStatuses = append(pod.Status.ContainerStatuses, corev1.ContainerStatus{Name: name, ContainerID: "containerd://" + id})
			paths = append(paths, kube.ContainerCgroupPath(kube.DriverSystemd, kube.RuntimeContainerd, kube.QOSBurstable, uid, id))
		}
		r.observe(pod)
	}
	ctx := context.Background()
	b.Run("Resolve", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			if a := r.Resolve(ctx, paths[i%len(paths)]); a.Container == "" {
				b.Fatalf("%s not resolved", paths[i%len(paths)])
			}
		}
	})
	b.Run("ParsePath", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			if _, ok := kube.ParsePath(paths[i%len(paths)]); !ok {
				b.Fatal("not a pod path")
			}
		}
	})
}

// BenchmarkPodEvent is building one Event: hashes, headline, the note cut
// to 1 KiB.
func BenchmarkPodEvent(b *testing.B) {
	k := kill("boot:1", time.Unix(1700000000, 0), "/kubepods/burstable/pod0057cc81-ea16-463a-96c2-fc74acfb9c47/"+strings.Repeat("a", 64), RoleChild, 4242)
	k.Summary = strings.Repeat("The kernel killed python3 (pid 4242, 120 MiB resident). ", 30)
	a := Attribution{Pod: "web-0", Namespace: "shop", Container: "app", ContainerType: "regular", PodUID: "0057cc81-ea16-463a-96c2-fc74acfb9c47"}
	g := newGroup([]Kill{k})
	b.ReportAllocs()
	for b.Loop() {
		if ev := podEvent("node-1", g, a); len(ev.Note) > NoteLimit {
			b.Fatal("note too long")
		}
	}
}
