#!/usr/bin/env bash
# A single-node Slurm 22.05 (Debian packages) + munge on localhost, as root, no systemd,
# for tests/cluster/slurm.sh.
#   tests/cluster/slurm-node.sh start   -> installs if needed, writes /etc/slurm/slurm.conf,
#                                   starts munged, slurmctld, slurmd; waits for the node to be idle
#   tests/cluster/slurm-node.sh stop    -> stops the daemons it started (by pid file)
# Node = this host (hostname -s), CPUs/memory from `slurmd -C`, partition "debug", no accounting.
set -euo pipefail
H=$(hostname -s)
CONF=/etc/slurm/slurm.conf
MARK=/run/slurm-single-node.munged   # present when this script started munged

start_slurm() {
  command -v slurmctld >/dev/null && command -v munged >/dev/null ||
    { apt-get update -q >&2; apt-get install -y -q --no-install-recommends slurmctld slurmd slurm-client munge >&2; }
  if [ -f /run/slurmctld.pid ] && kill -0 "$(cat /run/slurmctld.pid)" 2>/dev/null; then
    echo "slurmctld already running" >&2; return 1; fi

  # munge: key must be owned by munge, /run/munge is normally made by systemd
  [ -s /etc/munge/munge.key ] || runuser -u munge -- mungekey --create
  install -d -o munge -g munge -m 0755 /run/munge
  if ! munge -n >/dev/null 2>&1; then
    runuser -u munge -- /usr/sbin/munged
    touch "$MARK"
    for _ in $(seq 50); do munge -n >/dev/null 2>&1 && break; sleep 0.1; done
  fi
  munge -n | unmunge >/dev/null

  install -d -m 0755 /var/spool/slurmctld /var/spool/slurmd /var/log/slurm
  rm -rf /var/spool/slurmctld/* /var/spool/slurmd/*   # fresh state: job ids restart at 1
  [ ! -f "$CONF" ] || grep -q '^# slurm-single-node' "$CONF" || cp "$CONF" "$CONF.orig"
  cat > "$CONF" <<CONF
# slurm-single-node: generated, overwritten on every start
ClusterName=localci
SlurmctldHost=$H(127.0.0.1)
AuthType=auth/munge
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
MailProg=/bin/true
ReturnToService=2
$(slurmd -C | head -1) NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF

  slurmctld -c      # -c: start with empty state (throwaway); daemonizes, writes pid file
  slurmd            # daemonizes
  for _ in $(seq 60); do
    [ "$(sinfo -h -n "$H" -o %T 2>/dev/null)" = idle ] && { sinfo >&2; return 0; }
    sleep 0.5
  done
  echo "node did not become idle" >&2; sinfo -N -l >&2 || true
  tail -n 20 /var/log/slurm/slurmctld.log /var/log/slurm/slurmd.log >&2; return 1
}

stop_pidfile() {  # send TERM to the pid in $1 and wait for it to exit
  local pid; [ -f "$1" ] || return 0; pid=$(cat "$1")
  kill "$pid" 2>/dev/null || { rm -f "$1"; return 0; }
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
  rm -f "$1"
}

stop_slurm() {
  if [ -f /run/slurmctld.pid ] && [ -n "$(squeue -h -o %i 2>/dev/null)" ]; then
    scancel -p debug    # otherwise running jobs' slurmstepd outlive slurmd
    for _ in $(seq 50); do [ -z "$(squeue -h -o %i 2>/dev/null)" ] && break; sleep 0.2; done
  fi
  stop_pidfile /run/slurmd.pid &
  stop_pidfile /run/slurmctld.pid &
  wait
  if [ -f "$MARK" ]; then stop_pidfile /run/munge/munged.pid; rm -f "$MARK"; fi
}

case "${1:-}" in
  start) start_slurm ;;
  stop)  stop_slurm ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
