package k8s

import (
	"context"
	"errors"
	"net/http"
	"reflect"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/flowcontrol"
)

// Client is oomkit's Kubernetes API client: the few resources of the four
// API groups the agent, `oomkit events` and the scale harness read or
// write, over client-go's REST client.
//
// It stands in for client-go's clientset (k8s.io/client-go/kubernetes),
// whose scheme registers every API group and whose typed clients bring
// every group's apply configurations and the OpenAPI models: linked into
// the one oomkit binary they made it 77 MB instead of 41 MB and every
// oomkit process (an `alloc` child of `oomkit lab`, `explain` on a node
// under memory pressure) start with ~36 MiB resident instead of ~21 MiB
// (BENCHMARKS.md, "The agent's Kubernetes client"). The requests are the
// ones client-go's generated clients send (k8s.io/client-go/gentype):
// protobuf preferred, the same parameters, one transport and one rate
// limiter shared by the groups.
type Client struct {
	core, apps, batch, events rest.Interface
}

// scheme holds only the API groups Client speaks, as
// k8s.io/client-go/kubernetes/scheme holds all of them.
var (
	scheme         = runtime.NewScheme()
	codecs         = serializer.NewCodecFactory(scheme)
	parameterCodec = runtime.NewParameterCodec(scheme)
)

func init() {
	metav1.AddToGroupVersion(scheme, schema.GroupVersion{Version: "v1"})
	for _, add := range []func(*runtime.Scheme) error{corev1.AddToScheme, appsv1.AddToScheme, batchv1.AddToScheme, eventsv1.AddToScheme} {
		utilruntime.Must(add(scheme))
	}
}

// NewClientForConfig builds a Client for cfg, as kubernetes.NewForConfig
// builds a clientset: one HTTP client for all groups, and one rate limiter
// when cfg sets QPS (else each group's default).
func NewClientForConfig(cfg *rest.Config) (*Client, error) {
	c := *cfg
	if c.UserAgent == "" {
		c.UserAgent = rest.DefaultKubernetesUserAgent()
	}
	httpClient, err := rest.HTTPClientFor(&c)
	if err != nil {
		return nil, err
	}
	if c.RateLimiter == nil && c.QPS > 0 {
		if c.Burst <= 0 {
			return nil, errors.New("the client's burst must be > 0 when it sets QPS")
		}
		c.RateLimiter = flowcontrol.NewTokenBucketRateLimiter(c.QPS, c.Burst)
	}
	group := func(gv schema.GroupVersion, apiPath string) (rest.Interface, error) {
		g := c
		g.GroupVersion = &gv
		g.APIPath = apiPath
		g.NegotiatedSerializer = rest.CodecFactoryForGeneratedClient(scheme, codecs).WithoutConversion()
		return rest.RESTClientForConfigAndClient(&g, httpClient)
	}
	var out Client
	for _, g := range []struct {
		into    *rest.Interface
		gv      schema.GroupVersion
		apiPath string
	}{
		{&out.core, corev1.SchemeGroupVersion, "/api"},
		{&out.apps, appsv1.SchemeGroupVersion, "/apis"},
		{&out.batch, batchv1.SchemeGroupVersion, "/apis"},
		{&out.events, eventsv1.SchemeGroupVersion, "/apis"},
	} {
		if *g.into, err = group(g.gv, g.apiPath); err != nil {
			return nil, err
		}
	}
	return &out, nil
}

// Pods are the pods in namespace ns ("" all).
func (c *Client) Pods(ns string) Resources[*corev1.Pod, *corev1.PodList] {
	return Resources[*corev1.Pod, *corev1.PodList]{c.core, "pods", ns}
}

// Nodes are the cluster's nodes.
func (c *Client) Nodes() Resources[*corev1.Node, *corev1.NodeList] {
	return Resources[*corev1.Node, *corev1.NodeList]{c.core, "nodes", ""}
}

// Namespaces are the cluster's namespaces.
func (c *Client) Namespaces() Resources[*corev1.Namespace, *corev1.NamespaceList] {
	return Resources[*corev1.Namespace, *corev1.NamespaceList]{c.core, "namespaces", ""}
}

// ReplicaSets are the ReplicaSets in namespace ns.
func (c *Client) ReplicaSets(ns string) Resources[*appsv1.ReplicaSet, *appsv1.ReplicaSetList] {
	return Resources[*appsv1.ReplicaSet, *appsv1.ReplicaSetList]{c.apps, "replicasets", ns}
}

// Jobs are the Jobs in namespace ns.
func (c *Client) Jobs(ns string) Resources[*batchv1.Job, *batchv1.JobList] {
	return Resources[*batchv1.Job, *batchv1.JobList]{c.batch, "jobs", ns}
}

// Events are the events.k8s.io/v1 Events in namespace ns ("" all).
func (c *Client) Events(ns string) Resources[*eventsv1.Event, *eventsv1.EventList] {
	return Resources[*eventsv1.Event, *eventsv1.EventList]{c.events, "events", ns}
}

// Resources is one resource of one namespace ("" all, or not
// namespaced): O is the object's pointer type, L its list's. Each method
// sends the request client-go's generated client sends.
type Resources[O runtime.Object, L runtime.Object] struct {
	client   rest.Interface
	resource string
	ns       string
}

func (r Resources[O, L]) request(verb string) *rest.Request {
	return r.client.Verb(verb).UseProtobufAsDefault().NamespaceIfScoped(r.ns, r.ns != "").Resource(r.resource)
}

// zero is a new empty object of the type the pointer type O points to.
func zero[O runtime.Object]() O {
	return reflect.New(reflect.TypeFor[O]().Elem()).Interface().(O)
}

// Get reads the object named name.
func (r Resources[O, L]) Get(ctx context.Context, name string, opts metav1.GetOptions) (O, error) {
	out := zero[O]()
	err := r.request(http.MethodGet).Name(name).VersionedParams(&opts, parameterCodec).Do(ctx).Into(out)
	return out, err
}

// List lists the objects opts select.
func (r Resources[O, L]) List(ctx context.Context, opts metav1.ListOptions) (L, error) {
	out := zero[L]()
	err := r.request(http.MethodGet).VersionedParams(&opts, parameterCodec).Timeout(timeout(opts)).Do(ctx).Into(out)
	return out, err
}

// Watch watches the objects opts select.
func (r Resources[O, L]) Watch(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
	opts.Watch = true
	return r.request(http.MethodGet).VersionedParams(&opts, parameterCodec).Timeout(timeout(opts)).Watch(ctx)
}

// Create creates obj.
func (r Resources[O, L]) Create(ctx context.Context, obj O, opts metav1.CreateOptions) (O, error) {
	out := zero[O]()
	err := r.request(http.MethodPost).VersionedParams(&opts, parameterCodec).Body(obj).Do(ctx).Into(out)
	return out, err
}

// UpdateStatus replaces obj's status subresource.
func (r Resources[O, L]) UpdateStatus(ctx context.Context, obj O, opts metav1.UpdateOptions) (O, error) {
	out := zero[O]()
	name := any(obj).(metav1.Object).GetName()
	err := r.request(http.MethodPut).Name(name).SubResource("status").VersionedParams(&opts, parameterCodec).Body(obj).Do(ctx).Into(out)
	return out, err
}

// timeout is a LIST's or WATCH's server-side timeout as the request's.
func timeout(opts metav1.ListOptions) time.Duration {
	if opts.TimeoutSeconds == nil {
		return 0
	}
	return time.Duration(*opts.TimeoutSeconds) * time.Second
}
