#!/usr/bin/env bash
# Runs libFuzzer targets one after the other: fuzz/run.sh BUILD_DIR SECONDS NAME...
# Each target starts from BUILD_DIR/corpus/<name>/, a working copy that fuzz/corpus/<name>/ is copied
# into first (so the repository corpus changes only on purpose), with fuzz/dict/<name>.dict when
# there is one. A crash, leak, sanitizer report or timeout fails the run; the input that caused it
# is left in BUILD_DIR/crashes/<name>/ and named on the last lines.
set -uo pipefail
cd "$(dirname "$0")/.."

dir=$1
secs=$2
shift 2
failed=()
for name in "$@"; do
    corpus=$dir/corpus/$name
    crashes=$dir/crashes/$name
    mkdir -p "$corpus" "$crashes"
    cp -n fuzz/corpus/"$name"/* "$corpus"/ 2>/dev/null || true
    opts=(-max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
          -artifact_prefix="$crashes"/)
    [ -f fuzz/dict/"$name".dict ] && opts+=(-dict=fuzz/dict/"$name".dict)
    # twin documents reach their 32 KB limits only with long inputs
    [ "$name" = twin ] && opts+=(-max_len=40000)
    log=$dir/fuzz_$name.log
    echo "== fuzz_$name: ${secs}s from $corpus"
    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 "$dir"/fuzz_"$name" "${opts[@]}" "$corpus" >"$log" 2>&1
    rc=$?
    # one line of figures: executions, speed, coverage
    grep -E '^(#[0-9]+[[:space:]]+DONE|stat::number_of_executed_units|stat::average_exec_per_sec)' "$log" |
        tr '\n' ' ' | sed 's/^/   /'
    echo
    if [ $rc -ne 0 ]; then
        tail -n 40 "$log" >&2
        echo "fuzz_$name FAILED (exit $rc); full log $log, input(s):" >&2
        ls -1 "$crashes" >&2
        failed+=("$name")
    fi
done
if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzz: ${#failed[@]} target(s) failed: ${failed[*]}" >&2
    exit 1
fi
exit 0
