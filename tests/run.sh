#!/usr/bin/env bash
# The test command: builds the release binaries (the ones LAUNCH.sh runs) and runs every
# test of the workspace against them. Tests start their own stores on free loopback ports
# (real redis-server by default), then the D4 chain's process tests run a second time with
# our own d4-kv in place of redis-server.
set -euo pipefail
cd "$(dirname "$0")/.."
log=$(mktemp)
trap 'rm -f "$log"' EXIT
cargo build --release --workspace --bins
cargo test --release --workspace -- "$@" 2>&1 | tee -a "$log"

echo "== the D4 chain again, with d4-kv as the store (D4_TEST_STORE=d4-kv)"
export D4_TEST_STORE=d4-kv
# One invocation over the workspace, so features resolve as above and nothing is rebuilt.
cargo test --release --workspace --test core --test it --test web -- "$@" 2>&1 | tee -a "$log"

echo "== Redis's own Tcl test suite against d4-kv (tests/redis-tcl/README.md lists the exclusions)"
D4KV_BIN="$PWD/target/release/d4-kv" tests/redis-tcl/run.sh 2>&1 | tee -a "$log"

# One closing line over everything above (every step must have passed to get here).
passed=$(sed -n 's/^test result: ok\. \([0-9]*\) passed.*/\1/p; s/^PASS .*(\([0-9]*\) ok.*/\1/p' "$log" | awk '{s+=$1} END {print s+0}')
echo "tests: $passed passed, 0 failed"
