#!/bin/bash
# Runs the fuzzers of a fuzz build tree for a bounded time each:
#   tests/fuzz/run.sh BUILD_DIR NAME:SECONDS...
# Each fuzzer works on its own copy of the committed seeds,
# BUILD_DIR/fuzz-corpus/NAME, which keeps what it learns from one run to the
# next; the committed corpus is never written. A finding stops that fuzzer,
# the others still run, and the script fails at the end, saying where each
# reproducer is and how to replay it.
#
# FUZZ_KEEP_GOING=1 runs each fuzzer in libFuzzer's fork mode and goes on
# past findings for the whole time (each is saved), so that one known bug
# does not hide the others; the script still fails if there was any.
set -u
if [ $# -lt 2 ]; then
  echo "usage: $0 BUILD_DIR NAME:SECONDS..." >&2
  exit 2
fi
build=$(cd "$1" && pwd)
shift
here=$(cd "$(dirname "$0")" && pwd)
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}

failed=()
for spec in "$@"; do
  name=${spec%%:*}
  seconds=${spec#*:}
  exe=$build/tests/fuzz/$name
  work=$build/fuzz-corpus/$name
  artifacts=$build/fuzz-artifacts/$name
  log=$build/fuzz-logs/$name.log
  if [ ! -x "$exe" ]; then
    echo "fuzz: $exe is not built" >&2
    failed+=("$name")
    continue
  fi
  mkdir -p "$work" "$artifacts" "$(dirname "$log")"
  cp -n "$here/corpus/$name"/* "$work"/
  echo "fuzz: $name for ${seconds}s (corpus $work, log $log)"
  keep=()
  if [ "${FUZZ_KEEP_GOING:-0}" = 1 ]; then
    keep=(-fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1)
  fi
  before=$(find "$artifacts" -type f | wc -l)
  "$exe" "${keep[@]}" -max_total_time="$seconds" -timeout=30 -max_len=1024 \
    -print_final_stats=1 -artifact_prefix="$artifacts/" "$work" >"$log" 2>&1
  rc=$?
  found=$(($(find "$artifacts" -type f | wc -l) - before))
  if [ ${#keep[@]} -ne 0 ] && [ $found -gt 0 ]; then
    echo "fuzz: $name saved $found reproducers in $artifacts"
    rc=1
  fi
  # The last status line holds the coverage (cov), the features (ft) and the
  # corpus size; the final stats the number of runs.
  grep -E '^#[0-9]+' "$log" | tail -n 1
  grep -E '^stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb)' "$log"
  if [ $rc -ne 0 ]; then
    failed+=("$name")
    echo "fuzz: $name FAILED (exit $rc); the report:"
    grep -m 1 -E 'fuzz invariant broken|ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error' "$log"
    unit=$(sed -n "s/.*Test unit written to \(.*\)$/\1/p" "$log" | tail -n 1)
    if [ -n "$unit" ]; then
      echo "fuzz: reproducer: $unit"
      echo "fuzz: replay it with: $exe $unit"
      echo "fuzz: minimise it with: $exe -minimize_crash=1 -max_total_time=60 $unit"
    fi
  fi
done

if [ ${#failed[@]} -ne 0 ]; then
  echo "fuzz: failed: ${failed[*]}"
  exit 1
fi
echo "fuzz: no findings"
