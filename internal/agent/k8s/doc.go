// Package k8s is the agent's side of the Kubernetes API (and, with
// internal/agent/metrics, the only place client-go is imported): it
// attributes a memory cgroup to its pod and container, writes one Event
// per OOM kill on the pod (and the node), and reads those Events back for
// `oomkit events`.
//
// It speaks to the API server through Client (client.go), its own small
// client over client-go's REST client for the four API groups it uses,
// not client-go's clientset: that one links every API group into the
// oomkit binary (internal/layering checks that it stays out).
//
// # Attribution
//
// A Resolver keeps a pod informer restricted to one node (field selector
// spec.nodeName): one LIST and one WATCH, nothing else at idle. Resolve
// decodes a memory cgroup path with internal/kube (pod UID, container ID,
// QoS tier) and adds what the API server knows: namespace, pod, the top
// controller (a ReplicaSet's Deployment and a Job's CronJob, found with one
// cached GET of the ReplicaSet or Job), the container's name (matched on
// the statuses' container IDs, current and previous, of containers, init
// containers and ephemeral containers), its type, the QoS class and the
// container's memory request and limit. Pods deleted in the last
// ResolverOptions.DeletedRetention (10 min) stay resolvable. When the API
// server is unreachable the informer keeps its last view; a pod it never
// saw is attributed with what the path says (Resolved false) and can be
// resolved again later.
//
// # Events
//
// A Publisher writes events.k8s.io/v1 Events, type Warning, reporting
// controller "oomkit.io/agent":
//
//   - on the Pod, with the container's field path (spec.containers{NAME})
//     as the kubelet does: reason OOMKill when the container's main
//     process or the whole container died (Kubernetes will also say
//     OOMKilled), OOMKillChild when a child died and the container keeps
//     running — the kill Kubernetes never reports; RoleUnknown gives
//     OOMKill;
//   - on the Node (namespace default): OOMKillGlobal for a global OOM,
//     naming the pods hit (the victim's pod also gets its pod Event);
//     OOMKill for a kill outside any pod, or in a pod that neither the
//     informer nor a fresh LIST knows (deleted before the agent saw it).
//
// The note is a headline (who died, at which limit, what it means for the
// container) followed by the explanation's summary, cut at a sentence to
// fit the API's 1024-byte limit. Annotations (oomkit.io/...) carry the
// facts `oomkit events` prints.
//
// Never doubled. An Event's name is "<object>.<hash>", the hash the first
// 64 bits of SHA-256 over the node and the kill's stable ID, so creating
// the same kill's Event again — after a restart, a replay, or a retry
// whose first attempt reached the server — is refused with AlreadyExists,
// which counts as done. Each Event also lists the hashes of every kill it
// stands for (annotation oomkit.io/kill-ids, up to 500), and Run reads
// them back with one LIST of this node's Events before writing anything,
// so kills that were folded into another kill's Event are not written
// again either. client-go's recorders (tools/events, tools/record) do not
// fit: they name Events by timestamp (a restart doubles them), aggregate
// in memory only, give up after 12 tries without counting, and keep one
// goroutine per pending Event, unbounded.
//
// Bounded writes. Creates pass a token bucket (PublisherOptions.QPS, 1/s,
// Burst 10). Kills that arrive while an Event of the same container and
// reason waits to be written fold into it (series.count, the note says
// how many and over what time), so a storm on one container makes one
// Event per write slot however many kills it has, and a node never
// writes more than Burst + QPS·t Events in t seconds. docs/events.md has
// the numbers.
//
// API server down. Waiting Events stay in a bounded buffer
// (MaxPendingEvents 1000, MaxPendingKills 10000) and the whole Publisher
// backs off (RetryMin 1 s doubling to RetryMax 1 min) while creates fail
// without an answer or with 429/5xx, then writes them in order. A kill
// that does not fit is dropped and counted (Stats.DroppedKills); an Event
// the API server refuses for good (403, 422) is logged and counted
// (Stats.FailedKills).
//
// # For the agent
//
//	client, _, err := k8s.NewClient(k8s.ClientOptions{Kubeconfig: flagKubeconfig}) // in-cluster without one
//	res, err := k8s.NewResolver(client, nodeName, k8s.ResolverOptions{})
//	go res.Run(ctx)
//	if err := res.WaitForSync(ctx); err != nil { … }            // warm before the first kill
//	pub, err := k8s.NewPublisher(client, res, k8s.PublisherOptions{
//		Node:      nodeName,
//		Published: func(ids []string) { store.MarkPublished(ids) }, // optional
//	})
//	go pub.Run(ctx)
//	…
//	// per kill, once the agent has its stable ID and knows main/child:
//	pub.Publish(k8s.KillFromEvent(id, when, &explained, k8s.RoleChild))
//	// or, for a kill the counters saw without a report:
//	pub.Publish(k8s.Kill{ID: id, Time: when, CgroupPath: cg, Report: "missing"})
//	// labels for oomkit_oom_kills_total:
//	a := res.Resolve(ctx, cgroupPath) // a.Namespace, a.Pod, a.Container ("" when unknown)
//	// metrics: pub.Stats() (DroppedKills, FailedKills, Written, …)
//	// on SIGTERM: pub.WaitIdle(ctxWithDeadline)
//
// Publish never blocks. Across restarts the agent should hand the
// Publisher again the kills whose Published callback has not fired
// (from its store); the Publisher skips those already written.
package k8s
