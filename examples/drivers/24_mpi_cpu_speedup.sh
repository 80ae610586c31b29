#!/usr/bin/env bash
# Runs an MPI example (24_mpi_cpu_speedup) under mpirun with 3 ranks, for
# the tour (scripts/demo.sh) and its CTest test:
#
#   examples/drivers/24_mpi_cpu_speedup.sh <program command...>
#
# A Python program runs as `python3 -m xfutures.mpi program.py`, so that
# rank 0 runs it and the other ranks serve it. The settings are this
# machine's: mpirun as root, more ranks than cores, shared memory and TCP on
# loopback only. Without mpirun nothing runs (a message on stderr, and the
# same empty output in every language).
set -uo pipefail

if ! command -v mpirun >/dev/null; then
  echo "mpirun is not installed: the MPI example cannot run" >&2
  exit 0
fi
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_rmaps_base_oversubscribe=1 OMPI_MCA_pml=ob1
export OMPI_MCA_btl=self,vader,tcp OMPI_MCA_btl_tcp_if_include=lo
export OMPI_MCA_oob_tcp_if_include=lo

# Under AddressSanitizer (make test-asan), the allocations Open MPI keeps
# until exit are not leaks of the example: tests/mpi/lsan.supp names Open
# MPI's libraries, and full unwinding lets it find their frames.
here=$(cd "$(dirname "$0")" && pwd)
export LSAN_OPTIONS="suppressions=$here/../../tests/mpi/lsan.supp:print_suppressions=0${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
export ASAN_OPTIONS="fast_unwind_on_malloc=0${ASAN_OPTIONS:+:$ASAN_OPTIONS}"

cmd=("$@")
if [[ $(basename "$1") == python3* ]]; then
  cmd=("$1" -m xfutures.mpi "${@:2}")
fi
exec mpirun -n 3 "${cmd[@]}"
