#!/usr/bin/env bash
# A real single-node Kubernetes cluster on this machine, with a registry it
# pulls from and a buildkitd: what the deploy tests use, for trying deploy
# jobs (the example's `sparkwing run ship --profile local`) by hand.
#
#   scripts/kube-cluster.sh up       build what is missing (once, into the
#                                    tools dir), start it all (the registry
#                                    on 127.0.0.1:5000, where the example
#                                    pushes, or $SPARKWING_KUBE_REGISTRY; the
#                                    rest on free ports), and print the
#                                    environment to use
#   scripts/kube-cluster.sh env      print that environment again:
#                                    eval "$(scripts/kube-cluster.sh env)"
#   scripts/kube-cluster.sh status   whether it runs, and its node
#   scripts/kube-cluster.sh down     stop it and undo every change the
#                                    kubelet made on the host (mounts,
#                                    cgroups, iptables chains, sysctls);
#                                    also after a crash or a killed test
#
# It needs root (a kubelet changes the host), like the deploy tests. One
# cluster runs on a machine at a time: `up` waits while a test holds it.
set -euo pipefail
cd "$(dirname "$0")/.."
state=${SPARKWING_KUBE_CLUSTER_STATE:-/var/tmp/sparkwing-kube-cluster}
pidfile=$state/pid

running() {
  [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null
}

case "${1:-}" in
up)
  if running; then
    echo "kube-cluster: already up (pid $(cat "$pidfile")); its environment:" >&2
    cat "$state/env"
    exit 0
  fi
  mkdir -p "$state"
  rm -f "$state/env"
  eval "$(scripts/test-tools.sh)"
  echo "kube-cluster: building the program (go build)" >&2
  go build -o "$state/kubecluster" ./internal/deploy/kubetest/kubecluster
  setsid nohup "$state/kubecluster" serve "$state" "${SPARKWING_KUBE_REGISTRY:-127.0.0.1:5000}" >"$state/log" 2>&1 </dev/null &
  echo $! >"$pidfile"
  echo "kube-cluster: starting (log: $state/log; it waits while a test holds the machine's cluster)" >&2
  until [ -f "$state/env" ]; do
    if ! running; then
      echo "kube-cluster: it stopped before it was up; the end of its log:" >&2
      tail -n 30 "$state/log" >&2
      rm -f "$pidfile"
      exit 1
    fi
    sleep 0.2
  done
  echo "kube-cluster: up; use it with: eval \"\$($0 env)\"" >&2
  cat "$state/env"
  ;;
env)
  running || { echo "kube-cluster: not up (scripts/kube-cluster.sh up)" >&2; exit 1; }
  cat "$state/env"
  ;;
status)
  if running; then
    echo "kube-cluster: up (pid $(cat "$pidfile"))"
    # shellcheck disable=SC1091
    . "$state/env"
    "$KUBECTL" get nodes
  else
    echo "kube-cluster: down"
    exit 1
  fi
  ;;
down)
  if running; then
    pid=$(cat "$pidfile")
    kill -TERM "$pid"
    for _ in $(seq 1 300); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.2
    done
    if kill -0 "$pid" 2>/dev/null; then
      echo "kube-cluster: it did not stop in 60 s; killing it" >&2
      kill -KILL "$pid"
    fi
  fi
  rm -f "$pidfile" "$state/env"
  # Whatever was stopped or killed, undo what is left on the host.
  if [ -x "$state/kubecluster" ]; then
    "$state/kubecluster" clean "$state"
  else
    go run ./internal/deploy/kubetest/kubecluster clean "$state"
  fi
  echo "kube-cluster: down; the host is as it was" >&2
  ;;
*)
  sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
  ;;
esac
