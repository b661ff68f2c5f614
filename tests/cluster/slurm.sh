#!/usr/bin/env bash
# Cluster test: a single-node Slurm 22.05 and a throwaway PostgreSQL 15 on this machine (as
# root), then sweeps as job arrays sharing one PostgreSQL store:
#   1. sweeps/grid.toml as a 4-task array: 27 finished runs, each job once;
#   2. sweeps/tpe.toml as a 3-task array: exactly `trials` trials, no trial index twice;
#   3. a grid as a 2-task array with one task scancel'ed mid-run, then resubmitted: the store
#      ends with exactly the missing runs added, no job finished twice.
# It stops everything it started. Not part of `cargo test` (it needs root and a few minutes):
#   tests/cluster/slurm.sh            (AEROCAST_BIN=path to use a built binary)
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
if [ -z "${AEROCAST_BIN:-}" ]; then cargo build --release -q; AEROCAST_BIN=$ROOT/target/release/aerocast; fi
BIN=$AEROCAST_BIN
WORK=$(mktemp -d /tmp/aerocast-slurm.XXXXXX)
chmod 755 "$WORK"
export PGT_DIR=$WORK/pg PGT_PORT=${PGT_PORT:-55439}
cleanup() {
  "$ROOT/tests/cluster/slurm-node.sh" stop || true
  "$ROOT/tests/cluster/pg.sh" stop || true
  rm -rf "$WORK"
}
trap cleanup EXIT
URL=$(tests/cluster/pg.sh start 2>/dev/null)
tests/cluster/slurm-node.sh start 2>/dev/null
export AEROCAST_CACHE=$WORK/cache
cd "$WORK"

sql() { psql "$URL" -Atc "$1"; }
fail() { echo "FAIL: $*" >&2; exit 1; }
# Submits SPEC as an N-task array; prints the job id.
submit() {
  "$BIN" slurm "$1" --workers "$2" --cpus-per-task 1 --store "$URL" --out "$WORK/$3.sbatch" \
    --submit | sed -n 's/^submitted job //p'
}
wait_job() { while [ -n "$(squeue -h -j "$1" 2>/dev/null)" ]; do sleep 0.5; done; }
# runs | distinct jobs | finished | jobs with more than one finished run, for an experiment
counts() {
  sql "SELECT count(*), count(DISTINCT job_key), count(*) FILTER (WHERE status = 'finished'),
         (SELECT count(*) FROM (SELECT job_key FROM runs r2 JOIN experiments e2 USING (experiment_id)
            WHERE e2.name = '$1' AND status = 'finished' GROUP BY job_key HAVING count(*) > 1) d)
       FROM runs r JOIN experiments e USING (experiment_id) WHERE e.name = '$1'"
}

echo "== 1. sweeps/grid.toml as a 4-task array"
t0=$(date +%s.%N)
JID=$(submit "$ROOT/sweeps/grid.toml" 4 grid)
wait_job "$JID"
t1=$(date +%s.%N)
c=$(counts AeroCast-GRU-Training)
echo "job $JID: runs|jobs|finished|jobs finished twice = $c ($(awk "BEGIN { printf \"%.1f\", $t1 - $t0 }") s wall)"
sql "SELECT host || ' pid ' || pid || ': ' || count(*) || ' runs' FROM runs GROUP BY host, pid ORDER BY 1"
[ "$c" = "27|27|27|0" ] || fail "expected 27 finished runs, each job once"

echo "== 2. sweeps/tpe.toml as a 3-task array"
JID=$(submit "$ROOT/sweeps/tpe.toml" 3 tpe)
wait_job "$JID"
t=$(sql "SELECT count(*), count(DISTINCT t.value), string_agg(DISTINCT r.status, ',')
         FROM runs r JOIN experiments e USING (experiment_id)
         JOIN tags t ON t.run_id = r.run_id AND t.key = 'aerocast.trial'
         WHERE e.name = 'AeroCast-GRU-TPE'")
echo "job $JID: trials|distinct trial indices|statuses = $t"
[[ "$t" == 27\|27\|* ]] || fail "expected 27 trials with 27 distinct indices"

echo "== 3. a 2-task array with one task scancel'ed mid-run, then resubmitted"
sed -e 's/name = "AeroCast-GRU-Training"/name = "slurm-cancel"/' \
    -e "s|path = \"../data/seattle-weather.csv\"|path = \"$ROOT/data/seattle-weather.csv\"|" \
    -e 's/epochs = 30/epochs = 15/' "$ROOT/sweeps/grid.toml" > cancel.toml
JID=$(submit "$WORK/cancel.toml" 2 cancel)
until [ "$(sql "SELECT count(*) FROM runs WHERE status = 'finished' AND sweep_id IN
      (SELECT sweep_id FROM sweeps s JOIN experiments e USING (experiment_id) WHERE e.name = 'slurm-cancel')")" -ge 4 ]; do
  sleep 0.3; done
scancel "${JID}_1"
wait_job "$JID"
before=$(counts slurm-cancel)
interrupted=$(sql "SELECT count(*) FROM runs r JOIN experiments e USING (experiment_id)
                   WHERE e.name = 'slurm-cancel' AND status = 'interrupted'")
echo "after scancel of task 1: runs|jobs|finished|jobs finished twice = $before, interrupted = $interrupted"
grep -h "CANCELLED" aerocast-"${JID}"_1.out || true
finished_before=$(echo "$before" | cut -d'|' -f3)
[ "$finished_before" -lt 27 ] || fail "the cancel came too late: nothing left to resume"
JID2=$(submit "$WORK/cancel.toml" 2 cancel)
wait_job "$JID2"
after=$(counts slurm-cancel)
echo "after resubmission (job $JID2): runs|jobs|finished|jobs finished twice = $after"
[ "$(echo "$after" | cut -d'|' -f2-4)" = "27|27|0" ] || fail "expected all 27 jobs finished once"
echo "finished runs added by the resubmission: $((27 - finished_before)) missing, $(echo "$after" | cut -d'|' -f3) - $finished_before = $(( $(echo "$after" | cut -d'|' -f3) - finished_before )) added"
echo "PASS"
