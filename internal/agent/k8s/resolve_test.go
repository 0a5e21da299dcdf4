package k8s

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/oomkit/oomkit/internal/kube"
)

func ptr64(n int64) *int64 { return &n }

// TestResolveRealAPIServer attributes cgroup paths of the kubelet's shapes
// (cgroupfs and systemd, under a prefix) to Pods created in a real API
// server. The expected values are what the test wrote into the API server.
func TestResolveRealAPIServer(t *testing.T) {
	s := shared.Get(t)
	c, _ := client(t, s, "")
	rc, req := client(t, s, "") // the Resolver's, to count its requests alone
	ns, node := randomName("shop-"), randomName("node-")
	mustNamespace(t, c, ns)

	app, appPrev, proxy, setup := randomID(), randomID(), randomID(), randomID()
	web := createPod(t, c, podSpec{
		ns: ns, name: "checkout-7d9f8b6c5-x2x7k", node: node,
		owner:      deploymentChain(t, c, ns, "checkout", "checkout-7d9f8b6c5"),
		containers: []containerSpec{{name: "app", req: "256Mi", limit: "512Mi", id: app, prev: appPrev}},
		init: []containerSpec{
			{name: "setup", req: "64Mi", limit: "64Mi", id: setup},
			{name: "proxy", req: "32Mi", sidecar: true, id: proxy},
		},
	})
	batch, batchC := randomID(), randomID()
	job := createPod(t, c, podSpec{
		ns: ns, name: "nightly-29300-abcde", node: node,
		owner:      cronJobChain(t, c, ns, "nightly", "nightly-29300"),
		containers: []containerSpec{{name: "batch", id: batch}},
	})
	dbID := randomID()
	db := createPod(t, c, podSpec{
		ns: ns, name: "db-0", node: node,
		owner:      controllerRef("apps/v1", "StatefulSet", "db", "6c0b8e3e-0000-4000-8000-000000000001"),
		containers: []containerSpec{{name: "postgres", req: "1Gi", limit: "1Gi", cpu: "500m", id: dbID}},
	})
	bare := createPod(t, c, podSpec{ns: ns, name: "debug", node: node, containers: []containerSpec{{name: "sh", id: randomID()}}})
	otherID := randomID()
	other := createPod(t, c, podSpec{ns: ns, name: "elsewhere", node: node + "-b", containers: []containerSpec{{name: "x", id: otherID}}})

	clock := &fakeClock{}
	clock.set(time.Now())
	r := startResolver(t, rc, node, ResolverOptions{Now: clock.now, DeletedRetention: 5 * time.Minute})
	afterSync := req.total("")

	// An ephemeral container, added the way kubectl debug does, and its
	// status: the informer sees the update.
	ctx := ctxFor(t, time.Minute)
	ephID := randomID()
	bare.Spec.EphemeralContainers = append(bare.Spec.EphemeralContainers, ephemeral("dbg"))
	bare, err := c.CoreV1().Pods(ns).UpdateEphemeralContainers(ctx, bare.Name, bare, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	bare.Status.EphemeralContainerStatuses = append(bare.Status.EphemeralContainerStatuses, containerSpec{name: "dbg", id: ephID}.status())
	bare, err = c.CoreV1().Pods(ns).UpdateStatus(ctx, bare, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the ephemeral container's status", func() bool {
		return r.Resolve(ctx, "/kubepods/besteffort/pod"+string(bare.UID)+"/"+ephID).Container == "dbg"
	})

	burst := func(uid, id string) string {
		return kube.ContainerCgroupPath(kube.DriverCgroupfs, "", kube.QOSBurstable, uid, id)
	}
	want := Attribution{
		Scope: "container", PodUID: string(web.UID), ContainerID: app, Resolved: true,
		Namespace: ns, Pod: web.Name, Node: node, WorkloadKind: "Deployment", Workload: "checkout",
		Container: "app", ContainerType: "regular", QOSClass: "Burstable",
		MemoryRequestBytes: ptr64(256 << 20), MemoryLimitBytes: ptr64(512 << 20),
	}
	tests := []struct {
		name string
		path string
		want Attribution
	}{
		{"cgroupfs under a prefix, as a test memcg carries it", "/process_api/oomkit-test-1/" + burst(string(web.UID), app)[1:], want},
		{"systemd, containerd", kube.ContainerCgroupPath(kube.DriverSystemd, kube.RuntimeContainerd, kube.QOSBurstable, string(web.UID), app), want},
		{"previous instance (lastState)", burst(string(web.UID), appPrev), with(want, func(a *Attribution) { a.ContainerID = appPrev })},
		{"sidecar", burst(string(web.UID), proxy), with(want, func(a *Attribution) {
			a.ContainerID, a.Container, a.ContainerType, a.MemoryRequestBytes, a.MemoryLimitBytes = proxy, "proxy", "sidecar", ptr64(32<<20), nil
		})},
		{"init container", burst(string(web.UID), setup), with(want, func(a *Attribution) {
			a.ContainerID, a.Container, a.ContainerType, a.MemoryRequestBytes, a.MemoryLimitBytes = setup, "setup", "init", ptr64(64<<20), ptr64(64<<20)
		})},
		{"sandbox or unknown container", burst(string(web.UID), batchC), with(want, func(a *Attribution) {
			a.ContainerID, a.Container, a.ContainerType, a.MemoryRequestBytes, a.MemoryLimitBytes = batchC, "", "", nil, nil
		})},
		{"pod level", kube.PodCgroupPath(kube.DriverCgroupfs, kube.QOSBurstable, string(web.UID)), with(want, func(a *Attribution) {
			a.Scope, a.ContainerID, a.Container, a.ContainerType, a.MemoryRequestBytes, a.MemoryLimitBytes = "pod", "", "", "", nil, nil
		})},
		{"Job of a CronJob", kube.ContainerCgroupPath(kube.DriverCgroupfs, "", kube.QOSBestEffort, string(job.UID), batch), Attribution{
			Scope: "container", PodUID: string(job.UID), ContainerID: batch, Resolved: true, Namespace: ns, Pod: job.Name, Node: node,
			WorkloadKind: "CronJob", Workload: "nightly", Container: "batch", ContainerType: "regular", QOSClass: "BestEffort",
		}},
		{"StatefulSet, Guaranteed", kube.ContainerCgroupPath(kube.DriverCgroupfs, "", kube.QOSGuaranteed, string(db.UID), dbID), Attribution{
			Scope: "container", PodUID: string(db.UID), ContainerID: dbID, Resolved: true, Namespace: ns, Pod: "db-0", Node: node,
			WorkloadKind: "StatefulSet", Workload: "db", Container: "postgres", ContainerType: "regular", QOSClass: "Guaranteed",
			MemoryRequestBytes: ptr64(1 << 30), MemoryLimitBytes: ptr64(1 << 30),
		}},
		{"ephemeral container of a bare pod", "/kubepods/besteffort/pod" + string(bare.UID) + "/" + ephID, Attribution{
			Scope: "container", PodUID: string(bare.UID), ContainerID: ephID, Resolved: true, Namespace: ns, Pod: "debug", Node: node,
			WorkloadKind: "Pod", Workload: "debug", Container: "dbg", ContainerType: "ephemeral", QOSClass: "BestEffort",
		}},
		{"pod on another node", burst(string(other.UID), otherID), Attribution{Scope: "container", PodUID: string(other.UID), ContainerID: otherID, QOSClass: "Burstable"}},
		{"not a pod", "/system.slice/containerd.service", Attribution{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := r.Resolve(ctx, tt.path)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Resolve(%s) (-want +got):\n%s", tt.path, diff)
			}
		})
	}

	// Requests: one LIST and one WATCH to warm up (or a single streaming
	// WATCH), one GET each for the ReplicaSet and the Job, the first
	// time only.
	t.Logf("the Resolver's requests: %d to warm up; after %d resolutions: %s", afterSync, len(tests), req)
	if afterSync > 2 {
		t.Errorf("%d requests to warm up, want at most a LIST and a WATCH: %s", afterSync, req)
	}
	if n := req.total("GET replicasets"); n != 1 {
		t.Errorf("%d GETs of the ReplicaSet over %d resolutions, want 1 (cached): %s", n, len(tests), req)
	}
	if n := req.total("GET jobs"); n != 1 {
		t.Errorf("%d GETs of the Job, want 1: %s", n, req)
	}
	if n := req.total("GET deployments") + req.total("GET cronjobs") + req.total("GET statefulsets"); n != 0 {
		t.Errorf("%d GETs of top controllers, want none (their names are in the owner's references): %s", n, req)
	}

	// Deleted: still resolvable within the retention, not after.
	// Grace period 0: no kubelet runs to finish a graceful deletion.
	zero := int64(0)
	if err := c.CoreV1().Pods(ns).Delete(ctx, db.Name, metav1.DeleteOptions{GracePeriodSeconds: &zero}); err != nil {
		t.Fatal(err)
	}
	dbPath := kube.ContainerCgroupPath(kube.DriverCgroupfs, "", kube.QOSGuaranteed, string(db.UID), dbID)
	waitFor(t, "the deletion", func() bool { return r.Resolve(ctx, dbPath).Deleted })
	if got := r.Resolve(ctx, dbPath); got.Pod != "db-0" || got.Container != "postgres" || !got.Resolved {
		t.Errorf("deleted pod within retention: %+v", got)
	}
	clock.advance(5*time.Minute + time.Second)
	if got := r.Resolve(ctx, dbPath); got.Resolved || got.PodUID != string(db.UID) {
		t.Errorf("deleted pod after retention: %+v, want only what the path says", got)
	}
}

func with(a Attribution, f func(*Attribution)) Attribution {
	f(&a)
	return a
}

// waitFor polls cond (an informer catching up) for up to 30 s.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if !cache.WaitForCacheSync(ctx.Done(), cond) {
		t.Fatalf("timed out waiting for %s", what)
	}
}
