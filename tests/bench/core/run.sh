#!/usr/bin/env bash
# End-to-end throughput of d4-server + d4-workers: passivedns lines from TLS sensors
# into an analyzer queue, with real redis-server, release build, 1 and 8 sensors.
# Prints lines/s next to the store's own ceiling (direct multi-value LPUSH), the CPU
# microseconds per line of every process, and the host's steal, busy share and load for
# each measurement.
#
# Usage: tests/bench/core/run.sh [LINES_PER_SENSOR_FOR_1] [LINES_PER_SENSOR_FOR_8]
# Env: ROUNDS (3): each measurement is repeated, the median round (by lines/s) is
#      reported. SERVER_BEFORE=<older d4-server> and/or WORKERS_BEFORE=<older d4-workers>
#      add a "before" chain (the older binaries, this build for the one not given), run
#      in the same rounds on the same input, with its own redis-servers.
set -euo pipefail
cd "$(dirname "$0")/../../.."
ROOT=$(pwd)
# shellcheck source=tests/bench/lib.sh
. tests/bench/lib.sh
L1=${1:-400000}
L8=${2:-50000}
ROUNDS=${ROUNDS:-3}

command -v redis-server >/dev/null || { echo "redis-server is required" >&2; exit 1; }
command -v openssl >/dev/null || { echo "openssl is required" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "/usr/bin/time (GNU time) is required" >&2; exit 1; }

cargo build --release -q -p d4-server -p d4-workers --bins && cargo build --release -q -p d4-server --example d4_loadgen
BIN=$ROOT/target/release
LOADGEN=$BIN/examples/d4_loadgen

WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

cp gen_cert/gen_root.sh gen_cert/gen_cert.sh gen_cert/openssl.cnf gen_cert/server_ext.cnf "$WORK/"
(cd "$WORK" && bash gen_root.sh >/dev/null && bash gen_cert.sh >/dev/null)

# Per chain (name): its ports and the pids of its four processes.
declare -A SP MP DP PID_SERVER PID_WORKERS PID_SP PID_MP

# start_chain <name> <d4-server> <d4-workers>: two redis-servers (STREAM; METADATA and
# ANALYZER), then the server and the workers on them. Each chain has its own stores: two
# d4-workers on one STREAM store would share (claim) each other's sessions.
start_chain() {
  local name=$1 server=$2 workers=$3 dir=$WORK/$1 p
  mkdir -p "$dir"
  SP[$name]=$(free_port); MP[$name]=$(free_port); DP[$name]=$(free_port)
  for p in "${SP[$name]}" "${MP[$name]}"; do
    redis-server --port "$p" --bind 127.0.0.1 --save "" --appendonly no --dir "$dir" \
      >"$dir/redis-$p.log" 2>&1 &
    PIDS+=($!)
    if [ "$p" = "${SP[$name]}" ]; then PID_SP[$name]=$!; else PID_MP[$name]=$!; fi
  done
  d4_server_conf "$dir/data" "${DP[$name]}" "$WORK" "port = ${SP[$name]}" "${MP[$name]}" >"$dir/server.conf"
  for p in "${SP[$name]}" "${MP[$name]}"; do
    for _ in $(seq 50); do redis-cli -p "$p" ping >/dev/null 2>&1 && break; sleep 0.1; done
  done
  "$server" -c "$dir/server.conf" --log warn >"$dir/server.log" 2>&1 &
  PIDS+=($!); PID_SERVER[$name]=$!
  "$workers" -c "$dir/server.conf" --log warn >"$dir/workers.log" 2>&1 &
  PIDS+=($!); PID_WORKERS[$name]=$!
  for _ in $(seq 100); do (echo >/dev/tcp/127.0.0.1/"${DP[$name]}") 2>/dev/null && break; sleep 0.1; done
}

# ticks <pid...>: the CPU clock ticks of each process so far, space-separated.
ticks() {
  local p
  for p in "$@"; do printf '%s ' "$(proc_cpu_ticks "$p")"; done
}

# settle <pid...>: waits (up to 30 s) until the processes have used no more than one clock
# tick in 300 ms: the workers gzip a finished session's file in the background, which must not
# land in the next measurement.
settle() {
  local prev now
  prev=$(ticks "$@")
  for _ in $(seq 100); do
    sleep 0.3
    now=$(ticks "$@")
    # shellcheck disable=SC2086  # tick lists
    if [ "$(echo $prev $now | awk '{ n = NF / 2; d = 0; for (i = 1; i <= n; i++) d += $(i + n) - $i; print d }')" -le 1 ]; then
      return
    fi
    prev=$now
  done
}

# measure <chain> <sensors> <lines per sensor> <label>: one load generator run against the
# chain (or, with chain "baseline", the direct LPUSH into this build's ANALYZER store);
# prints its line, the CPU per line of each process and the host's state, and appends a
# record "label lps=N cpu..." to $WORK/rounds.
measure() {
  local chain=$1 sensors=$2 lines=$3 label=$4 c mark before after lps lg total
  c=$chain; [ "$chain" = baseline ] && c=new
  local pids=("${PID_SERVER[$c]}" "${PID_WORKERS[$c]}" "${PID_SP[$c]}" "${PID_MP[$c]}")
  local args=(--meta-port "${MP[$c]}" --ca "$WORK/rootCA.crt" --sensors "$sensors" --lines "$lines")
  if [ "$chain" = baseline ]; then args+=(--baseline); else args+=(--port "${DP[$c]}"); fi
  settle "${pids[@]}"
  mark=$(host_window)
  before=$(ticks "${pids[@]}")
  /usr/bin/time -f '%U %S' -o "$WORK/loadgen.time" "$LOADGEN" "${args[@]}" >"$WORK/loadgen.out"
  after=$(ticks "${pids[@]}")
  lps=$(grep -o '= [0-9]* lines/s' "$WORK/loadgen.out" | awk '{ print $2 }')
  lg=$(awk -v hz="$HOST_TICK" '{ printf "%d", ($1 + $2) * hz + 0.5 }' "$WORK/loadgen.time")
  total=$((sensors * lines))
  echo "[$label] $(cat "$WORK/loadgen.out")"
  local cpu
  # shellcheck disable=SC2086  # tick lists
  cpu=$(paste -d' ' <(echo $before | tr ' ' '\n') <(echo $after | tr ' ' '\n') |
    while read -r b a; do per_unit_us "$((a - b))" "$total"; printf ' '; done)
  cpu="$cpu$(per_unit_us "$lg" "$total")"
  # shellcheck disable=SC2086
  set -- $cpu
  echo "   CPU µs per line: d4-server $1, d4-workers $2, redis STREAM $3, redis ANALYZER $4, load generator $5 (prepares, encrypts and signs the input too)"
  echo "   host: $(host_window_report "$mark"); load average $(host_load)"
  host_steal_warning "$(host_window_steal "$mark")" "during this measurement"
  echo "$label lps=$lps server=$1 workers=$2 redis_stream=$3 redis_analyzer=$4 loadgen=$5" >>"$WORK/rounds"
}

start_chain new "$BIN/d4-server" "$BIN/d4-workers"
CHAINS=(new)
if [ -n "${SERVER_BEFORE:-}${WORKERS_BEFORE:-}" ]; then
  start_chain before "${SERVER_BEFORE:-$BIN/d4-server}" "${WORKERS_BEFORE:-$BIN/d4-workers}"
  CHAINS=(before new)
fi

echo "== D4 core end-to-end benchmark ($(nproc) CPUs, $(redis-server --version | awk '{print $3}'), $ROUNDS rounds) =="
[ -n "${SERVER_BEFORE:-}${WORKERS_BEFORE:-}" ] &&
  echo "before = d4-server ${SERVER_BEFORE:-(this build)}, d4-workers ${WORKERS_BEFORE:-(this build)}; new = this build"
host_begin
: >"$WORK/rounds"
for r in $(seq "$ROUNDS"); do
  echo "-- round $r of $ROUNDS"
  order=("${CHAINS[@]}")
  # Alternate which chain goes first, so neither always runs on a warmer or colder host.
  if [ $((r % 2)) = 0 ] && [ "${#CHAINS[@]}" = 2 ]; then order=(new before); fi
  for ch in "${order[@]}"; do measure "$ch" 1 "$L1" "$ch, 1 sensor"; done
  for ch in "${order[@]}"; do measure "$ch" 8 "$L8" "$ch, 8 sensors"; done
  measure baseline 1 "$L1" "baseline LPUSH"
done
host_end

# median <label>: the record of the median round of that label, by lines/s.
median() {
  grep "^$1 lps=" "$WORK/rounds" | sed "s/^$1 //" | sort -t= -k2 -n |
    sed -n "$(( ($(grep -c "^$1 lps=" "$WORK/rounds") + 1) / 2 ))p"
}
rate() { median "$1" | sed 's/^lps=\([0-9]*\).*/\1/'; }

echo "== medians of $ROUNDS rounds (CPU in µs per line) =="
base=$(rate "baseline LPUSH")
echo "baseline LPUSH: $(median "baseline LPUSH")"
for ch in "${CHAINS[@]}"; do
  for s in "1 sensor" "8 sensors"; do
    echo "$ch, $s: $(median "$ch, $s") ratio to LPUSH $(awk -v a="$(rate "$ch, $s")" -v b="$base" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')"
  done
done
if [ "${#CHAINS[@]}" = 2 ]; then
  for s in "1 sensor" "8 sensors"; do
    echo "new/before, $s: $(awk -v a="$(rate "new, $s")" -v b="$(rate "before, $s")" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')x lines/s"
  done
fi
for ch in "${CHAINS[@]}"; do
  if grep -q "ERROR\|WARN" "$WORK/$ch/server.log" "$WORK/$ch/workers.log"; then
    echo "--- warnings ($ch) ---"; grep -h "ERROR\|WARN" "$WORK/$ch/server.log" "$WORK/$ch/workers.log" | head -20
  fi
done
