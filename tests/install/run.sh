#!/usr/bin/env bash
# Installs a built xfutures into a temporary prefix, then builds and runs the
# consumer project in consumer/ against it: with CMake's find_package(xfutures)
# (shared and static) and with `pkg-config --cflags --libs xfutures`.
# Usage: tests/install/run.sh <build-dir>
set -euo pipefail

build=$(cd "${1:?usage: run.sh <build-dir>}" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
prefix=$work/prefix

echo "== install into $prefix"
cmake --install "$build" --prefix "$prefix" >/dev/null

echo "== consumer with find_package(xfutures)"
cmake -S "$here/consumer" -B "$work/cmake" -DCMAKE_PREFIX_PATH="$prefix" \
  -DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build "$work/cmake" >/dev/null
"$work/cmake/consumer"
"$work/cmake/consumer_static"

echo "== consumer with pkg-config"
pcfile=$(find "$prefix" -name xfutures.pc -print -quit)
[[ -n "$pcfile" ]] || { echo "run.sh: xfutures.pc was not installed" >&2; exit 1; }
export PKG_CONFIG_PATH
PKG_CONFIG_PATH=$(dirname "$pcfile")
libdir=$(pkg-config --variable=libdir xfutures)
# shellcheck disable=SC2046 # pkg-config prints flags meant to be split
cc -std=c11 -Wall -Wextra -Werror -Wstrict-prototypes -o "$work/consumer-pc" \
  "$here/consumer/main.c" $(pkg-config --cflags --libs xfutures) -Wl,-rpath,"$libdir"
"$work/consumer-pc"

echo "install_consumer: passed"
