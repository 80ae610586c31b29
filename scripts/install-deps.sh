#!/usr/bin/env bash
# Installs the Debian packages that building, testing and benchmarking
# xfutures need. Idempotent: it asks dpkg which packages are missing and runs
# apt-get (update, then install) only for those, so a machine that has them
# all returns at once.
set -euo pipefail

packages=(
  build-essential cmake pkg-config check libffi-dev valgrind abigail-tools
  clang-format swig lua5.4 liblua5.4-dev lua-busted
  python3-dev python3-pytest python3-hypothesis python3-uvloop python3-setuptools mypy
  libuv1-dev libglib2.0-dev libtbb-dev g++ gnuplot-nox python3-matplotlib chromium
  libjson-c-dev lua-dkjson
  lua-luv
  clang libclang-rt-14-dev curl
  libcbor-dev python3-cbor2 python3-cloudpickle
  python3-joblib
  openmpi-bin libopenmpi-dev python3-mpi4py
)

missing=()
for pkg in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
  if [[ "$status" != "install ok installed" ]]; then
    missing+=("$pkg")
  fi
done

if ((${#missing[@]} == 0)); then
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
sudo=()
if ((EUID != 0)); then
  sudo=(sudo)
fi
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
