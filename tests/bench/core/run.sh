#!/usr/bin/env bash
# End-to-end throughput of d4-server + d4-workers: passivedns lines from TLS sensors
# into an analyzer queue, with real redis-server, release build, 1 and 8 sensors.
# Prints lines/s next to the store's own ceiling (direct multi-value LPUSH).
#
# Usage: tests/bench/core/run.sh [LINES_PER_SENSOR_FOR_1] [LINES_PER_SENSOR_FOR_8]
set -euo pipefail
cd "$(dirname "$0")/../../.."
ROOT=$(pwd)
# shellcheck source=tests/bench/lib.sh
. tests/bench/lib.sh
L1=${1:-400000}
L8=${2:-50000}

command -v redis-server >/dev/null || { echo "redis-server is required" >&2; exit 1; }
command -v openssl >/dev/null || { echo "openssl is required" >&2; exit 1; }

cargo build --release -q --workspace --bins && cargo build --release -q -p d4-server --example d4_loadgen
BIN=$ROOT/target/release

WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

SP=$(free_port); MP=$(free_port); DP=$(free_port)
for p in "$SP" "$MP"; do
  redis-server --port "$p" --bind 127.0.0.1 --save "" --appendonly no --dir "$WORK" \
    >"$WORK/redis-$p.log" 2>&1 &
  PIDS+=($!)
done

cp gen_cert/gen_root.sh gen_cert/gen_cert.sh gen_cert/openssl.cnf gen_cert/server_ext.cnf "$WORK/"
(cd "$WORK" && bash gen_root.sh >/dev/null && bash gen_cert.sh >/dev/null)

cat >"$WORK/server.conf" <<CONF
[Save_Directories]
use_default_save_directory = no
save_directory = $WORK/data

[D4_Server]
server_port = $DP
server_host = 127.0.0.1
server_mode = shared-secret
default_hmac_key = private key to change
analyzer_queues_max_size = 100000000
tls_cert_file = $WORK/server.crt
tls_key_file = $WORK/server.key

[Redis_STREAM]
host = 127.0.0.1
port = $SP
db = 0

[Redis_METADATA]
host = 127.0.0.1
port = $MP
db = 0

[Redis_SERV]
host = 127.0.0.1
port = $MP
db = 1

[Redis_ANALYZER]
host = 127.0.0.1
port = $MP
db = 2

[Redis_CACHE]
host = 127.0.0.1
port = $MP
db = 3
CONF

for p in "$SP" "$MP"; do
  for _ in $(seq 50); do redis-cli -p "$p" ping >/dev/null 2>&1 && break; sleep 0.1; done
done

"$BIN/d4-server" -c "$WORK/server.conf" --log warn >"$WORK/server.log" 2>&1 &
PIDS+=($!)
"$BIN/d4-workers" -c "$WORK/server.conf" --log warn >"$WORK/workers.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do (echo >/dev/tcp/127.0.0.1/"$DP") 2>/dev/null && break; sleep 0.1; done

echo "== D4 core end-to-end benchmark ($(nproc) CPUs, $(redis-server --version | awk '{print $3}')) =="
host_begin
host_run "$BIN/examples/d4_loadgen" --port "$DP" --ca "$WORK/rootCA.crt" --meta-port "$MP" --sensors 1 --lines "$L1"
host_run "$BIN/examples/d4_loadgen" --port "$DP" --ca "$WORK/rootCA.crt" --meta-port "$MP" --sensors 8 --lines "$L8"
host_run "$BIN/examples/d4_loadgen" --meta-port "$MP" --ca "$WORK/rootCA.crt" --sensors 1 --lines "$L1" --baseline
host_end
if grep -q "ERROR\|WARN" "$WORK/server.log" "$WORK/workers.log"; then
  echo "--- warnings ---"; grep -h "ERROR\|WARN" "$WORK/server.log" "$WORK/workers.log" | head -20
fi
