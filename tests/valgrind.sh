#!/usr/bin/env bash
# Runs every C suite of a build (the tests/c/test_* executables) under
# valgrind memcheck, in Check's no-fork mode so that valgrind sees the tests
# themselves. Any memory error or leak fails the suite.
# Usage: tests/valgrind.sh <build-dir>
set -euo pipefail

build=${1:?usage: valgrind.sh <build-dir>}
root=$(cd "$(dirname "$0")/.." && pwd)
suppressions=()
if [[ -f "$root/tests/valgrind.supp" ]]; then
  suppressions=(--suppressions="$root/tests/valgrind.supp")
fi

# The suites are the executables of the CTest tests labelled "csuite" (asking
# CTest rather than globbing skips stale binaries of deleted suites).
mapfile -t suites < <(ctest --test-dir "$build" -L csuite --show-only=json-v1 |
  python3 -c 'import json, sys
for test in json.load(sys.stdin)["tests"]:
    print(test["command"][0])')
if ((${#suites[@]} == 0)); then
  echo "valgrind: CTest lists no C suites (label csuite) in $build" >&2
  exit 1
fi

passed=0
failed=0
for suite in "${suites[@]}"; do
  echo "== valgrind $(basename "$suite")"
  # Without fork, Check enforces no per-test timeout: bound the whole suite.
  if CK_FORK=no timeout 1200 valgrind --quiet --error-exitcode=1 --leak-check=full \
    --errors-for-leak-kinds=definite,indirect,possible \
    --show-leak-kinds=definite,indirect,possible \
    "${suppressions[@]}" "$suite"; then
    passed=$((passed + 1))
  else
    echo "valgrind: $(basename "$suite") FAILED" >&2
    failed=$((failed + 1))
  fi
done
echo "valgrind: $passed passed, $failed failed"
((failed == 0))
