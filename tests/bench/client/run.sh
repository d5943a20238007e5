#!/usr/bin/env bash
# redis-rs against fred on the COF query shape, same run (see client_bench.rs).
# Usage: tests/bench/client/run.sh [SECONDS_PER_ROUND] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/../../.."
# shellcheck source=tests/bench/lib.sh
. tests/bench/lib.sh
cargo build --release -q -p d4-testkit --example client_bench
host_begin
cargo run --release -q -p d4-testkit --example client_bench -- "${1:-4}" "${2:-3}"
host_end
