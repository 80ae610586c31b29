#!/usr/bin/env bash
# The tour: every example program in every language, grouped by name. For
# each name under examples/{c,python,lua,node}, the languages run one after
# another (C from <build-dir>/examples/c, the others from their folders with
# the bindings of <build-dir>); their outputs must be identical. Ends with
#   demo: N examples in M languages ran, F failed, D differed
# and exits non-zero if any program failed or any outputs differed.
#
# Usage: scripts/demo.sh [-q] <build-dir>
#   -q  quiet: print only problems (a failure, a diff) and the summary line
#
# A language whose binding is not built in <build-dir> is skipped (and not
# counted); an example missing in a language is run in the others only.
# An example that needs a client (a server) has one in
# examples/drivers/NAME.sh: the tour runs the driver with the program's
# command line as its arguments, and compares what the driver prints (the
# program's output, made independent of the run, such as its port).
set -uo pipefail

quiet=0
if [[ ${1:-} == -q ]]; then
  quiet=1
  shift
fi
build=$(cd "${1:?usage: demo.sh [-q] <build-dir>}" && pwd) || exit 1
root=$(cd "$(dirname "$0")/.." && pwd)
examples=$root/examples

export PYTHONPATH="$build/bindings/python${PYTHONPATH:+:$PYTHONPATH}"
export LUA_CPATH="$build/bindings/lua/?.so;;"
export LUA_PATH="$build/bindings/lua/?.lua;$root/bindings/lua/?.lua;;"
export NODE_PATH="$build/bindings/node${NODE_PATH:+:$NODE_PATH}"

# The languages available in this build, in tour order, with the file
# extension of their examples.
langs=()
declare -A ext=([c]=c [python]=py [lua]=lua [node]=js)
[[ -d $build/examples/c ]] && langs+=(c)
[[ -d $build/bindings/python/xfutures ]] && command -v /usr/bin/python3 >/dev/null && langs+=(python)
[[ -d $build/bindings/lua ]] && command -v lua5.4 >/dev/null && langs+=(lua)
[[ -d $build/bindings/node/xfutures ]] && command -v node >/dev/null && langs+=(node)

# command LANG NAME: the command line that runs one example.
command_for() {
  case $1 in
  c) echo "$build/examples/c/$2" ;;
  python) echo "/usr/bin/python3 $examples/python/$2.py" ;;
  lua) echo "lua5.4 $examples/lua/$2.lua" ;;
  node) echo "node $examples/node/$2.js" ;;
  esac
}

say() {
  ((quiet)) || echo "$@"
}

# Every example name, from the sources of every language, sorted.
mapfile -t names < <(
  for lang in "${langs[@]}"; do
    for f in "$examples/$lang"/*."${ext[$lang]}"; do
      [[ -f $f ]] && basename "$f" ".${ext[$lang]}"
    done
  done | sort -u
)

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
ran=0 failed=0 differed=0 nexamples=0
declare -A used=()

for name in "${names[@]}"; do
  nexamples=$((nexamples + 1))
  say "=== $name ==="
  present=()
  for lang in "${langs[@]}"; do
    [[ -f $examples/$lang/$name.${ext[$lang]} ]] || continue
    [[ $lang == c && ! -x $build/examples/c/$name ]] && continue
    present+=("$lang")
    used[$lang]=1
    say "--- $lang"
    ran=$((ran + 1))
    # stdout is compared; stderr goes to the terminal.
    driver=()
    [[ -x $examples/drivers/$name.sh ]] && driver=("$examples/drivers/$name.sh")
    if timeout 60 "${driver[@]}" $(command_for "$lang" "$name") >"$tmp/$lang.out"; then
      ((quiet)) || cat "$tmp/$lang.out"
    else
      cat "$tmp/$lang.out"
      echo "demo: $name in $lang FAILED" >&2
      failed=$((failed + 1))
      : >"$tmp/$lang.failed"
    fi
  done
  if ((${#present[@]} > 1)); then
    same=1
    for lang in "${present[@]:1}"; do
      [[ -e $tmp/$lang.failed || -e $tmp/${present[0]}.failed ]] && continue
      if ! cmp -s "$tmp/${present[0]}.out" "$tmp/$lang.out"; then
        same=0
        echo "demo: $name: ${present[0]} and $lang differ:"
        diff -u --label "${present[0]}" --label "$lang" "$tmp/${present[0]}.out" "$tmp/$lang.out"
      fi
    done
    if ((same)); then
      say "same output in ${#present[@]} languages"
    else
      differed=$((differed + 1))
    fi
  elif ((${#present[@]} == 1)); then
    say "(only in ${present[0]})"
  fi
  rm -f "$tmp"/*.out "$tmp"/*.failed
  say
done

echo "demo: $nexamples examples in ${#used[@]} languages ran, $failed failed, $differed differed"
((failed == 0 && differed == 0))
