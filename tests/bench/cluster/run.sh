#!/usr/bin/env bash
# The store facade (d4-core) on one redis-server and on Redis Clusters of 1, 3 and 6 masters
# on loopback: pipelined pDNS-shaped writes (cmd/s, client CPU per command), MGET of 1,000 keys
# and single GET round trips (store_bench.rs). Loopback on a 2-core machine: the figures show
# the client's cost of cutting pipelines per slot, not a network's.
#
# Usage: tests/bench/cluster/run.sh [PIPELINES] [ROUNDS]
# Env: STORE_BENCH_BEFORE=<store_bench built from an older tree> runs it on the same single
#      server in the same rounds (before/after of a facade change).
set -euo pipefail
cd "$(dirname "$0")/../../.."
# shellcheck source=tests/bench/lib.sh
. tests/bench/lib.sh
PIPES=${1:-200}
ROUNDS=${2:-3}

for t in redis-server redis-cli; do
  command -v "$t" >/dev/null || { echo "$t is required" >&2; exit 1; }
done
cargo build --release -q -p d4-core --example store_bench
BENCH=$(pwd)/target/release/examples/store_bench

WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# start_node PORT [cluster]: a redis-server on PORT, cluster-enabled when asked.
start_node() {
  local port=$1 dir="$WORK/$1"
  mkdir -p "$dir"
  local extra=()
  if [ "${2:-}" = cluster ]; then
    extra=(--cluster-enabled yes --cluster-port "$(free_port)" --cluster-config-file nodes.conf)
  fi
  redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no --dir "$dir" "${extra[@]}" \
    >"$dir/log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 100); do redis-cli -p "$port" PING >/dev/null 2>&1 && return; sleep 0.05; done
  echo "redis-server on $port did not start" >&2; exit 1
}

# cluster N: N cluster-enabled masters owning every slot; prints the seed list.
cluster() {
  local n=$1 ports=() p
  for _ in $(seq "$n"); do p=$(free_port); start_node "$p" cluster; ports+=("$p"); done
  if [ "$n" -eq 1 ]; then
    redis-cli -p "${ports[0]}" CLUSTER ADDSLOTSRANGE 0 16383 >/dev/null
  else
    redis-cli --cluster create $(printf '127.0.0.1:%s ' "${ports[@]}") --cluster-replicas 0 \
      --cluster-yes >/dev/null
  fi
  for p in "${ports[@]}"; do
    for _ in $(seq 300); do
      redis-cli -p "$p" CLUSTER INFO | grep -q 'cluster_state:ok' && break
      sleep 0.1
    done
  done
  sleep 1
  printf '127.0.0.1:%s,' "${ports[@]}" | sed 's/,$//'
}

SINGLE=$(free_port)
start_node "$SINGLE"
C1=$(cluster 1)
C3=$(cluster 3)
C6=$(cluster 6)

host_begin
for r in $(seq "$ROUNDS"); do
  echo "round $r"
  echo "  single server         : $("$BENCH" "port = $SINGLE" "$PIPES")"
  if [ -n "${STORE_BENCH_BEFORE:-}" ]; then
    echo "  single server (before): $("$STORE_BENCH_BEFORE" "port = $SINGLE" "$PIPES")"
  fi
  echo "  cluster, 1 master     : $("$BENCH" "cluster = $C1" "$PIPES")"
  echo "  cluster, 3 masters    : $("$BENCH" "cluster = $C3" "$PIPES")"
  echo "  cluster, 6 masters    : $("$BENCH" "cluster = $C6" "$PIPES")"
done
host_end
