#!/usr/bin/env bash
# Runs one libFuzzer target as a meson test (see meson.build here).
#   run_fuzzer.sh FUZZER SEED_DIR WORK_DIR [libFuzzer flags...]
# SQTAIL_FUZZ_SECONDS unset or 0: runs each seed once. N > 0: fuzzes for N seconds from the
# seeds. New inputs go to WORK_DIR/corpus, never into the checked-in seeds; a crash, leak,
# timeout or out-of-memory input is kept as WORK_DIR/crash-* (or leak-, timeout-, oom-) and
# printed with the command that replays it. Exit 0 when nothing was found.
set -uo pipefail
fuzzer=$1 seeds=$2 work=$3
shift 3
seconds=${SQTAIL_FUZZ_SECONDS:-0}
name=$(basename "$fuzzer")

mkdir -p "$work/corpus"
rm -f "$work"/crash-* "$work"/leak-* "$work"/timeout-* "$work"/oom-* "$work"/slow-unit-*
# -timeout: one input taking 10 s is a hang worth reporting. -rss_limit_mb: libFuzzer's
# default; sqtail's own limits are far below it. -error_exitcode: tells findings apart.
common=(-timeout=10 -rss_limit_mb=2048 -error_exitcode=77 -timeout_exitcode=78
        -artifact_prefix="$work/" -print_final_stats=1 "$@")
if [[ "$seconds" -gt 0 ]]; then
  echo "$name: fuzzing for ${seconds}s from $seeds"
  "$fuzzer" "${common[@]}" -max_total_time="$seconds" "$work/corpus" "$seeds"
else
  echo "$name: running each seed of $seeds once"
  "$fuzzer" "${common[@]}" -runs=0 "$seeds"
fi
status=$?

found=$(ls "$work"/crash-* "$work"/leak-* "$work"/timeout-* "$work"/oom-* 2>/dev/null)
if [[ $status -ne 0 || -n "$found" ]]; then
  echo "$name: FAILED (exit status $status)"
  for f in $found; do
    echo "--- finding: $f ($(stat -c %s "$f") bytes); replay with: $fuzzer $f"
    echo "--- first 512 bytes, base64 (base64 -d > input):"
    head -c 512 "$f" | base64 -w 100
  done
  echo "A finding becomes a seed in $seeds, named after what it caught, and a regression"
  echo "test in the module's unit tests."
  exit 1
fi
echo "$name: OK"
