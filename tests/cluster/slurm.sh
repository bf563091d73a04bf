#!/usr/bin/env bash
# A one-node Slurm cluster on 127.0.0.1 for the scale-out tests: munged,
# slurmctld and slurmd with cgroup process tracking, and slurmrestd (JWT
# authentication, as the user nobody: it refuses to run as root) where it
# and Slurm's JWT plugin are installed; everything (config, state, logs,
# sockets) in one folder. `up` starts it and waits until the
# node takes jobs; `down` stops what `up` started, by the pids it wrote.
# Clients find it through the file `env` in that folder (SLURM_CONF), and
# slurmrestd through `rest_url` there.
#
# Usage: tests/cluster/slurm.sh up|down|status [folder]   (default: target/slurm)
set -euo pipefail
cmd=${1:-status}
D=$(mkdir -p "${2:-target/slurm}" && cd "${2:-target/slurm}" && pwd)

stop() {
  for name in slurmrestd slurmd slurmctld munged; do
    f="$D/$name.pid"
    [ -f "$f" ] || continue
    pid=$(cat "$f")
    if kill -0 "$pid" 2>/dev/null; then
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
      kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$f"
  done
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

case "$cmd" in
down)
  stop
  echo "slurm: stopped"
  ;;
status)
  [ -f "$D/env" ] || { echo "slurm: not set up in $D"; exit 1; }
  # shellcheck disable=SC1091
  . "$D/env"
  sinfo -h -o "%n %T" ;;
up)
  for bin in munged slurmctld slurmd sbatch; do
    command -v "$bin" >/dev/null || { echo "slurm: $bin not found (make cluster-deps installs slurm-wlm and munge)" >&2; exit 1; }
  done
  [ -r /etc/munge/munge.key ] || { echo "slurm: /etc/munge/munge.key missing (the munge package creates it)" >&2; exit 1; }
  [ -d /sys/fs/cgroup/freezer ] || [ -f /sys/fs/cgroup/cgroup.controllers ] || { echo "slurm: no cgroup hierarchy to track processes with" >&2; exit 1; }
  stop
  rm -rf "$D/ctld" "$D/spool"
  mkdir -p "$D/ctld" "$D/spool"
  ctld_port=$(free_port); d_port=$(free_port); rest_port=$(free_port)
  rm -f "$D/rest_url"
  jwt=""
  jwt_plugin=""
  for f in /usr/lib/*/slurm-wlm/auth_jwt.so /usr/lib/slurm-wlm/auth_jwt.so /usr/lib64/slurm/auth_jwt.so; do
    [ -f "$f" ] && jwt_plugin=$f
  done
  if command -v slurmrestd >/dev/null && [ -n "$jwt_plugin" ]; then
    head -c 32 /dev/urandom >"$D/jwt.key"
    chmod 0600 "$D/jwt.key"
    jwt="AuthAltTypes=auth/jwt
AuthAltParameters=jwt_key=$D/jwt.key"
  fi
  if [ -f /sys/fs/cgroup/cgroup.controllers ]; then cg=cgroup/v2; else cg=cgroup/v1; fi
  cat >"$D/slurm.conf" <<CONF
ClusterName=cortex
SlurmctldHost=localhost(127.0.0.1)
SlurmctldParameters=enable_configless
SlurmUser=root
SlurmdUser=root
SlurmctldPort=$ctld_port
SlurmdPort=$d_port
AuthType=auth/munge
AuthInfo=socket=$D/munge.sock
$jwt
CredType=cred/munge
StateSaveLocation=$D/ctld
SlurmdSpoolDir=$D/spool
SlurmctldPidFile=$D/slurmctld.pid
SlurmdPidFile=$D/slurmd.pid
SlurmctldLogFile=$D/slurmctld.log
SlurmdLogFile=$D/slurmd.log
ProctrackType=proctrack/cgroup
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/builtin
SelectType=select/linear
SlurmdParameters=config_overrides
ReturnToService=2
MpiDefault=none
KillWait=5
MinJobAge=60
SlurmdTimeout=30
NodeName=localhost NodeAddr=127.0.0.1 CPUs=64 RealMemory=1000 State=UNKNOWN
PartitionName=cortex Nodes=localhost Default=YES MaxTime=INFINITE OverSubscribe=FORCE:64 State=UP
CONF
  cat >"$D/cgroup.conf" <<CONF
CgroupPlugin=$cg
CgroupAutomount=no
ConstrainCores=no
ConstrainRAMSpace=no
CONF
  echo "export SLURM_CONF=$D/slurm.conf" >"$D/env"
  export SLURM_CONF="$D/slurm.conf"
  munged --force --socket="$D/munge.sock" --key-file=/etc/munge/munge.key \
    --pid-file="$D/munged.pid" --log-file="$D/munged.log" --seed-file="$D/munge.seed"
  slurmctld -f "$SLURM_CONF" -i
  slurmd -f "$SLURM_CONF" -N localhost
  for _ in $(seq 200); do
    state=$(sinfo -h -o "%T" -n localhost 2>/dev/null || true)
    case "$state" in idle|mixed|allocated) break ;; esac
    sleep 0.1
  done
  case "$state" in
  idle|mixed|allocated)
    if [ -n "$jwt" ]; then
      # slurmrestd runs as nobody, which must read the configuration.
      chmod o+x "$D" && chmod o+r "$D/slurm.conf" "$D/cgroup.conf"
      ( SLURM_JWT=daemon exec slurmrestd -f "$SLURM_CONF" -u nobody -g nogroup \
          -a rest_auth/jwt -s openapi/v0.0.38 "127.0.0.1:$rest_port" >"$D/slurmrestd.log" 2>&1 ) &
      echo $! >"$D/slurmrestd.pid"
      for _ in $(seq 100); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$rest_port") 2>/dev/null; then
          echo "http://127.0.0.1:$rest_port" >"$D/rest_url"; break
        fi
        sleep 0.1
      done
      [ -f "$D/rest_url" ] || { echo "slurm: slurmrestd did not listen; log in $D/slurmrestd.log" >&2; tail -n 5 "$D/slurmrestd.log" >&2 || true; }
    fi
    echo "slurm: up in $D (node $state${jwt:+, slurmrestd $(cat "$D/rest_url" 2>/dev/null)})"; exit 0 ;;
  esac
  echo "slurm: the node did not become idle within 20 s; logs in $D" >&2
  tail -n 20 "$D/slurmctld.log" "$D/slurmd.log" >&2 || true
  exit 1
  ;;
*) echo "usage: $0 up|down|status [folder]" >&2; exit 2 ;;
esac
