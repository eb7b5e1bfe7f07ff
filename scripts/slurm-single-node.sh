#!/usr/bin/env bash
# A real single-node Slurm cluster for testing the job-array pipeline (pipelines/slurm/): installs
# Debian's slurmctld, slurmd, slurm-client and munge (22.05 on bookworm) when missing, then starts munged,
# slurmctld and slurmd with every file (configuration, key, state, logs, sockets) under one folder, so
# nothing in /etc is changed and a second cluster cannot collide with it.
#
#   scripts/slurm-single-node.sh start   # prints `export SLURM_CONF=...` for sbatch/squeue
#   scripts/slurm-single-node.sh stop
#
# NIRF_SLURM_DIR: the folder (default /tmp/nirf-slurm); NIRF_SLURM_PORT: slurmctld's port (default 16817;
# slurmd takes the next). The node offers all of this machine's cores. Needs root (as CI and the Debian
# images are) or sudo for the installation and to run the daemons.
set -euo pipefail

DIR=${NIRF_SLURM_DIR:-/tmp/nirf-slurm}
PORT=${NIRF_SLURM_PORT:-16817}
CONF=$DIR/slurm.conf
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo

install() {
    local missing=()
    command -v slurmctld >/dev/null || missing+=(slurmctld)
    command -v slurmd >/dev/null || missing+=(slurmd)
    command -v sbatch >/dev/null || missing+=(slurm-client)
    command -v munged >/dev/null || missing+=(munge)
    if [ ${#missing[@]} -gt 0 ]; then
        echo "slurm-single-node: installing ${missing[*]}" >&2
        $SUDO apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    fi
}

stop() {
    for pidfile in "$DIR/slurmd.pid" "$DIR/slurmctld.pid" "$DIR/munge/munged.pid"; do
        if [ -s "$pidfile" ]; then
            pid=$(cat "$pidfile")
            $SUDO kill "$pid" 2>/dev/null || true
            for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
            rm -f "$pidfile"
        fi
    done
}

wait_for() { # seconds, description, command...
    local t=$1 what=$2
    shift 2
    for _ in $(seq $((t * 10))); do
        if "$@" >/dev/null 2>&1; then return 0; fi
        sleep 0.1
    done
    echo "slurm-single-node: $what did not come up within ${t} s; logs in $DIR/log:" >&2
    tail -n 20 "$DIR"/log/*.log >&2 || true
    return 1
}

start() {
    install
    stop
    rm -rf "$DIR"
    mkdir -p "$DIR"/{munge,state,spool,log}
    chmod 700 "$DIR/munge"
    local host cpus mem
    host=$(hostname -s)
    cpus=$(nproc)
    mem=$(awk '/MemTotal/ { printf "%d", $2 / 1024 * 0.9 }' /proc/meminfo)
    # munged refuses a key readable by others and, as root, wants --force.
    head -c 1024 /dev/urandom >"$DIR/munge/munge.key"
    chmod 400 "$DIR/munge/munge.key"
    $SUDO munged --force --key-file="$DIR/munge/munge.key" --socket="$DIR/munge/munge.socket" \
        --pid-file="$DIR/munge/munged.pid" --log-file="$DIR/log/munged.log" --seed-file="$DIR/munge/munge.seed"
    cat >"$CONF" <<CONF
ClusterName=nirf
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$PORT
SlurmdPort=$((PORT + 1))
SlurmUser=$(id -un)
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$DIR/munge/munge.socket
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
ReturnToService=2
SlurmdTimeout=60
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=main Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
    export SLURM_CONF=$CONF
    $SUDO env SLURM_CONF="$CONF" slurmctld -f "$CONF"
    wait_for 30 slurmctld scontrol ping
    $SUDO env SLURM_CONF="$CONF" slurmd -f "$CONF"
    wait_for 60 "the node" bash -c "sinfo -h -o %t | grep -qE '^(idle|mix|alloc)'"
    echo "export SLURM_CONF=$CONF"
}

case "${1:-start}" in
    start) start ;;
    stop) stop ;;
    install) install ;;
    *) echo "usage: $0 start|stop|install" >&2; exit 2 ;;
esac
