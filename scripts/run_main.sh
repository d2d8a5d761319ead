#!/usr/bin/env bash
# The main job on the embedded default, one process, no Slurm: until the X-Omni pipeline exists
# this is the tiny language-model job (jobs/tiny/lm.toml on the license texts Debian ships):
# tokenise, train ~1 minute on 2 cores, print the loss and a generated sample.
# Extra arguments go to `xomni train` (e.g. --set train.steps=200).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install_deps.sh
cmake --preset default >/dev/null
cmake --build --preset default --target xomni
OMP_NUM_THREADS="${OMP_NUM_THREADS:-2}" jobs/tiny/run_lm.sh "$@"
