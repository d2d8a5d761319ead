# shellcheck shell=bash
# Site settings for every xomni Slurm script: the one file to edit for a new cluster. It is
# sourced (never run) by slurm/submit.sh and by each stage script inside the job; a variable
# already set in the environment wins, so `XOMNI_PARTITION=gpu slurm/submit.sh ...` works too.
# Point XOMNI_SITE at a copy to keep several sites side by side.

# Scheduler: account, partition and QoS (empty: the cluster's default).
: "${XOMNI_ACCOUNT:=}"
: "${XOMNI_PARTITION:=}"
: "${XOMNI_QOS:=}"
# Partition for the stages that need no GPU (submit.sh --cpu-only; a pipeline stage with
# cpu = true: data, rewards, the report). Empty: XOMNI_PARTITION.
: "${XOMNI_CPU_PARTITION:=}"
# Default wall time of a job (stage settings and --time on the command line override it).
: "${XOMNI_TIME:=04:00:00}"
# Accelerators: GPUs per node (0 = a CPU cluster: one task per core you ask for). With GPUs every
# job runs one task per GPU and each task sees exactly one GPU (CUDA_VISIBLE_DEVICES).
: "${XOMNI_GPUS_PER_NODE:=0}"
# Peak dense FLOP/s of one device (one task), for MFU in `xomni report scaling`. Empty: the report
# picks by the device the run used: a GPU task 989e12 (H100/H200 SXM dense BF16), a CPU task
# 210e9 FP32 per thread (one core of the AVX-512 development box). Set it for other hardware.
: "${XOMNI_PEAK_FLOPS:=}"
# Environment modules to load in every job (space separated; empty: none).
: "${XOMNI_MODULES:=}"
# A command put in front of xomni on every task, e.g. "apptainer exec --nv /images/xomni.sif"
# (space separated; empty: none).
: "${XOMNI_CONTAINER:=}"
# MPI plugin for srun: pmix works with Open MPI (pmi2 does not).
: "${XOMNI_SRUN_MPI:=pmix}"
# CPUs and threads of every task (docs/SLURM.md, "Threads, binding and MPI"). XOMNI_CPUS_PER_TASK:
# --cpus-per-task for every job that does not give its own (empty: Slurm's default, one CPU per
# task). Each task runs as many OpenMP threads (OMP_NUM_THREADS, which the OpenMP build of
# OpenBLAS follows too) as it has CPUs, SLURM_CPUS_PER_TASK; XOMNI_THREADS_PER_TASK forces a
# number instead. An OMP_NUM_THREADS from the submitting shell is not used: it knows nothing of
# the allocation, and more threads than CPUs makes every step wait on the slowest core.
# On a GPU site give each task its share of the node's cores (e.g. 12 for 8 GPUs on 96 cores):
# one CPU per task also means one thread for everything a task does on the CPU.
: "${XOMNI_CPUS_PER_TASK:=}"
: "${XOMNI_THREADS_PER_TASK:=}"
# srun --cpu-bind: pin each task to its own CPUs ("cores"); "none" leaves placement to the OS.
# When a task is pinned, its OpenMP threads are pinned inside its CPUs (OMP_PROC_BIND=close,
# OMP_PLACES=cores) unless the environment sets those.
: "${XOMNI_CPU_BIND:=cores}"
# Open MPI settings for every task, as NAME=VALUE words, each exported as OMPI_MCA_NAME unless the
# environment already sets that variable. The default suits any CPU cluster: the ob1 PML over
# shared memory within a node and TCP between nodes, and ranks that yield their core while they
# wait in a collective instead of spinning on it (spinning ranks steal the cores their
# neighbours' threads compute on). On an InfiniBand or RoCE cluster use e.g.
# "pml=ucx mpi_yield_when_idle=1"; empty: Open MPI's own defaults.
: "${XOMNI_MPI_MCA:=pml=ob1 btl=self,vader,tcp mpi_yield_when_idle=1}"
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
