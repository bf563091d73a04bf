#!/usr/bin/env bash
# Runs a command (the cluster tests) against a one-node Slurm cluster that
# is started for it and stopped after it, whatever the command's outcome.
# Where the machine allows it, all of it runs in a network namespace of its
# own, which holds only its loopback device: Slurm's daemons listen on
# every address they have, and there those are on the loopback device alone.
#
# Usage: tests/cluster/run.sh <cluster folder> <command...>
set -euo pipefail
INSIDE=0
if [ "${1:-}" = "--inside" ]; then INSIDE=1; shift; fi
DIR=$1; shift
HERE=$(cd "$(dirname "$0")" && pwd)
inner() {
  if [ "$INSIDE" = 1 ]; then
    # Slurm resolves addresses with AI_ADDRCONFIG, which finds none while
    # the only address is 127.0.0.1: a second one, on the same loopback
    # device of this private namespace, unreachable from anywhere else.
    ip link set lo up
    ip addr add 10.254.254.1/32 dev lo
  fi
  "$HERE/slurm.sh" up "$DIR"
  trap '"$HERE/slurm.sh" down "$DIR"' EXIT
  if [ -f "$DIR/rest_url" ]; then export CORTEX_SLURM_REST; CORTEX_SLURM_REST=$(cat "$DIR/rest_url"); fi
  CORTEX_SLURM_CONF="$DIR/slurm.conf" "$@"
}
if [ "$INSIDE" = 1 ]; then inner "$@"; exit; fi
# Slurm's cgroup process tracking needs a hierarchy it may write to.
probe=""
for d in /sys/fs/cgroup/freezer /sys/fs/cgroup; do
  if [ -d "$d" ] && mkdir "$d/cortex-probe-$$" 2>/dev/null; then probe=ok; rmdir "$d/cortex-probe-$$"; break; fi
done
if [ -z "$probe" ]; then
  echo "cluster: SKIPPED, not run: this machine has no cgroup hierarchy Slurm may write to (its process tracking needs one)" >&2
  exit 0
fi
if unshare --net true 2>/dev/null; then
  exec unshare --net "$0" --inside "$DIR" "$@"
fi
echo "cluster: no network namespace here; the cluster's daemons listen on this machine's addresses while the tests run" >&2
inner "$@"
