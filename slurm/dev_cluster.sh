#!/usr/bin/env bash
# A local Slurm sandbox: a real one-node Slurm (munged, slurmctld, slurmd as root, no systemd) with
# all its files under one folder, to try the slurm/ scripts before a real cluster. The same
# daemons and settings as the Slurm test (slurm/lib/cluster.sh).
#   slurm/dev_cluster.sh start    start it; prints the `export SLURM_CONF=...` line to use
#   slurm/dev_cluster.sh status   is it up; its node, partition and queue
#   slurm/dev_cluster.sh stop     stop the daemons (by pid file) and cancel its jobs
#   slurm/dev_cluster.sh env      print the export line again
# The folder is XOMNI_DEV_CLUSTER_DIR (default /tmp/xomni-dev-cluster); `stop` keeps it (logs in
# DIR/log), `stop --clean` removes it. Needs root and the packages munge, slurmctld, slurmd,
# slurm-client.
set -euo pipefail
XOMNI_SLURM_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=lib/common.sh
source "$XOMNI_SLURM_DIR/lib/common.sh"
# shellcheck source=lib/cluster.sh
source "$XOMNI_SLURM_DIR/lib/cluster.sh"
dir="${XOMNI_DEV_CLUSTER_DIR:-/tmp/xomni-dev-cluster}"

usage() { sed -n '2,12p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }
print_env() { echo "export SLURM_CONF=$dir/slurm.conf"; }

case "${1:-}" in
  start)
    if slurm_cluster_running "$dir"; then
      echo "already running (folder $dir)"
      print_env
      exit 0
    fi
    slurm_cluster_stop "$dir" # leftovers of a half-started or crashed sandbox
    mkdir -p "$dir"
    chmod 755 "$dir" # munged (user munge) must reach its folder inside
    slurm_cluster_start "$dir" xomnidev || xomni_die "the sandbox did not start (logs in $dir/log)"
    echo "local Slurm up: node $(sinfo -h -o %N), $(sinfo -h -o %c) CPUs, partition $(sinfo -h -o %P)"
    echo "use it from this shell with:"
    print_env
    ;;
  status)
    if ! slurm_cluster_running "$dir"; then
      echo "not running (folder $dir)"
      exit 1
    fi
    export SLURM_CONF="$dir/slurm.conf"
    echo "running (folder $dir, SLURM_CONF=$SLURM_CONF)"
    sinfo
    squeue
    ;;
  stop)
    slurm_cluster_stop "$dir"
    if [[ "${2:-}" == --clean ]]; then
      rm -rf "$dir"
      echo "stopped; removed $dir"
    else
      echo "stopped; logs and state kept in $dir (stop --clean removes them)"
    fi
    ;;
  env) print_env ;;
  -h | --help | help) usage ;;
  *)
    usage >&2
    exit 2
    ;;
esac
