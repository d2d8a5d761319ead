# shellcheck shell=bash
# A real one-node Slurm on this machine: munged, slurmctld and slurmd run as root without systemd,
# with every file (key, sockets, state, spool, logs, slurm.conf) under one folder and ports picked
# at run time, so it never touches /etc/slurm or a system daemon. Used by the Slurm test
# (tests/slurm/test_slurm.sh) and the sandbox (slurm/dev_cluster.sh).
#   source slurm/lib/cluster.sh
#   slurm_cluster_start DIR [NAME]  exports SLURM_CONF; returns 1 (with a message) when Slurm
#                                   cannot start. NAME is the ClusterName (default xomnitest).
#   slurm_cluster_running DIR       true when the daemons started from DIR are alive
#   slurm_cluster_stop DIR          stops what slurm_cluster_start started (safe to call twice)

# A TCP port nobody listens on (the range avoids the usual ephemeral ports); read from
# /proc/net/tcp{,6} so that no networking tool needs to be installed.
_slurm_free_port() {
  local port hex
  for _ in $(seq 50); do
    port=$((20000 + RANDOM % 10000))
    hex=$(printf '%04X' "$port")
    if ! awk -v p=":$hex" '$2 ~ p"$" {found = 1} END {exit !found}' /proc/net/tcp /proc/net/tcp6 2> /dev/null; then
      echo "$port"
      return 0
    fi
  done
  return 1
}

slurm_cluster_start() {
  local dir="$1" name="${2:-xomnitest}" tool
  for tool in munged slurmctld slurmd sbatch squeue scontrol sinfo runuser; do
    if ! command -v "$tool" > /dev/null; then
      echo "slurm cluster: '$tool' is not installed (scripts/install_deps.sh installs munge," \
        "slurmctld, slurmd and slurm-client)" >&2
      return 1
    fi
  done
  if [[ $(id -u) -ne 0 ]]; then
    echo "slurm cluster: the daemons must run as root (this is uid $(id -u))" >&2
    return 1
  fi
  if ! id munge > /dev/null 2>&1; then
    echo "slurm cluster: no 'munge' user (the munge package creates it)" >&2
    return 1
  fi
  mkdir -p "$dir"/{munge,state,spool,log}
  chmod 755 "$dir"
  # munged insists on a key and folders owned by its own user, readable by nobody else.
  if [[ -r /etc/munge/munge.key ]]; then
    cp /etc/munge/munge.key "$dir/munge/munge.key"
  else
    head -c 1024 /dev/urandom > "$dir/munge/munge.key"
  fi
  chown -R munge:munge "$dir/munge"
  chmod 700 "$dir/munge"
  chmod 600 "$dir/munge/munge.key"
  local sock="$dir/munge/munge.socket"
  if ! runuser -u munge -- munged --socket="$sock" --key-file="$dir/munge/munge.key" \
    --pid-file="$dir/munge/munged.pid" --seed-file="$dir/munge/munged.seed" \
    --log-file="$dir/munge/munged.log" --force; then
    echo "slurm cluster: munged did not start:" >&2
    cat "$dir/munge/munged.log" >&2 2>/dev/null
    return 1
  fi

  local host cpus mem_mb ctld_port slurmd_port
  host=$(hostname -s)
  cpus=$(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc)  # nproc obeys OMP_NUM_THREADS
  mem_mb=$(awk '/^MemTotal:/ {printf "%d", $2 / 1024 * 0.85}' /proc/meminfo)
  if ! ctld_port=$(_slurm_free_port) || ! slurmd_port=$(_slurm_free_port); then
    echo "slurm cluster: no free TCP port found" >&2
    return 1
  fi
  cat > "$dir/slurm.conf" <<CONF
ClusterName=$name
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$sock
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$dir/log/jobcomp.txt
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
MailProg=/bin/true
JobRequeue=1
MinJobAge=600
KillWait=10
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
  export SLURM_CONF="$dir/slurm.conf"
  if ! slurmctld -c || ! slurmd; then
    echo "slurm cluster: slurmctld/slurmd did not start; their logs:" >&2
    tail -n 20 "$dir"/log/*.log >&2 2>/dev/null
    return 1
  fi
  for _ in $(seq 100); do
    if [[ $(sinfo -h -o %T 2>/dev/null) == idle ]]; then
      return 0
    fi
    sleep 0.2
  done
  echo "slurm cluster: the node did not become idle within 20 s; sinfo says:" >&2
  sinfo >&2
  tail -n 20 "$dir"/log/*.log >&2 2>/dev/null
  return 1
}

# True when slurmctld, slurmd and munged started from DIR are all alive (by their pid files).
slurm_cluster_running() {
  local dir="$1" pidfile
  for pidfile in "$dir/slurmd.pid" "$dir/slurmctld.pid" "$dir/munge/munged.pid"; do
    [[ -f "$pidfile" ]] && kill -0 "$(cat "$pidfile")" 2> /dev/null || return 1
  done
}

# Stops the daemons by their pid files (never by name: other Slurm or munge instances may run).
slurm_cluster_stop() {
  local dir="$1" pidfile pid
  export SLURM_CONF="$dir/slurm.conf"
  if [[ -f "$dir/slurmctld.pid" ]]; then
    scancel --user=root > /dev/null 2>&1 || true
    scontrol shutdown > /dev/null 2>&1 || true
  fi
  for pidfile in "$dir/slurmd.pid" "$dir/slurmctld.pid" "$dir/munge/munged.pid"; do
    [[ -f "$pidfile" ]] || continue
    pid=$(cat "$pidfile")
    for _ in $(seq 50); do
      kill -0 "$pid" 2> /dev/null || break
      kill -TERM "$pid" 2> /dev/null || true
      sleep 0.2
    done
    kill -KILL "$pid" 2> /dev/null || true
    rm -f "$pidfile"
  done
}
