#!/usr/bin/env bash
# Runs an MPI job that must fail (a rank dies mid-task) and checks that it
# does fail, by itself, within 60 seconds: no hang, and no success.
#   tests/mpi/fault.sh <mpirun command...>
set -uo pipefail
timeout 60 "$@"
rc=$?
if ((rc == 124)); then
  echo "fault: the job hung (killed after 60 s)" >&2
  exit 1
fi
if ((rc == 0)); then
  echo "fault: the job succeeded, but a rank died" >&2
  exit 1
fi
echo "fault: the job ended with status $rc, as it must when a rank dies"
exit 0
