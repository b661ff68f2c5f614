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
source "$(dirname "$0")/lib.sh"
cluster_up slurm 55439

sql() { psql "$URL" -Atc "$1"; }
fail() { echo "FAIL: $*" >&2; exit 1; }
# Submits SPEC as an N-task array; prints the job id.
submit() {
  "$BIN" slurm "$1" --workers "$2" --cpus-per-task 1 --store "$URL" --out "$WORK/$3.sbatch" \
    --submit | sed -n 's/^submitted job //p'
}
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

# Cancels with CANCEL (a task id, or the whole array) once 4 runs of EXPERIMENT finished,
# resubmits, and checks that the resubmission added exactly the missing runs.
cancel_and_resume() {
  local experiment=$1 target=$2
  sed -e "s/name = \"AeroCast-GRU-Training\"/name = \"$experiment\"/" \
      -e "s|path = \"../data/seattle-weather.csv\"|path = \"$ROOT/data/seattle-weather.csv\"|" \
      -e 's/epochs = 30/epochs = 15/' "$ROOT/sweeps/grid.toml" > "$experiment.toml"
  local jid; jid=$(submit "$WORK/$experiment.toml" 2 "$experiment")
  until [ "$(sql "SELECT count(*) FROM runs r JOIN experiments e USING (experiment_id)
        WHERE e.name = '$experiment' AND status = 'finished'")" -ge 4 ]; do sleep 0.3; done
  scancel "${jid}${target}"
  wait_job "$jid"
  local before; before=$(counts "$experiment")
  echo "after scancel ${jid}${target}: runs|jobs|finished|jobs finished twice = $before," \
       "interrupted = $(sql "SELECT count(*) FROM runs r JOIN experiments e USING (experiment_id)
                             WHERE e.name = '$experiment' AND status = 'interrupted'")"
  grep -h "CANCELLED" aerocast-"${jid}"_*.out || true
  local finished; finished=$(echo "$before" | cut -d'|' -f3)
  local t; t=$(date +%s.%N)
  local jid2; jid2=$(submit "$WORK/$experiment.toml" 2 "$experiment")
  wait_job "$jid2"
  local after; after=$(counts "$experiment")
  local added; added=$(sql "SELECT count(*) || '|' || count(*) FILTER (WHERE status = 'finished')
        FROM runs r JOIN experiments e USING (experiment_id)
        WHERE e.name = '$experiment' AND r.start_time > $t")
  echo "resubmitted as job $jid2: runs|jobs|finished|jobs finished twice = $after;" \
       "missing before = $((27 - finished)), runs added|finished = $added"
  [ "$(echo "$after" | cut -d'|' -f2-4)" = "27|27|0" ] || fail "expected all 27 jobs finished once"
  [ "$added" = "$((27 - finished))|$((27 - finished))" ] || fail "expected exactly the missing runs added"
}

echo "== 3. a 2-task array with one task scancel'ed mid-run, then resubmitted"
cancel_and_resume slurm-cancel-one _1
echo "== 4. a 2-task array scancel'ed as a whole mid-run, then resubmitted"
cancel_and_resume slurm-cancel-all ""
echo "PASS"
