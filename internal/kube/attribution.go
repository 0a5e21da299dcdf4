package kube

// Attribution is what a memory cgroup path says about the Kubernetes
// object that owns it, in the one shape every oomkit schema prints it
// (oomkit.event/v1, oomkit.inspect/v1 and oomkit.top/v1 "kubernetes"
// objects; docs/schema-changes.md). A field the path does not carry is
// nil (JSON null).
type Attribution struct {
	// PodUID is the pod's UID with dashes.
	PodUID *string `json:"pod_uid"`
	// ContainerID is the runtime's container ID (the pause container's
	// cgroup looks the same and carries the sandbox ID).
	ContainerID *string `json:"container_id"`
	// QOSClass is Guaranteed (no QoS segment), Burstable or BestEffort.
	QOSClass *string `json:"qos_class"`
	// CgroupDriver is the kubelet's cgroup driver: systemd or cgroupfs.
	CgroupDriver *string `json:"cgroup_driver"`
	// ContainerRuntime is containerd, cri-o or docker when the container
	// cgroup's name says (cgroupfs leaves are bare IDs).
	ContainerRuntime *string `json:"container_runtime"`
	// CgroupLevel is the level of the kubelet's hierarchy the path ends
	// at: container, pod, qos or node (the kubepods cgroup).
	CgroupLevel *string `json:"cgroup_level"`
}

// Attribute decodes a memcg path (ParsePath) into an Attribution; nil
// when the path is not under a kubelet's kubepods hierarchy.
func Attribute(path string) *Attribution {
	info, ok := ParsePath(path)
	if !ok {
		return nil
	}
	// One allocation for the object and its strings: top attributes every
	// process of a node.
	b := &struct {
		a                          Attribution
		pod, ctr, qos, drv, rt, lv string
	}{pod: info.PodUID, ctr: info.ContainerID, qos: info.QOSClass, drv: info.Driver, rt: info.Runtime, lv: info.Scope}
	b.a = Attribution{PodUID: nonEmpty(&b.pod), ContainerID: nonEmpty(&b.ctr), QOSClass: nonEmpty(&b.qos),
		CgroupDriver: nonEmpty(&b.drv), ContainerRuntime: nonEmpty(&b.rt), CgroupLevel: nonEmpty(&b.lv)}
	return &b.a
}

// Attribution is the path's facts in the schemas' shape.
func (i PathInfo) Attribution() Attribution {
	return Attribution{PodUID: nonEmpty(&i.PodUID), ContainerID: nonEmpty(&i.ContainerID), QOSClass: nonEmpty(&i.QOSClass),
		CgroupDriver: nonEmpty(&i.Driver), ContainerRuntime: nonEmpty(&i.Runtime), CgroupLevel: nonEmpty(&i.Scope)}
}

// nonEmpty is s, or nil for "" (unknown).
func nonEmpty(s *string) *string {
	if *s == "" {
		return nil
	}
	return s
}
