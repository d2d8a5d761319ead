#!/usr/bin/env bash
# The main job on the embedded default, one process, no Slurm: the whole X-Omni study at tiny
# scale (jobs/tiny/xomni.toml through `xomni pipeline`: synthetic world -> image codec -> text LM
# -> X-Omni stages -> SFT -> GRPO -> evaluation -> report), about 12 minutes on 2 idle cores after the
# build. Rerunning skips the finished stages and resumes an interrupted one.
# Extra arguments go to `xomni pipeline` (e.g. --set study.scale=smoke for a two-minute check of
# the chain, --set study.seed=2 for another seed; docs/STUDY.md).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install_deps.sh
cmake --preset default >/dev/null
# The CLI, its built-in component plugins and the reward plugins the study's stages load.
cmake --build --preset default --target xomni xomni_reward_scene xomni_reward_ocr \
  xomni_reward_realism
OMP_NUM_THREADS="${OMP_NUM_THREADS:-2}" build/default/jobs/xomni pipeline jobs/tiny/xomni.toml "$@"
