#!/usr/bin/env bash
# Compares the ABI of a built libxfutures.so.0 with the committed baseline
# abi/libxfutures.so.0.abi (libabigail's abidw and abidiff). Added symbols are
# fine; a changed or removed one fails. With --update, writes the baseline
# instead: that is what `make abi-baseline` runs, on purpose, when the ABI
# changes deliberately.
# Usage: tests/abi/abi-check.sh <build-dir> [--update]
set -euo pipefail

build=${1:?usage: abi-check.sh <build-dir> [--update]}
root=$(cd "$(dirname "$0")/../.." && pwd)
lib=$build/libxfutures.so.0
headers=$root/core/include/xf
baseline=$root/abi/libxfutures.so.0.abi

[[ -f "$lib" ]] || { echo "abi-check: $lib is missing: build first" >&2; exit 1; }

if [[ "${2:-}" == "--update" ]]; then
  mkdir -p "$(dirname "$baseline")"
  abidw --no-corpus-path --short-locs --headers-dir "$headers" --out-file "$baseline" "$lib"
  echo "abi-check: wrote ${baseline#"$root"/}; review and commit it"
  exit 0
fi

if [[ ! -f "$baseline" ]]; then
  echo "abi-check: FAILED: there is no ABI baseline (abi/libxfutures.so.0.abi)." >&2
  echo "abi-check: create it with 'make abi-baseline' and commit it." >&2
  exit 1
fi

current=$build/abi/libxfutures.so.0.abi
mkdir -p "$(dirname "$current")"
abidw --no-corpus-path --short-locs --headers-dir "$headers" --out-file "$current" "$lib"

rc=0
abidiff --no-added-syms --headers-dir1 "$headers" --headers-dir2 "$headers" \
  "$baseline" "$current" || rc=$?
# abidiff's status is a bit set: 1 error, 2 usage error, 4 ABI change,
# 8 incompatible ABI change.
if ((rc & 12)); then
  echo "abi-check: FAILED: the ABI of libxfutures.so.0 differs from abi/libxfutures.so.0.abi." >&2
  echo "abi-check: if the change is deliberate (and the SONAME/version script say so)," >&2
  echo "abi-check: update the baseline with 'make abi-baseline' and commit it." >&2
  exit 1
elif ((rc != 0)); then
  echo "abi-check: FAILED: abidiff could not compare the ABIs (status $rc)" >&2
  exit 1
fi
echo "abi-check: libxfutures.so.0 matches abi/libxfutures.so.0.abi"
