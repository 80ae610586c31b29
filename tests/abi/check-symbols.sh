#!/usr/bin/env bash
# Checks what the shared library exports against what the headers publish.
# Fails if the library exports a dynamic symbol that does not start with
# xf_, that carries no version from core/xfutures.map, or that no public
# header declares with XF_API; and if an XF_API function of
# core/include/xf/*.h is missing from the library or from the version script.
# Usage: tests/abi/check-symbols.sh <libxfutures.so>
set -euo pipefail
export LC_ALL=C

lib=${1:?usage: check-symbols.sh <libxfutures.so>}
root=$(cd "$(dirname "$0")/../.." && pwd)
map=$root/core/xfutures.map
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
status=0

# fail TITLE FILE: report the names in FILE, if any, under TITLE.
fail() {
  if [[ -s "$2" ]]; then
    echo "check-symbols: $1:" >&2
    sed 's/^/  /' "$2" >&2
    status=1
  fi
}

[[ -f "$map" ]] || { echo "check-symbols: $map is missing" >&2; exit 1; }

# XF_API functions of the public headers: the identifier before the first "(".
sed -n -E 's/^XF_API[^(]*[^A-Za-z0-9_](xf_[A-Za-z0-9_]+)[[:space:]]*\(.*/\1/p' \
  "$root"/core/include/xf/*.h | sort -u >"$work/declared"
# Names listed in the version script, comments left out.
sed -E -e 's|/\*.*\*/||g' -e 's|#.*||' "$map" |
  grep -o -E '\bxf_[A-Za-z0-9_]+\b' | sort -u >"$work/mapped"
# Version nodes of the script ("XFUTURES_0.1 {"): nm lists them as symbols too.
sed -n -E 's/^[[:space:]]*([A-Za-z0-9_.]+)[[:space:]]*\{.*/\1/p' "$map" | sort -u >"$work/nodes"

# Exported symbols as "name version"; the version is empty when there is none.
nm -D --defined-only "$lib" | awk '{ print $NF }' |
  awk -F '@' '{ print $1, $NF == $1 ? "" : $NF }' | sort -u >"$work/exported"
grep -v -x -F -f <(sed 's/$/ /' "$work/nodes") "$work/exported" >"$work/symbols" || true
cut -d ' ' -f 1 "$work/symbols" | sort -u >"$work/names"

grep -v -E '^xf_' "$work/names" >"$work/foreign" || true
fail "exported symbols without the xf_ prefix" "$work/foreign"
awk '$2 == "" { print $1 }' "$work/symbols" >"$work/unversioned"
fail "exported symbols without a version node" "$work/unversioned"
comm -23 "$work/names" "$work/declared" >"$work/undeclared"
fail "exported symbols that no public header declares with XF_API" "$work/undeclared"
comm -13 "$work/names" "$work/declared" >"$work/missing"
fail "XF_API functions missing from $(basename "$lib")" "$work/missing"
comm -13 "$work/mapped" "$work/declared" >"$work/unmapped"
fail "XF_API functions missing from core/xfutures.map" "$work/unmapped"

if ((status == 0)); then
  echo "check-symbols: $(wc -l <"$work/names") symbols exported, all declared and versioned"
fi
exit "$status"
