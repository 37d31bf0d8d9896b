#!/usr/bin/env bash
# Installs the servers the tests run against, once per machine, into the
# tools directory (scripts/tools-dir.sh: under the user cache dir, outside the
# clone, so every clone reuses it), each pinned:
#   - image jobs: runc from Debian, buildkitd and buildctl built from
#     github.com/moby/buildkit v0.33.0, the registry built from
#     github.com/distribution/distribution/v3 v3.1.2;
#   - the remote cache: bazel-remote v2.6.2 and the MinIO server (S3) at a
#     pinned pseudo-version (MinIO tags no semver releases);
#   - the controller's store: PostgreSQL from Debian (the tests initdb a
#     throwaway cluster);
#   - deploy jobs: a real single-node Kubernetes cluster: etcd, containerd,
#     the CNI plugins and iptables from Debian, kube-apiserver,
#     kube-controller-manager, kube-scheduler, kubelet and kubectl built from
#     k8s.io/kubernetes v1.33.13 (internal/deploy/kubetest runs them).
# Prints the shell assignments the tests read, e.g.
#
#   eval "$(scripts/test-tools.sh)"
#
# sets SPARKWING_TEST_BUILDKITD, SPARKWING_TEST_BUILDCTL,
# SPARKWING_TEST_REGISTRY, SPARKWING_TEST_BAZEL_REMOTE,
# SPARKWING_TEST_MINIO and SPARKWING_TEST_KUBE (the Kubernetes binaries'
# directory). The tests start and stop the servers themselves.
set -euo pipefail
cd "$(dirname "$0")/.."
tools=$(scripts/tools-dir.sh)
export GOFLAGS="${GOFLAGS:--buildvcs=false}"

# apt_install PKG: install a Debian package, updating the package lists
# first the first time (a fresh machine may have none).
updated=
apt_install() {
  echo "== apt-get install $1" >&2
  if [ -z "$updated" ]; then apt-get update -qq >&2 || true; updated=1; fi
  apt-get install -y -qq --no-install-recommends "$1" >/dev/null
}
command -v runc >/dev/null || apt_install runc
[ -x /usr/bin/time ] || apt_install time # the remote cache's memory test measures with it
# The controller's store tests initdb a throwaway PostgreSQL cluster.
ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || command -v postgres >/dev/null || apt_install postgresql
# The deploy tests' cluster.
command -v etcd >/dev/null || apt_install etcd-server
command -v containerd >/dev/null || apt_install containerd
[ -x /usr/lib/cni/loopback ] || apt_install containernetworking-plugins
command -v iptables >/dev/null || apt_install iptables

# build NAME MODULE VERSION PKG...: build PKGs of a module once into
# TOOLS/NAME-VERSION. `go install MODULE@VERSION` refuses these modules
# (replace directives), so build inside the downloaded module directory.
# The build goes to a temporary directory renamed into place, so two clones
# building at once, or a killed build, never leave a half-built tool.
build() {
  local name=$1 mod=$2 version=$3 dir=$tools/$1-$3
  shift 3
  if [ ! -f "$dir/.done" ]; then
    echo "== build $mod@$version into $dir" >&2
    local src tmp
    src=$(go mod download -json "$mod@$version" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
    tmp=$(mktemp -d "$tools/.build-$name-XXXXXX")
    (cd "$src" && GOFLAGS=-mod=mod go build -trimpath -o "$tmp/" "$@") >&2
    touch "$tmp/.done"
    mv -T "$tmp" "$dir" 2>/dev/null || rm -rf "$tmp" # another build won
  fi
  echo "$dir"
}

bk=$(build buildkit github.com/moby/buildkit v0.33.0 ./cmd/buildkitd ./cmd/buildctl)
reg=$(build registry github.com/distribution/distribution/v3 v3.1.2 ./cmd/registry)
br=$(build bazel-remote github.com/buchgr/bazel-remote/v2 v2.6.2 .)
minio=$(build minio github.com/minio/minio v0.0.0-20260212201848-7aac2a2c5b7c .)

# kube: the five Kubernetes binaries, v1.33.13, into TOOLS/kubernetes-v1.33.13.
# k8s.io/kubernetes replaces its k8s.io/* staging modules with directories
# the module zip leaves out: point each at the published module of the same
# release instead. About 14 minutes of CPU cold; the Go build cache makes a
# rebuild take seconds.
kube() {
  local version=v1.33.13 dir=$tools/kubernetes-v1.33.13
  if [ ! -f "$dir/.done" ]; then
    echo "== build k8s.io/kubernetes@$version into $dir (about 14 minutes of CPU, once per machine)" >&2
    local src work tmp
    src=$(go mod download -json "k8s.io/kubernetes@$version" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
    work=$(mktemp -d "$tools/.src-kubernetes-XXXXXX")
    cp -r "$src/." "$work/" && chmod -R u+w "$work"
    sed -i -E "s#^(\s*k8s.io/[a-z0-9-]+) => ./staging/src/k8s.io/[a-z0-9-]+#\1 => \1 ${version/v1./v0.}#" "$work/go.mod"
    rm -f "$work/go.work" "$work/go.work.sum"
    tmp=$(mktemp -d "$tools/.build-kubernetes-XXXXXX")
    local v=k8s.io/component-base/version
    (cd "$work" && CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath \
      -ldflags="-s -w -X $v.gitVersion=$version -X $v.gitMajor=1 -X $v.gitMinor=33 -X $v.gitTreeState=clean" \
      -o "$tmp/" ./cmd/kube-apiserver ./cmd/kube-controller-manager ./cmd/kube-scheduler ./cmd/kubelet ./cmd/kubectl) >&2
    rm -rf "$work"
    touch "$tmp/.done"
    mv -T "$tmp" "$dir" 2>/dev/null || rm -rf "$tmp"
  fi
  echo "$dir"
}
kubedir=$(kube)

echo "export SPARKWING_TEST_BUILDKITD=$bk/buildkitd"
echo "export SPARKWING_TEST_BUILDCTL=$bk/buildctl"
echo "export SPARKWING_TEST_REGISTRY=$reg/registry"
echo "export SPARKWING_TEST_BAZEL_REMOTE=$br/bazel-remote"
echo "export SPARKWING_TEST_MINIO=$minio/minio"
echo "export SPARKWING_TEST_KUBE=$kubedir"
