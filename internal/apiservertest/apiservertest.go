// Package apiservertest runs a real Kubernetes control plane for tests: etcd
// and kube-apiserver, built from the Go module proxy by
// scripts/k8s-testbin.sh, started on free loopback ports in a temporary
// directory, with RBAC on, a bearer token for an admin (group
// system:masters) and service-account signing keys, so TokenRequest and
// `kubectl create token` work.
//
// A test gets one with New (its own server, stopped when the test ends) or
// shares one per package through a Shared started on first use and stopped
// from TestMain. When the binaries are missing the test skips through
// kerneltest.Skip, which fails under OOMKIT_REQUIRE_KERNEL_TESTS=1, so CI
// cannot pass by skipping.
//
// It imports no client-go: a test builds its clients from Host and Token
// (or the Kubeconfig file), so the package stays usable from any test.
package apiservertest

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/oomkit/oomkit/internal/kerneltest"
)

// Version is the Kubernetes release the binaries are built at; it names the
// cache directory (scripts/k8s-testbin.sh).
const Version = "v1.37.2"

// BinDirEnv overrides where the binaries are looked for.
const BinDirEnv = "OOMKIT_K8S_BIN"

// AdminToken is the bearer token of the server's admin user (group
// system:masters), accepted through --token-auth-file.
const AdminToken = "oomkit-test-admin"

// readyTimeout bounds how long a start waits for /readyz. Readiness is
// polled; the bound only turns a server that never comes up into an error
// with its log, generous because the machines running the tests are small
// and busy.
const readyTimeout = 2 * time.Minute

// ErrNotBuilt is returned (wrapped) by Start when a binary is missing.
var ErrNotBuilt = errors.New("the Kubernetes test binaries are not built (run scripts/k8s-testbin.sh)")

// Binaries are the programs a Server runs.
type Binaries struct {
	APIServer, Etcd, Kubectl string
}

// BinDir is where scripts/k8s-testbin.sh puts the binaries: $OOMKIT_K8S_BIN,
// else ${XDG_CACHE_HOME:-~/.cache}/oomkit/k8s-<Version>.
func BinDir() string {
	if d := os.Getenv(BinDirEnv); d != "" {
		return d
	}
	cache := os.Getenv("XDG_CACHE_HOME")
	if cache == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return ""
		}
		cache = filepath.Join(home, ".cache")
	}
	return filepath.Join(cache, "oomkit", "k8s-"+Version)
}

// FindBinaries locates kube-apiserver, kubectl and etcd in BinDir. Debian's
// etcd (/usr/bin/etcd, 3.4) is the fallback for etcd: it works with this
// kube-apiserver, with a harmless warning about RequestWatchProgress.
func FindBinaries() (Binaries, error) {
	dir := BinDir()
	b := Binaries{
		APIServer: filepath.Join(dir, "kube-apiserver"),
		Etcd:      filepath.Join(dir, "etcd"),
		Kubectl:   filepath.Join(dir, "kubectl"),
	}
	if !isExecutable(b.Etcd) && isExecutable("/usr/bin/etcd") {
		b.Etcd = "/usr/bin/etcd"
	}
	for _, p := range []string{b.APIServer, b.Etcd, b.Kubectl} {
		if !isExecutable(p) {
			return b, fmt.Errorf("%s: %w", p, ErrNotBuilt)
		}
	}
	return b, nil
}

// CRDDir holds the prometheus-operator CRDs (ServiceMonitor,
// PrometheusRule) scripts/k8s-testbin.sh fetched next to the binaries.
func CRDDir() string { return filepath.Join(BinDir(), "crds") }

func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

// Server is a running etcd + kube-apiserver pair.
type Server struct {
	// Host is the API server's URL, https://127.0.0.1:PORT. Its serving
	// certificate is self-signed: clients skip verification.
	Host string
	// Token is the admin's bearer token.
	Token string
	// Kubeconfig is a kubeconfig file for the admin.
	Kubeconfig string
	// Dir holds the etcd data, the keys and both logs.
	Dir string
	// Bin are the binaries in use.
	Bin Binaries

	apiPort, etcdPort, peerPort int

	mu        sync.Mutex
	etcd, api *exec.Cmd
	apiDone   chan struct{}
	etcdDone  chan struct{}
}

// Start starts etcd and kube-apiserver in a new directory under dir
// (os.TempDir() when "") and returns once /readyz answers ok. Stop ends
// both; Start cleans up after itself when it fails.
func Start(dir string) (*Server, error) {
	bin, err := FindBinaries()
	if err != nil {
		return nil, err
	}
	d, err := os.MkdirTemp(dir, "oomkit-apiserver-")
	if err != nil {
		return nil, err
	}
	s := &Server{Dir: d, Token: AdminToken, Bin: bin}
	if err := s.setup(); err != nil {
		s.Stop()
		return nil, err
	}
	// Ports are picked free and then handed to the servers, so another
	// process can take one in between: retry with new ports.
	for attempt := 0; ; attempt++ {
		err = s.start()
		if err == nil || attempt == 2 || !strings.Contains(err.Error(), "address already in use") {
			break
		}
		s.stopProcesses()
	}
	if err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
}

// New starts a Server for t and stops it when t ends. It skips t through
// kerneltest.Skip when the binaries are not built.
func New(t testing.TB) *Server {
	t.Helper()
	s, err := Start(t.TempDir())
	if errors.Is(err, ErrNotBuilt) {
		kerneltest.Skip(t, err.Error())
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s
}

// Shared is one Server for a package's tests, started by the first Get and
// stopped by Stop (call it from TestMain after m.Run). Tests that share it
// must not stop its API server.
type Shared struct {
	once sync.Once
	srv  *Server
	err  error
}

// Get returns the shared Server, starting it on first use; it skips t
// through kerneltest.Skip when the binaries are not built.
func (sh *Shared) Get(t testing.TB) *Server {
	t.Helper()
	sh.once.Do(func() { sh.srv, sh.err = Start("") })
	if errors.Is(sh.err, ErrNotBuilt) {
		kerneltest.Skip(t, sh.err.Error())
	}
	if sh.err != nil {
		t.Fatalf("start the shared API server: %v", sh.err)
	}
	return sh.srv
}

// Stop stops the shared Server if it was started.
func (sh *Shared) Stop() {
	sh.once.Do(func() { sh.err = errors.New("stopped before first use") })
	if sh.srv != nil {
		sh.srv.Stop()
	}
}

// setup writes the service-account signing key, the token file and the
// kubeconfig.
func (s *Server) setup() error {
	pki := filepath.Join(s.Dir, "pki")
	if err := os.MkdirAll(pki, 0o700); err != nil {
		return err
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return fmt.Errorf("generate the service-account key: %w", err)
	}
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return err
	}
	files := map[string][]byte{
		"sa.key":     pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}),
		"sa.pub":     pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}),
		"tokens.csv": []byte(s.Token + ",oomkit-test-admin,oomkit-test-admin-uid,system:masters\n"),
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(pki, name), b, 0o600); err != nil {
			return err
		}
	}
	s.Kubeconfig = filepath.Join(s.Dir, "kubeconfig")
	return nil
}

// start picks ports, starts etcd, then the API server, and writes the
// kubeconfig.
func (s *Server) start() error {
	ports, err := freePorts(3)
	if err != nil {
		return err
	}
	s.etcdPort, s.peerPort, s.apiPort = ports[0], ports[1], ports[2]
	s.Host = "https://127.0.0.1:" + strconv.Itoa(s.apiPort)
	if err := s.startEtcd(); err != nil {
		return err
	}
	if err := s.StartAPIServer(); err != nil {
		return err
	}
	kc := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: oomkit-test
  cluster:
    server: %s
    insecure-skip-tls-verify: true
users:
- name: admin
  user:
    token: %s
contexts:
- name: oomkit-test
  context:
    cluster: oomkit-test
    user: admin
current-context: oomkit-test
`, s.Host, s.Token)
	return os.WriteFile(s.Kubeconfig, []byte(kc), 0o600)
}

func (s *Server) startEtcd() error {
	client := "http://127.0.0.1:" + strconv.Itoa(s.etcdPort)
	peer := "http://127.0.0.1:" + strconv.Itoa(s.peerPort)
	args := []string{
		"--name=default",
		"--data-dir=" + filepath.Join(s.Dir, "etcd-data"),
		"--listen-client-urls=" + client, "--advertise-client-urls=" + client,
		"--listen-peer-urls=" + peer, "--initial-advertise-peer-urls=" + peer,
		"--initial-cluster=default=" + peer,
	}
	cmd, done, err := s.spawn(s.Bin.Etcd, args, "etcd.log")
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.etcd, s.etcdDone = cmd, done
	s.mu.Unlock()
	return waitReady(done, client+"/health", "", filepath.Join(s.Dir, "etcd.log"))
}

// StartAPIServer starts kube-apiserver (again, after StopAPIServer) on the
// same port and etcd, and returns once /readyz answers ok.
func (s *Server) StartAPIServer() error {
	pki := filepath.Join(s.Dir, "pki")
	args := []string{
		"--etcd-servers=http://127.0.0.1:" + strconv.Itoa(s.etcdPort),
		"--bind-address=127.0.0.1", "--advertise-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(s.apiPort),
		// v1.37 refuses to advertise a loopback address with an endpoint
		// reconciler (kubernetes PR #138102).
		"--endpoint-reconciler-type=none",
		"--cert-dir=" + pki,
		"--service-cluster-ip-range=10.0.0.0/24",
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + filepath.Join(pki, "sa.pub"),
		"--service-account-signing-key-file=" + filepath.Join(pki, "sa.key"),
		"--token-auth-file=" + filepath.Join(pki, "tokens.csv"),
		"--authorization-mode=RBAC",
		"--allow-privileged=true",
		// No controller-manager creates namespaces' default
		// ServiceAccounts, which this plugin would demand of every Pod.
		"--disable-admission-plugins=ServiceAccount",
		// On SIGTERM, end open watches after 1 s instead of serving them
		// until they time out, so a stopped API server is really gone.
		"--shutdown-watch-termination-grace-period=1s",
	}
	s.mu.Lock()
	if s.api != nil {
		s.mu.Unlock()
		return errors.New("kube-apiserver is already running")
	}
	s.mu.Unlock()
	cmd, done, err := s.spawn(s.Bin.APIServer, args, "kube-apiserver.log")
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.api, s.apiDone = cmd, done
	s.mu.Unlock()
	if err := waitReady(done, s.Host+"/readyz", s.Token, filepath.Join(s.Dir, "kube-apiserver.log")); err != nil {
		_ = s.StopAPIServer()
		return err
	}
	return nil
}

// StopAPIServer stops kube-apiserver and waits for it to exit; etcd keeps
// running, so StartAPIServer brings back the same cluster.
func (s *Server) StopAPIServer() error {
	s.mu.Lock()
	cmd, done := s.api, s.apiDone
	s.api, s.apiDone = nil, nil
	s.mu.Unlock()
	if cmd == nil {
		return nil
	}
	return stopProcess(cmd, done)
}

// Stop stops both servers, waits for them to exit and removes Dir.
func (s *Server) Stop() {
	s.stopProcesses()
	_ = os.RemoveAll(s.Dir)
}

func (s *Server) stopProcesses() {
	_ = s.StopAPIServer()
	s.mu.Lock()
	cmd, done := s.etcd, s.etcdDone
	s.etcd, s.etcdDone = nil, nil
	s.mu.Unlock()
	if cmd != nil {
		_ = stopProcess(cmd, done)
	}
	_ = os.RemoveAll(filepath.Join(s.Dir, "etcd-data"))
}

// Kubectl runs the cached kubectl against the server as the admin and
// returns its standard output; the error carries standard error.
func (s *Server) Kubectl(ctx context.Context, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, s.Bin.Kubectl, append([]string{"--kubeconfig=" + s.Kubeconfig}, args...)...)
	cmd.Env = append(os.Environ(), "KUBECONFIG=")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("kubectl %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

// APIServerLog returns what kube-apiserver has logged so far.
func (s *Server) APIServerLog() string {
	b, _ := os.ReadFile(filepath.Join(s.Dir, "kube-apiserver.log"))
	return string(b)
}

// spawn starts path with args, its output in logName under Dir, in a
// process group of its own and killed if this process dies first. done is
// closed once it has exited and been reaped.
func (s *Server) spawn(path string, args []string, logName string) (*exec.Cmd, chan struct{}, error) {
	logf, err := os.OpenFile(filepath.Join(s.Dir, logName), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, nil, err
	}
	cmd := exec.Command(path, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, nil, fmt.Errorf("start %s: %w", path, err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		logf.Close()
		close(done)
	}()
	return cmd, done, nil
}

// stopProcess sends SIGTERM, waits for the exit, and SIGKILLs the process
// group after 20 s.
func stopProcess(cmd *exec.Cmd, done chan struct{}) error {
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
		return nil
	case <-time.After(20 * time.Second):
	}
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	<-done
	return fmt.Errorf("%s did not stop on SIGTERM within 20 s; killed", filepath.Base(cmd.Path))
}

// waitReady polls url (with token as a bearer token when set) until it
// answers 200, the process exits (done closed), or readyTimeout passes.
func waitReady(done chan struct{}, url, token, logPath string) error {
	client := &http.Client{
		Timeout:   2 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}},
	}
	defer client.CloseIdleConnections()
	deadline := time.Now().Add(readyTimeout)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		req, err := http.NewRequest(http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		if resp, err := client.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-done:
			return fmt.Errorf("%s exited before %s was ready: %s", filepath.Base(logPath), url, tail(logPath))
		case <-tick.C:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after %s: %s", url, readyTimeout, tail(logPath))
		}
	}
}

// tail is the end of a log, for error messages.
func tail(path string) string {
	b, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > 8 {
		lines = lines[len(lines)-8:]
	}
	return strings.Join(lines, " | ")
}

// freePorts returns n distinct loopback ports that were free a moment ago.
func freePorts(n int) ([]int, error) {
	var ports []int
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("find a free port: %w", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
