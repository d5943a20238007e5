#!/usr/bin/env bash
# The store facade (d4-core) on one redis-server and on Redis Clusters of 1, 3 and 6 masters
# on loopback: pipelined pDNS-shaped writes (cmd/s, client CPU per command), MGET of 1,000 keys
# and single GET round trips (store_bench.rs). Loopback on a 2-core machine: the figures show
# the client's cost of cutting pipelines per slot, not a network's.
#
# Usage: tests/bench/cluster/run.sh [PIPELINES] [ROUNDS]
# Env: STORE_BENCH_BEFORE=<store_bench built from an older tree> runs it on the same single
#      server in the same rounds (before/after of a facade change); D4_CLUSTER_SERVER and
#      D4_CLUSTER_CLI as in nodes.sh (e.g. Valkey).
set -euo pipefail
cd "$(dirname "$0")/../../.."
# shellcheck source=tests/bench/lib.sh
. tests/bench/lib.sh
PIPES=${1:-200}
ROUNDS=${2:-3}

cargo build --release -q -p d4-core --example store_bench
BENCH=$(pwd)/target/release/examples/store_bench

WORK=$(mktemp -d)
# shellcheck source=tests/bench/cluster/nodes.sh
. tests/bench/cluster/nodes.sh
cleanup() {
  nodes_cleanup
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

SINGLE=$(free_port)
start_node "$SINGLE"
start_cluster 1; C1=$CLUSTER_SEEDS
start_cluster 3; C3=$CLUSTER_SEEDS
start_cluster 6; C6=$CLUSTER_SEEDS

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
