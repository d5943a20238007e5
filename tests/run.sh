#!/usr/bin/env bash
# The test command: builds the release binaries (the ones LAUNCH.sh runs) and runs every
# test of the workspace against them. Tests start their own stores on free loopback ports.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --workspace --bins
cargo test --release --workspace -- "$@"
