#!/usr/bin/env bash
# A one-node SLURM on this machine, for trying `spine_nb sweep --slurm` and for tests/test_slurm.py: Debian's munge,
# slurmctld and slurmd (apt-get install munge slurmctld slurmd slurm-client), run as root, state under STATE_DIR.
#   tools/slurm_one_node.sh start STATE_DIR    then: export SLURM_CONF=STATE_DIR/slurm.conf (partition "debug")
#   tools/slurm_one_node.sh stop STATE_DIR
set -euo pipefail
cmd=${1:?start or stop}
state=$(realpath -m "${2:?a folder for the state of the cluster}")
case $cmd in
start)
  for b in munged slurmctld slurmd sbatch; do
    command -v $b >/dev/null || [ -x /usr/sbin/$b ] || { echo "$0: $b not found; apt-get install munge slurmctld slurmd slurm-client" >&2; exit 1; }
  done
  mkdir -p "$state/spool" "$state/state"
  [ -s /etc/munge/munge.key ] || { dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key 2>/dev/null; chown munge: /etc/munge/munge.key; chmod 400 /etc/munge/munge.key; }
  if ! pgrep -x munged >/dev/null; then
    mkdir -p /run/munge && chown munge: /run/munge
    su -s /bin/sh munge -c /usr/sbin/munged
  fi
  node=$(hostname -s)
  mem=$(awk '/MemTotal/ {print int($2/1024) - 1024}' /proc/meminfo)
  cat > "$state/slurm.conf" <<CONF
ClusterName=spine_nb
SlurmctldHost=$node
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ReturnToService=2
SlurmUser=root
SlurmdUser=root
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SlurmctldPidFile=$state/slurmctld.pid
SlurmdPidFile=$state/slurmd.pid
SlurmdSpoolDir=$state/spool
StateSaveLocation=$state/state
SlurmctldLogFile=$state/slurmctld.log
SlurmdLogFile=$state/slurmd.log
KillWait=5
NodeName=$node CPUs=$(nproc) RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=$node Default=YES MaxTime=INFINITE State=UP
CONF
  /usr/sbin/slurmctld -f "$state/slurm.conf"
  /usr/sbin/slurmd -f "$state/slurm.conf"
  for _ in $(seq 60); do
    [ "$(SLURM_CONF=$state/slurm.conf sinfo -h -o %T 2>/dev/null)" = idle ] && exit 0
    sleep 0.5
  done
  echo "$0: the node did not come up; see $state/slurmctld.log and $state/slurmd.log" >&2
  exit 1 ;;
stop)
  for p in slurmd slurmctld; do
    [ -f "$state/$p.pid" ] && kill "$(cat "$state/$p.pid")" 2>/dev/null || true
  done ;;
*) echo "$0: start or stop, not $cmd" >&2; exit 2 ;;
esac
