#!/usr/bin/env bash
# Page render benchmark of d4-web (1,000 sensors, 100 queues). Release build.
#   tests/bench/web/run.sh [iterations]            # against redis-server
#   D4_TEST_STORE=d4-kv tests/bench/web/run.sh     # against our d4-kv (build it first)
set -euo pipefail
cd "$(dirname "$0")/../../.."
# shellcheck source=tests/bench/lib.sh
. tests/bench/lib.sh
cargo build --release -q -p d4-web --example bench_pages
host_begin
cargo run --release -q -p d4-web --example bench_pages -- "${1:-30}"
host_end
