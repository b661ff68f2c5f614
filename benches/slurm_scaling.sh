#!/usr/bin/env bash
# Scaling of the default grid (sweeps/grid.toml, 27 runs) as a Slurm job array sharing one
# PostgreSQL store: 1, 2 and 4 workers (one CPU each) on the single-node cluster of
# tests/cluster/slurm-node.sh, against the throwaway server of tests/cluster/pg.sh, each on a
# fresh database; and, for reference, a plain local `aerocast sweep` on a SQLite folder with
# --jobs 1 and 2. Rounds are interleaved (the machine's speed drifts).
#
#   benches/slurm_scaling.sh [ROUNDS]        (as root; default 2 rounds; AEROCAST_BIN=path)
#
# Wall time is from submission until the array has left the queue (Slurm's scheduling and
# task start-up included). CPU time is user + sys of every array task's `aerocast sweep`,
# summed, measured by /usr/bin/time inside each task (the cluster keeps no accounting, so
# there is no sacct). A task that starts after the others have claimed every job costs its
# start-up only. The node has as many CPUs as the machine: with 2 cores, at most 2 tasks run
# at once and more workers cannot help.
set -euo pipefail
source "$(dirname "$0")/../tests/cluster/lib.sh"
ROUNDS=${1:-2}
cluster_up slurm-scaling 55441
ADMIN=$URL
SPEC=$ROOT/sweeps/grid.toml
# user + sys of a task, as /usr/bin/time prints it on the task's stderr (its .out file).
TIMEFMT='aerocast-cpu %U %S'

# A fresh database per measurement; prints its URL.
fresh_db() {
    psql "$ADMIN" -qAtc "CREATE DATABASE $1"
    echo "${ADMIN%/*}/$1"
}

# slurm_run NAME WORKERS -> "wall cpu finished"
slurm_run() {
    local url script jid t0 t1 cpu finished
    url=$(fresh_db "$1")
    script=$WORK/$1.sbatch
    "$BIN" slurm "$SPEC" --workers "$2" --cpus-per-task 1 --store "$url" --out "$script" >/dev/null
    sed -i "s|^exec |exec /usr/bin/time -f '$TIMEFMT' |" "$script"
    grep -q "^exec /usr/bin/time " "$script" || { echo "the sbatch script has no exec line" >&2; exit 1; }
    t0=$(date +%s.%N)
    jid=$(AEROCAST_STORE=$url sbatch --parsable "$script")
    wait_job "$jid" 0.2
    t1=$(date +%s.%N)
    cpu=$(cat aerocast-"$jid"_*.out | awk '$1 == "aerocast-cpu" { s += $2 + $3; n++ } END { printf "%.1f %d", s, n }')
    [ "${cpu#* }" = "$2" ] || { echo "expected $2 task timings, got: $cpu" >&2; cat aerocast-"$jid"_*.out >&2; exit 1; }
    finished=$(psql "$url" -Atc "SELECT count(*) FROM runs WHERE status = 'finished'")
    echo "$(awk "BEGIN { printf \"%.1f\", $t1 - $t0 }") ${cpu% *} $finished"
}

# local_run NAME JOBS -> "wall cpu finished". In a session of its own (setsid), as Slurm's
# tasks are: with the kernel's autogroup scheduling, CPU is shared per session, so a sweep in
# the bench's own session would share its slice with whatever else that session runs.
local_run() {
    local t0 t1 cpu
    t0=$(date +%s.%N)
    setsid -w /usr/bin/time -f '%U %S' -o "$WORK/$1.cpu" \
        "$BIN" sweep "$SPEC" --store "$WORK/$1" --jobs "$2" --quiet
    t1=$(date +%s.%N)
    cpu=$(awk '{ printf "%.1f", $1 + $2 }' "$WORK/$1.cpu")
    echo "$(awk "BEGIN { printf \"%.1f\", $t1 - $t0 }") $cpu $("$BIN" runs --json --store "$WORK/$1" |
        python3 -c 'import json, sys; print(sum(r["status"] == "finished" for r in json.load(sys.stdin)))')"
}

echo "machine: $(nproc) CPUs; slurm node: $(sinfo -h -o '%c CPUs'); load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-5s %-34s %8s %8s %9s\n' round setup "wall s" "CPU s" finished
for round in $(seq "$ROUNDS"); do
    for w in 1 2 4; do
        read -r wall cpu fin < <(slurm_run "grid_w${w}_r${round}" "$w")
        printf '%-5s %-34s %8s %8s %9s\n' "$round" "slurm, $w worker(s), PostgreSQL" "$wall" "$cpu" "$fin"
        [ "$fin" = 27 ] || { echo "expected 27 finished runs" >&2; exit 1; }
    done
    for j in 1 2; do
        read -r wall cpu fin < <(local_run "local_j${j}_r${round}" "$j")
        printf '%-5s %-34s %8s %8s %9s\n' "$round" "local sweep --jobs $j, SQLite" "$wall" "$cpu" "$fin"
        [ "$fin" = 27 ] || { echo "expected 27 finished runs" >&2; exit 1; }
    done
done
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
