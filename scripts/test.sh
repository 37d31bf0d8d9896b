#!/usr/bin/env bash
# Runs the whole test suite from a fresh clone: formatting, vet, every test
# under the race detector, short fuzz passes over the project-file parser,
# the glob overlap check, the stat and listing caches, the Dockerfile doctor,
# the image helper's request decoder, the remote cache's envelopes and its
# helper's request decoder, then the quick benchmark with its no-op gate
# (bench/README.md).
# Needs Go, make and git. The image-job tests need runc (from apt), buildkitd
# and a registry; the remote cache's tests need bazel-remote and MinIO; the
# deploy tests a Kubernetes cluster (etcd, containerd and the CNI plugins
# from apt, the Kubernetes binaries built from source). All
# are built once per machine by scripts/test-tools.sh into the tools
# directory outside the clone (scripts/tools-dir.sh); the tests start and
# stop the servers themselves.
set -euo pipefail
cd "$(dirname "$0")/.."

export GOFLAGS="${GOFLAGS:--buildvcs=false}"

echo "== gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './.tools/*'))
if [ -n "$unformatted" ]; then
  echo "gofmt would change:"; echo "$unformatted"; exit 1
fi

echo "== test servers (scripts/test-tools.sh)"
eval "$(scripts/test-tools.sh)"
export SPARKWING_REQUIRE_IMAGE_TESTS=1  # a missing component fails the image tests instead of skipping them
export SPARKWING_REQUIRE_REMOTE_TESTS=1 # and the remote cache's
export SPARKWING_REQUIRE_CONTROLLER_TESTS=1 # and the controller's (PostgreSQL)
export SPARKWING_REQUIRE_KUBE_TESTS=1 # and the deploy tests' Kubernetes cluster

echo "== go vet"
go vet ./...

echo "== go test -race"
# The CLI's scripts take about 5 minutes under the race detector on a quiet
# 2-core machine and over 10 (go test's default limit) beside a CPU hog.
# Most of a script's time is waiting (servers, services, child processes),
# so four run at once rather than GOMAXPROCS (2).
go test -race -count=1 -parallel 4 -timeout 45m ./...

echo "== fuzz the project-file parser and runner labels, the glob overlap check, the stat and listing caches, the last-run record, the Dockerfile doctor, the image and deploy helpers' request decoders, pinned image references, the remote cache's envelopes and its helper's request decoder, the controller's webhook payloads and its log stream reader, git pack indexes and packs, spark version constraints, go test -json output, Go file heads, go build commands, the go command's printed commands and package archives, and services' health checks"
# Budgets are counts, not durations: a duration races Go 1.26's fuzzing
# coordinator (golang/go#75804), which reports "context deadline exceeded"
# with no failing input when a worker is busy as the time runs out. Each
# count takes about 20 s or less here, busy or not.
go test -run '^$' -fuzz '^FuzzParse$' -fuzztime 200000x ./internal/project
go test -run '^$' -fuzz '^FuzzParseLabels$' -fuzztime 20000x ./internal/project
go test -run '^$' -fuzz '^FuzzOverlap$' -fuzztime 200000x ./internal/plan
go test -run '^$' -fuzz '^FuzzParseHealth$' -fuzztime 50000x ./internal/plan
go test -run '^$' -fuzz '^FuzzParse$' -fuzztime 100000x ./internal/gobuild
go test -run '^$' -fuzz '^FuzzSplitCmd$' -fuzztime 100000x ./internal/gobuild
go test -run '^$' -fuzz '^FuzzExportData$' -fuzztime 100000x ./internal/gobuild
go test -run '^$' -fuzz '^FuzzStatCache$' -fuzztime 10000x ./internal/fileset
go test -run '^$' -fuzz '^FuzzParseListing$' -fuzztime 300000x ./internal/fileset
go test -run '^$' -fuzz '^FuzzParseSnapshot$' -fuzztime 300000x ./internal/fileset
go test -run '^$' -fuzz '^FuzzParseLastRun$' -fuzztime 200000x ./internal/engine
go test -run '^$' -fuzz '^FuzzDoctor$' -fuzztime 50000x ./internal/dockerfile
go test -run '^$' -fuzz '^FuzzDecodeRequest$' -fuzztime 12000x ./internal/image
go test -run '^$' -fuzz '^FuzzDecodeRequest$' -fuzztime 50000x ./internal/deploy
go test -run '^$' -fuzz '^FuzzSplitPinned$' -fuzztime 50000x ./internal/registry
go test -run '^$' -fuzz '^FuzzOpenEnvelope$' -fuzztime 100000x ./internal/remote
go test -run '^$' -fuzz '^FuzzServe$' -fuzztime 100000x ./internal/remote
go test -run '^$' -fuzz '^FuzzParsePush$' -fuzztime 50000x ./internal/controller
go test -run '^$' -fuzz '^FuzzReader$' -fuzztime 100000x ./internal/logstream
go test -run '^$' -fuzz '^FuzzPackIndex$' -fuzztime 10000x ./internal/gitcache
go test -run '^$' -fuzz '^FuzzReadPack$' -fuzztime 200000x ./internal/gitcache
go test -run '^$' -fuzz '^FuzzConstraint$' -fuzztime 100000x ./internal/sparks
go test -run '^$' -fuzz '^FuzzTestDemux$' -fuzztime 100000x ./internal/engine
go test -run '^$' -fuzz '^FuzzHead$' -fuzztime 20000x ./internal/goinput


echo "== benchmark gate (bench/run --quick)"
bench/run --quick
