# shellcheck shell=bash
# Site settings for every xomni Slurm script: the one file to edit for a new cluster. It is
# sourced (never run) by slurm/submit.sh and by each stage script inside the job; a variable
# already set in the environment wins, so `XOMNI_PARTITION=gpu slurm/submit.sh ...` works too.
# Point XOMNI_SITE at a copy to keep several sites side by side.

# Scheduler: account, partition and QoS (empty: the cluster's default).
: "${XOMNI_ACCOUNT:=}"
: "${XOMNI_PARTITION:=}"
: "${XOMNI_QOS:=}"
# Default wall time of a job (stage settings and --time on the command line override it).
: "${XOMNI_TIME:=04:00:00}"
# Accelerators: GPUs per node (0 = a CPU cluster: one task per core you ask for). With GPUs every
# job runs one task per GPU and each task sees exactly one GPU (CUDA_VISIBLE_DEVICES).
: "${XOMNI_GPUS_PER_NODE:=0}"
# Peak dense FLOP/s of one device (one task), for MFU in `xomni report scaling`: H100/H200 SXM
# BF16 dense is 989e12; one core of the 2-core AVX-512 development box is about 210e9 (FP32).
: "${XOMNI_PEAK_FLOPS:=989e12}"
# Environment modules to load in every job (space separated; empty: none).
: "${XOMNI_MODULES:=}"
# A command put in front of xomni on every task, e.g. "apptainer exec --nv /images/xomni.sif"
# (space separated; empty: none).
: "${XOMNI_CONTAINER:=}"
# MPI plugin for srun: pmix works with Open MPI (pmi2 does not).
: "${XOMNI_SRUN_MPI:=pmix}"
# Extra sbatch options for every job (space separated), e.g. "--constraint=h200 --exclusive".
: "${XOMNI_SBATCH_EXTRA:=}"

# Where things go: the xomni binary, run directories (one per job: STAGE-JOBID) and logs.
: "${XOMNI_ROOT:=${SLURM_SUBMIT_DIR:-$PWD}}"
: "${XOMNI_BIN:=$XOMNI_ROOT/build/default/jobs/xomni}"
: "${XOMNI_RUN_ROOT:=$XOMNI_ROOT/runs/slurm}"
: "${XOMNI_LOG_DIR:=$XOMNI_RUN_ROOT/logs}"

# Preemption: seconds before the time limit at which Slurm signals the batch shell (USR1); the
# script asks xomni to checkpoint and requeues the job. Bound on requeues of one job.
: "${XOMNI_SIGNAL_SECONDS:=300}"
: "${XOMNI_MAX_REQUEUES:=50}"
