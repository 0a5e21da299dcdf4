#!/usr/bin/env bash
# k8s-testbin.sh: build the real Kubernetes control plane the Kubernetes
# tests run against (internal/apiservertest): kube-apiserver and kubectl
# from k8s.io/kubernetes, etcd from go.etcd.io/etcd/server/v3, all fetched
# through the Go module proxy and built with the local Go. Nothing is
# committed; the binaries go to
#
#   ${XDG_CACHE_HOME:-~/.cache}/oomkit/k8s-$K8S_VERSION/{kube-apiserver,kubectl,etcd}
#
# and, from the same proxy, the prometheus-operator CRDs of ServiceMonitor
# and PrometheusRule (crds/), which the API server needs to dry-run
# deploy/'s manifests: the root module of prometheus-operator carries them
# in example/prometheus-operator-crd/ (its pkg/apis/monitoring module has
# only the Go types).
#
# (or to $1), which is where the tests look. When all three are there and
# report the wanted versions the script only checks them (well under a
# second). A cold build takes 5–10 minutes on two cores and a few GB of build
# cache; shared/spec/deps.md §2 has the measurements.
#
# Why the detours:
#   - `go install` refuses both modules (their go.mod files carry replace
#     directives), so each is built as the dependency of a throw-away module;
#   - k8s.io/kubernetes requires its staging modules (k8s.io/api, …) at
#     v0.0.0 with ./staging replaces; the throw-away module replaces each
#     with its published v0.<minor>.<patch>;
#   - etcd gets a module of its own: sharing one would let minimal version
#     selection move kube-apiserver's etcd client and gRPC.
set -euo pipefail

K8S_VERSION=${K8S_VERSION:-v1.37.2}
ETCD_VERSION=${ETCD_VERSION:-v3.7.3}
PROMOP_VERSION=${PROMOP_VERSION:-v0.85.0}
crds="monitoring.coreos.com_servicemonitors.yaml monitoring.coreos.com_prometheusrules.yaml"
out=${1:-${XDG_CACHE_HOME:-$HOME/.cache}/oomkit/k8s-$K8S_VERSION}
mkdir -p "$out"
out=$(cd "$out" && pwd)

# have reports whether every binary is present and of the wanted version.
# Each version is read whole before it is matched: with pipefail, `cmd |
# grep -q` fails whenever grep exits before cmd has written its last line
# (SIGPIPE), which made a warm cache rebuild now and then.
have() {
	[ -x "$out/kube-apiserver" ] && [ -x "$out/kubectl" ] && [ -x "$out/etcd" ] || return 1
	local v
	v=$("$out/kube-apiserver" --version 2>/dev/null) && grep -qx "Kubernetes $K8S_VERSION" <<<"$v" || return 1
	v=$("$out/kubectl" version --client 2>/dev/null) && grep -q "Client Version: $K8S_VERSION\$" <<<"$v" || return 1
	v=$("$out/etcd" --version 2>/dev/null) && grep -qx "etcd Version: ${ETCD_VERSION#v}" <<<"$v" || return 1
	[ "$(cat "$out/crds/VERSION" 2>/dev/null)" = "$PROMOP_VERSION" ] || return 1
}

# fetch_crds copies the CRDs out of the module cache.
fetch_crds() {
	[ "$(cat "$out/crds/VERSION" 2>/dev/null)" = "$PROMOP_VERSION" ] && return 0
	echo "k8s-testbin: fetching the prometheus-operator $PROMOP_VERSION CRDs"
	dir=$(cd / && go mod download -json "github.com/prometheus-operator/prometheus-operator@$PROMOP_VERSION" |
		sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
	mkdir -p "$out/crds"
	for f in $crds; do
		cp "$dir/example/prometheus-operator-crd/$f" "$out/crds/$f"
		chmod 0644 "$out/crds/$f"
	done
	echo "$PROMOP_VERSION" >"$out/crds/VERSION"
}

if have; then
	echo "k8s-testbin: kube-apiserver, kubectl $K8S_VERSION, etcd $ETCD_VERSION and the CRDs already in $out"
	exit 0
fi

export GOTOOLCHAIN=local GOFLAGS=-mod=mod
fetch_crds
if have; then
	echo "k8s-testbin: kube-apiserver, kubectl $K8S_VERSION and etcd $ETCD_VERSION already in $out"
	exit 0
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# kube-apiserver and kubectl. The version variables make --version honest.
staging=v0.${K8S_VERSION#v1.}
minor=$(echo "$K8S_VERSION" | cut -d. -f2)
mkdir "$work/k8s"
cd "$work/k8s"
go mod init oomkit.invalid/k8s-testbin >/dev/null 2>&1
gomod=$(go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')
[ -f "$gomod" ] || { echo "k8s-testbin: cannot find the go.mod of k8s.io/kubernetes@$K8S_VERSION" >&2; exit 1; }
{
	echo "require k8s.io/kubernetes $K8S_VERSION"
	echo "replace ("
	# Every ./staging replace, pinned to the published version. The two
	# sample modules are not on the proxy and nothing we build needs them.
	awk -v v="$staging" '$2 == "=>" && $3 ~ /^\.\/staging\// && $1 !~ /sample-(cli-plugin|controller)$/ { print "\t" $1 " => " $1 " " v }' "$gomod"
	echo ")"
} >>go.mod
ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$K8S_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor"
for cmd in kube-apiserver kubectl; do
	echo "k8s-testbin: building $cmd $K8S_VERSION"
	go get "k8s.io/kubernetes/cmd/$cmd@$K8S_VERSION" >/dev/null 2>&1
	# Build to a temporary name: an interrupted build must not leave a
	# binary the next run takes for a finished one.
	go build -ldflags "$ldflags" -o "$out/.$cmd.tmp" "k8s.io/kubernetes/cmd/$cmd"
	mv "$out/.$cmd.tmp" "$out/$cmd"
done

echo "k8s-testbin: building etcd $ETCD_VERSION"
mkdir "$work/etcd"
cd "$work/etcd"
go mod init oomkit.invalid/etcd-testbin >/dev/null 2>&1
go get "go.etcd.io/etcd/server/v3@$ETCD_VERSION" >/dev/null 2>&1
go build -ldflags "-s -w" -o "$out/.etcd.tmp" go.etcd.io/etcd/server/v3
mv "$out/.etcd.tmp" "$out/etcd"

have || { echo "k8s-testbin: built, but the binaries in $out do not report $K8S_VERSION / $ETCD_VERSION" >&2; exit 1; }
echo "k8s-testbin: kube-apiserver, kubectl $K8S_VERSION and etcd $ETCD_VERSION in $out"
