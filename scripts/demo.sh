#!/usr/bin/env bash
# Runs every example program there is, each under a header line: the C
# examples built in <build-dir>/examples/c, then the Python, Lua and Node
# examples when their folders exist. Ends with one summary line and fails if
# any example failed.
# Usage: scripts/demo.sh <build-dir>
set -uo pipefail

build=$(cd "${1:?usage: demo.sh <build-dir>}" && pwd) || exit 1
root=$(cd "$(dirname "$0")/.." && pwd)
ran=0
failed=0

# run LABEL COMMAND...: one example under its header line.
run() {
  local label=$1
  shift
  echo "=== $label ==="
  ran=$((ran + 1))
  if ! "$@"; then
    echo "demo: $label FAILED" >&2
    failed=$((failed + 1))
  fi
  echo
}

for exe in "$build"/examples/c/*; do
  [[ -f "$exe" && -x "$exe" ]] && run "c: $(basename "$exe")" "$exe"
done

if [[ -d "$root/examples/python" ]]; then
  export PYTHONPATH="$build/bindings/python${PYTHONPATH:+:$PYTHONPATH}"
  for f in "$root"/examples/python/*.py; do
    [[ -f "$f" ]] && run "python: $(basename "$f")" /usr/bin/python3 "$f"
  done
fi

if [[ -d "$root/examples/lua" ]]; then
  export LUA_CPATH="$build/bindings/lua/?.so;;"
  export LUA_PATH="$build/bindings/lua/?.lua;$root/bindings/lua/?.lua;;"
  for f in "$root"/examples/lua/*.lua; do
    [[ -f "$f" ]] && run "lua: $(basename "$f")" lua5.4 "$f"
  done
fi

if [[ -d "$root/examples/node" ]]; then
  export NODE_PATH="$build/bindings/node${NODE_PATH:+:$NODE_PATH}"
  for f in "$root"/examples/node/*.js; do
    [[ -f "$f" ]] && run "node: $(basename "$f")" node "$f"
  done
fi

echo "demo: $ran examples ran, $failed failed"
((failed == 0))
