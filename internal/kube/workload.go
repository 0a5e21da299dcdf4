package kube

import (
	"strconv"

	corev1 "k8s.io/api/core/v1"
)

// Source locates a document: the file ("-" for stdin) and the line its
// document starts on (1-based).
type Source struct {
	File string
	Line int
}

// String prints "file:line".
func (s Source) String() string { return s.File + ":" + strconv.Itoa(s.Line) }

// Workload is one pod, or one workload's pod template turned into the pod
// its controller would create.
type Workload struct {
	// Kind and Name are the object that carried the pod: "Pod", "Deployment", …
	Kind, Name string
	// Namespace is metadata.namespace, "" when the manifest does not say.
	Namespace string
	// Pod is the pod (for templates: metadata from the template, name and
	// namespace from the workload). No defaulting has been applied.
	Pod *corev1.Pod
	// Source is where the object starts.
	Source Source
}

// LimitRangeDoc is a LimitRange read from a manifest.
type LimitRangeDoc struct {
	LimitRange *corev1.LimitRange
	Source     Source
}
