#!/usr/bin/env bash
# Runs a command under `mpirun --oversubscribe -np NP` (as root too), or exits 77 (ctest: skipped)
# where mpirun is not installed.
#   mpirun.sh NP COMMAND [ARGS...]
set -u
np=$1
shift
command -v mpirun > /dev/null || { echo "skip: mpirun not found (apt-get install openmpi-bin)"; exit 77; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
exec mpirun --oversubscribe --bind-to none -np "$np" "$@"
