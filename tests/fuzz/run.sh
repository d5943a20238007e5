#!/usr/bin/env bash
# Fuzzes the parsers that read untrusted input, with cargo-fuzz (libFuzzer):
#   tests/fuzz/run.sh                      every target, FUZZ_SECONDS each (default 20)
#   tests/fuzz/run.sh kv_resp              one target
#   FUZZ_SECONDS=3600 tests/fuzz/run.sh    the long run
# Installs cargo-fuzz if it is missing, builds every target first, runs the targets one
# after the other, prints each one's executions (libFuzzer's final stats) and exits
# non-zero if any target crashed, failed an assertion or hung (FUZZ_TIMEOUT seconds for
# one input, default 10). A failing input is saved under tests/fuzz/artifacts/<target>/;
# replay it with the command printed below the failure.
#
# The stable toolchain is enough: with the default FUZZ_SANITIZER=none (the code under
# test has no unsafe code) cargo-fuzz passes only stable compiler flags. A sanitizer
# (FUZZ_SANITIZER=address) needs a nightly flag, which this script then allows on stable
# with RUSTC_BOOTSTRAP=1; that changes cargo's fingerprints, so switching rebuilds all.
# Builds go to tests/fuzz/target (never the main workspace's target dir and its lock).
# New inputs the fuzzer finds go to tests/fuzz/target/corpus/<target>/ and are used
# again by the next run; the committed seeds in tests/fuzz/corpus/<target>/ are only read.
set -euo pipefail
cd "$(dirname "$0")"
fuzz_dir=$PWD

CARGO_FUZZ_VERSION=0.13.2
seconds=${FUZZ_SECONDS:-20}
timeout=${FUZZ_TIMEOUT:-10}
sanitizer=${FUZZ_SANITIZER:-none}
replay_env=""
if [ "$sanitizer" != none ]; then
    export RUSTC_BOOTSTRAP=1
    replay_env="RUSTC_BOOTSTRAP=1 "
fi

all_targets=(d4_header d4_session kv_resp pdns_line capture ini)
if [ $# -gt 0 ]; then
    targets=("$@")
else
    targets=("${all_targets[@]}")
fi
for t in "${targets[@]}"; do
    if [ ! -f "fuzz_targets/$t.rs" ]; then
        echo "unknown fuzz target '$t' (targets: ${all_targets[*]})" >&2
        exit 2
    fi
done

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "== installing cargo-fuzz $CARGO_FUZZ_VERSION"
    cargo install cargo-fuzz --locked --version "$CARGO_FUZZ_VERSION"
fi

# The same flags for build and run, so that `cargo fuzz run` finds nothing to rebuild.
flags=(--fuzz-dir "$fuzz_dir" --target-dir "$fuzz_dir/target" --sanitizer "$sanitizer")

echo "== building the fuzz targets (${targets[*]})"
if [ $# -gt 0 ]; then
    for t in "${targets[@]}"; do cargo fuzz build "${flags[@]}" "$t"; done
else
    cargo fuzz build "${flags[@]}"
fi

mkdir -p target/logs
failed=()
for t in "${targets[@]}"; do
    echo "== fuzzing $t for ${seconds}s"
    mkdir -p "target/corpus/$t"
    log="target/logs/$t.log"
    status=0
    cargo fuzz run "${flags[@]}" "$t" "target/corpus/$t" "corpus/$t" -- \
        -max_total_time="$seconds" -timeout="$timeout" -print_final_stats=1 \
        >"$log" 2>&1 || status=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
    if [ "$status" -ne 0 ]; then
        failed+=("$t")
        echo "FAIL $t: exit status $status after ${execs:-?} executions (log: tests/fuzz/$log):"
        # The panic or sanitizer report, then libFuzzer's summary and the failing input.
        grep -m 1 -A 12 -E "panicked at|ERROR: libFuzzer|==[0-9]+==ERROR" "$log" || tail -n 30 "$log"
        sed -n '/^Failing input:/,/^Reproduce with:/p' "$log" | head -n 12
        artifact=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)
        if [ -n "$artifact" ]; then
            echo "replay: ${replay_env}cargo fuzz run --fuzz-dir tests/fuzz --target-dir tests/fuzz/target --sanitizer $sanitizer $t tests/fuzz/${artifact#"$fuzz_dir"/}"
        fi
    else
        echo "ok $t: ${execs:-?} executions in ${seconds}s (${rate:-?}/s), corpus $(find "target/corpus/$t" -type f | wc -l) new + $(find "corpus/$t" -type f | wc -l) seeds"
    fi
done

echo "fuzz: $((${#targets[@]} - ${#failed[@]})) targets ok, ${#failed[@]} failed${failed[*]:+ (${failed[*]})}"
[ ${#failed[@]} -eq 0 ]
