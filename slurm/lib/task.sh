#!/usr/bin/env bash
# One task of a Slurm job step (srun runs this once per task): exports the rank variables, binds
# the task to one GPU and its OpenMP threads to its CPUs, then runs the command. With GPUs the
# task's device is the SLURM_LOCALID-th of the GPUs the node gave the job (CUDA_VISIBLE_DEVICES,
# or 0..N-1 when Slurm set none), so one task drives one GPU and local rank 0 is the node's first
# GPU.
set -euo pipefail
export LOCAL_RANK="${SLURM_LOCALID:-0}" RANK="${SLURM_PROCID:-0}" WORLD_SIZE="${SLURM_NTASKS:-1}"
gpus_per_node="${XOMNI_GPUS_PER_NODE:-0}"
if ((gpus_per_node > 0)); then
  IFS=, read -ra gpus <<< "${CUDA_VISIBLE_DEVICES:-$(seq -s, 0 $((gpus_per_node - 1)))}"
  if ((${#gpus[@]} > 1)); then
    export CUDA_VISIBLE_DEVICES="${gpus[LOCAL_RANK % ${#gpus[@]}]}"
  fi
fi
# OpenMP threads stay inside the task's CPUs, one per core, when Slurm pinned the task to a part of
# the node (srun --cpu-bind). An unpinned task sees every CPU of the node: pinning its threads then
# would stack every task's threads on the node's first cores, so the OS places them instead.
allowed=$(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc) # nproc obeys OMP_NUM_THREADS
if ((allowed < $(nproc --all))); then
  export OMP_PROC_BIND="${OMP_PROC_BIND:-close}" OMP_PLACES="${OMP_PLACES:-cores}"
fi
exec "$@"
