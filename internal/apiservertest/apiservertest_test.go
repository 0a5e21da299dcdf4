package apiservertest

import (
	"context"
	"errors"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestServerLifecycle starts a real etcd + kube-apiserver, writes through
// kubectl, stops and restarts the API server on the same etcd (the object
// is still there), and checks that Stop leaves no process behind.
func TestServerLifecycle(t *testing.T) {
	s := New(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	out, err := s.Kubectl(ctx, "version", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), `"gitVersion": "`+Version+`"`) {
		t.Errorf("kubectl version does not report %s for client and server:\n%s", Version, out)
	}
	if _, err := s.Kubectl(ctx, "create", "namespace", "survives-restart"); err != nil {
		t.Fatal(err)
	}

	s.mu.Lock()
	oldAPI := s.api.Process.Pid
	s.mu.Unlock()
	if err := s.StopAPIServer(); err != nil {
		t.Fatal(err)
	}
	if alive(oldAPI) {
		t.Fatalf("kube-apiserver pid %d still runs after StopAPIServer", oldAPI)
	}
	if _, err := s.Kubectl(ctx, "get", "namespace", "survives-restart", "--request-timeout=2s"); err == nil {
		t.Fatal("kubectl reached the API server after StopAPIServer")
	}
	if err := s.StartAPIServer(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Kubectl(ctx, "get", "namespace", "survives-restart"); err != nil {
		t.Fatalf("the namespace created before the restart is gone: %v", err)
	}

	s.mu.Lock()
	pids := []int{s.api.Process.Pid, s.etcd.Process.Pid}
	s.mu.Unlock()
	dir := s.Dir
	s.Stop()
	for _, pid := range pids {
		if alive(pid) {
			t.Errorf("pid %d still runs after Stop", pid)
		}
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Stop left %s behind (%v)", dir, err)
	}
}

// TestServiceAccountToken is the path the RBAC tests take: a token for a
// ServiceAccount from kubectl create token authenticates as that account.
func TestServiceAccountToken(t *testing.T) {
	s := New(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := s.Kubectl(ctx, "create", "serviceaccount", "probe", "-n", "default"); err != nil {
		t.Fatal(err)
	}
	tok, err := s.Kubectl(ctx, "create", "token", "probe", "-n", "default")
	if err != nil {
		t.Fatal(err)
	}
	out, err := s.Kubectl(ctx, "auth", "whoami", "--token="+strings.TrimSpace(string(tok)), "-o", "jsonpath={.status.userInfo.username}")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(out), "system:serviceaccount:default:probe"; got != want {
		t.Errorf("token authenticates as %q, want %q", got, want)
	}
}

func TestFindBinariesMissing(t *testing.T) {
	t.Setenv(BinDirEnv, t.TempDir())
	_, err := FindBinaries()
	if !errors.Is(err, ErrNotBuilt) {
		t.Fatalf("FindBinaries in an empty directory: %v, want ErrNotBuilt", err)
	}
	if !strings.Contains(err.Error(), "scripts/k8s-testbin.sh") {
		t.Errorf("the error does not say how to build them: %v", err)
	}
}

// alive reports whether pid still exists (a zombie counts as gone: Stop
// reaps its children).
func alive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
