#!/usr/bin/env bash
# Runs every fuzz target for SECONDS seconds (default 20), JOBS targets at a
# time (default 1), and fails if any target finds a crash, a panic, a leak or
# a hang (libFuzzer's -timeout), printing the figures of each run.
#
#   fuzz/run-briefly.sh [SECONDS] [JOBS]
#
# cargo-fuzz needs nightly features; RUSTC_BOOTSTRAP=1 lets a stable
# toolchain build them (CI has only stable). FUZZ_SANITIZER picks cargo
# fuzz's sanitizer (default: none, since everything fuzzed is safe Rust —
# volnic-core forbids unsafe code — and libFuzzer catches panics, hangs and
# stack overflows by itself; `address` runs the same targets under ASan).
set -euo pipefail
cd "$(dirname "$0")"
seconds=${1:-20}
jobs=${2:-1}
export RUSTC_BOOTSTRAP=1
sanitizer=${FUZZ_SANITIZER:-none}
# A fixed seed (FUZZ_SEED, default 1): runs of the same build explore the
# same inputs, so a red CI run names a change, not luck; FUZZ_SEED=0 lets
# libFuzzer pick one. Every file in seeds/TARGET is replayed first: inputs
# that once found a defect stay tests.
seed=${FUZZ_SEED:-1}

targets=$(cargo fuzz list)
cargo fuzz build --sanitizer "$sanitizer" >/dev/null

mkdir -p logs
run_one() {
    local target=$1
    mkdir -p "corpus/$target"
    local seeds=()
    [ -d "seeds/$target" ] && seeds=("seeds/$target")
    # -timeout: one input taking longer than 10 s counts as a hang.
    if cargo fuzz run --sanitizer "$sanitizer" "$target" "corpus/$target" "${seeds[@]}" -- \
        -max_total_time="$seconds" -timeout=10 -seed="$seed" -print_final_stats=1 \
        >"logs/$target.log" 2>&1; then
        local runs
        runs=$(grep -E '^stat::number_of_executed_units' "logs/$target.log" | awk '{print $2}')
        echo "fuzz $target: ${seconds} s, ${runs:-?} inputs, no finding (sanitizer: $sanitizer)"
    else
        echo "fuzz $target: FAILED (see fuzz/logs/$target.log):"
        tail -n 30 "logs/$target.log"
        return 1
    fi
}

failed=0
running=0
pids=()
for target in $targets; do
    run_one "$target" &
    pids+=($!)
    running=$((running + 1))
    if [ "$running" -ge "$jobs" ]; then
        wait "${pids[0]}" || failed=1
        pids=("${pids[@]:1}")
        running=$((running - 1))
    fi
done
for pid in "${pids[@]}"; do
    wait "$pid" || failed=1
done
exit "$failed"
