#!/usr/bin/env bash
# Round trip through a real MLflow tracking server on loopback: installs MLflow in a fresh venv,
# starts `mlflow server` on a free port, runs small sweeps on a slice of the shipped data and
# checks with MLflow's own Python client (tests/mlflow/check.py) that
#   1. an export sends every run, param, metric point and artifact, with the same values;
#   2. a second export adds nothing;
#   3. an export killed with SIGKILL midway, rerun, ends complete with nothing duplicated, and
#      so does a run left half-sent (half of each history, one param, one artifact);
#   4. `sweep --mlflow` mirrors each run as it ends;
#   5. runs a down server missed during a sweep are sent by the next export;
#   6. an unreachable server: exit 3, the store unchanged;
#   7. with a PostgreSQL store (when AEROCAST_TEST_PG_URL names a server, as `.ci/run` sets it):
#      a sweep mirrored live, and another exported afterwards from the database alone.
# Stops the server it started. Ends with "roundtrip: N passed, 0 failed".
#
# Environment: MLFLOW_PIP_SPEC (default mlflow==3.17.2); AEROCAST_MLFLOW_VENV reuses an existing
# venv that has MLflow (saves the install while iterating); KEEP=1 keeps the work folder.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
HERE="$ROOT/tests/mlflow"
WORK=$(mktemp -d -t aerocast-mlflow-XXXXXX)
PIP_SPEC=${MLFLOW_PIP_SPEC:-mlflow==3.17.2}
PASSED=0
SERVER_PGID=""
PGDB=""

cleanup() {
    if [[ -n "$PGDB" ]]; then
        psql "$AEROCAST_TEST_PG_URL" -qAtc "DROP DATABASE IF EXISTS $PGDB WITH (FORCE)" || true
    fi
    if [[ -n "$SERVER_PGID" ]]; then
        kill -TERM -- "-$SERVER_PGID" 2>/dev/null || true
        for _ in $(seq 1 50); do
            kill -0 -- "-$SERVER_PGID" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL -- "-$SERVER_PGID" 2>/dev/null || true
    fi
    if [[ "${KEEP:-0}" == 1 ]]; then echo "work folder kept: $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

say() { printf '[%6.1fs] %s\n' "$(($(date +%s%N) / 1000000 - T0))e-3" "$*"; }
T0=$(($(date +%s%N) / 1000000))
pass() { PASSED=$((PASSED + 1)); say "ok: $*"; }
json() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2], {}, {'d': d}))" "$@"; }

# --- MLflow ---------------------------------------------------------------------------------
if [[ -n "${AEROCAST_MLFLOW_VENV:-}" && -x "${AEROCAST_MLFLOW_VENV}/bin/mlflow" ]]; then
    VENV=$AEROCAST_MLFLOW_VENV
    say "using the MLflow venv $VENV"
else
    VENV="$WORK/venv"
    say "installing $PIP_SPEC into a fresh venv"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "$PIP_SPEC"
    say "installed $("$VENV/bin/python" -c 'import mlflow; print("mlflow", mlflow.__version__)')"
fi
PY="$VENV/bin/python"

PORT=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
URI="http://127.0.0.1:$PORT"
# Its own process group, so cleanup stops the server's workers too. The server's background
# job runner (for GenAI features) is not needed here and slows its start.
MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false setsid "$VENV/bin/mlflow" server \
    --backend-store-uri "sqlite:///$WORK/mlflow.db" \
    --artifacts-destination "$WORK/mlflow-artifacts" \
    --host 127.0.0.1 --port "$PORT" >"$WORK/server.log" 2>&1 &
SERVER_PGID=$!
for _ in $(seq 1 600); do
    curl -sf "$URI/health" >/dev/null 2>&1 && break
    kill -0 "$SERVER_PGID" 2>/dev/null || { cat "$WORK/server.log"; exit 1; }
    sleep 0.2
done
curl -sf "$URI/health" >/dev/null || { echo "mlflow server did not start"; cat "$WORK/server.log"; exit 1; }
say "mlflow server up at $URI"

# --- aerocast -------------------------------------------------------------------------------
(cd "$ROOT" && cargo build --quiet --bin aerocast)
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/debug/aerocast"
STORE="$WORK/store"
export AEROCAST_STORE="$STORE"
unset MLFLOW_TRACKING_URI MLFLOW_TRACKING_TOKEN MLFLOW_TRACKING_USERNAME MLFLOW_TRACKING_PASSWORD
head -n 301 "$ROOT/data/seattle-weather.csv" >"$WORK/weather.csv"

# spec NAME SEEDS HIDDEN LRS EPOCHS
spec() {
    cat >"$WORK/$1.toml" <<EOF
[experiment]
name = "$1"

[data]
path = "weather.csv"
target = "temp_max"
features = ["temp_max", "temp_min", "precipitation", "wind"]
time = "date"
window = 7

[train]
epochs = $5
batch_size = 32

[grid]
seed = $2
hidden_dim = $3
lr = $4
EOF
}
check() { "$PY" "$HERE/check.py" "$URI" "$STORE" "$@"; }

# 1. A sweep with finished and diverged (failed) runs, exported and checked.
spec roundtrip "[0, 1]" "[4, 8]" "[0.01, 1e30]" 3
"$BIN" sweep "$WORK/roundtrip.toml" --quiet --jobs 2 || [[ $? == 1 ]] # the 1e30 runs fail
"$BIN" export mlflow --tracking-uri "$URI" --experiment roundtrip --json >"$WORK/e1.json"
say "export: $(json "$WORK/e1.json" "f\"{d['created']} runs created, {d['metric_points']} points, {d['requests']} requests, {d['seconds']:.2f}s\"")"
[[ $(json "$WORK/e1.json" 'd["created"]') == 8 ]]
check roundtrip --summary "$WORK/c1.json"
pass "export sends every run, param, metric point and artifact"

# 2. Exporting again adds nothing: no run created or completed, two requests (the experiment
#    and one search), and MLflow holds exactly what it held.
"$BIN" export mlflow --tracking-uri "$URI" --experiment roundtrip --json >"$WORK/e2.json"
[[ $(json "$WORK/e2.json" '(d["created"], d["completed"], d["unchanged"], d["metric_points"], d["requests"])') == "(0, 0, 8, 0, 2)" ]]
check roundtrip --summary "$WORK/c2.json"
cmp "$WORK/c1.json" "$WORK/c2.json"
pass "a second export adds nothing"

# 3. SIGKILL an export as soon as its first MLflow run exists, then rerun it.
spec roundtrip-kill "[0, 1, 2]" "[4, 8, 16]" "[0.01, 0.003]" 4
"$BIN" sweep "$WORK/roundtrip-kill.toml" --quiet --jobs 2
"$BIN" export mlflow --tracking-uri "$URI" --experiment roundtrip-kill >"$WORK/e3.log" 2>&1 &
EXPORT=$!
runs_in_mlflow() {
    local id
    id=$(curl -sf "$URI/api/2.0/mlflow/experiments/get-by-name?experiment_name=roundtrip-kill" |
        "$PY" -c 'import json,sys; print(json.load(sys.stdin)["experiment"]["experiment_id"])' 2>/dev/null) || { echo 0; return; }
    curl -sf -H 'Content-Type: application/json' -X POST "$URI/api/2.0/mlflow/runs/search" \
        -d "{\"experiment_ids\": [\"$id\"], \"max_results\": 1000}" |
        "$PY" -c 'import json,sys; r=json.load(sys.stdin).get("runs", []); print(len(r), sum(x["info"]["status"] != "RUNNING" for x in r))'
}
for _ in $(seq 1 2000); do
    [[ $(runs_in_mlflow | cut -d' ' -f1) -ge 1 ]] && break
    kill -0 "$EXPORT" 2>/dev/null || break
done
kill -KILL "$EXPORT" 2>/dev/null || true
wait "$EXPORT" 2>/dev/null || true
# Requests the killed process had already sent are still being served; let them land (the
# count holds still for a second) so that the rerun, not a late create, has the last word.
prev=""
for _ in $(seq 1 30); do
    now=$(runs_in_mlflow)
    [[ "$now" == "$prev" ]] && break
    prev=$now
    sleep 1
done
read -r made complete < <(runs_in_mlflow)
say "killed the export with $complete of 18 runs complete in MLflow ($made begun)"
[[ $complete -lt 18 ]] || { echo "the kill came after the export had finished"; exit 1; }
"$BIN" export mlflow --tracking-uri "$URI" --experiment roundtrip-kill --json >"$WORK/e4.json"
say "rerun: $(json "$WORK/e4.json" "f\"{d['created']} created, {d['completed']} completed, {d['unchanged']} already there\"")"
[[ $(json "$WORK/e4.json" 'd["created"] + d["completed"] + d["unchanged"]') == 18 ]]
check roundtrip-kill
# The same, made deterministic: a run left with half its points, one param and one artifact.
spec roundtrip-partial "[0, 1]" "[4]" "[0.01]" 4
"$BIN" sweep "$WORK/roundtrip-partial.toml" --quiet --jobs 2
"$PY" "$HERE/partial.py" "$URI" "$STORE" roundtrip-partial >/dev/null
"$BIN" export mlflow --tracking-uri "$URI" --experiment roundtrip-partial --json >"$WORK/e4b.json"
[[ $(json "$WORK/e4b.json" '(d["created"], d["completed"])') == "(1, 1)" ]]
check roundtrip-partial
pass "an export killed midway, rerun, ends complete without duplicates"

# 4. The live mirror sends each run as it ends.
spec roundtrip-live "[0, 1]" "[4, 8]" "[0.01]" 3
"$BIN" sweep "$WORK/roundtrip-live.toml" --json --jobs 2 --mlflow "$URI" >"$WORK/s4.json"
[[ $(json "$WORK/s4.json" '(d["mlflow"]["runs"], d["mlflow"]["sent"], d["mlflow"]["not_sent"])') == "(4, 4, 0)" ]]
check roundtrip-live
"$BIN" export mlflow --tracking-uri "$URI" --experiment roundtrip-live --json >"$WORK/e5.json"
[[ $(json "$WORK/e5.json" '(d["created"], d["unchanged"])') == "(0, 4)" ]]
pass "sweep --mlflow mirrors every run as it ends"

# 5. With the server down, the sweep succeeds and says what it could not send; export sends it.
DOWN=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
spec roundtrip-down "[0, 1]" "[4]" "[0.01]" 3
"$BIN" sweep "$WORK/roundtrip-down.toml" --json --jobs 2 --mlflow "http://127.0.0.1:$DOWN" >"$WORK/s5.json"
[[ $(json "$WORK/s5.json" '(d["finished"], d["mlflow"]["sent"], d["mlflow"]["not_sent"])') == "(2, 0, 2)" ]]
"$BIN" export mlflow --tracking-uri "$URI" --experiment roundtrip-down --json >"$WORK/e6.json"
[[ $(json "$WORK/e6.json" 'd["created"]') == 2 ]]
check roundtrip-down
pass "runs a down server missed are sent by the next export"

# 6. An unreachable server: exit 3, the URI named, the store unchanged.
before=$("$BIN" runs --json | sha256sum)
set +e
"$BIN" export mlflow --tracking-uri "http://127.0.0.1:$DOWN" --experiment roundtrip 2>"$WORK/e7.err"
code=$?
set -e
[[ $code == 3 ]] && grep -q "cannot reach the MLflow tracking server at http://127.0.0.1:$DOWN" "$WORK/e7.err"
[[ $("$BIN" runs --json | sha256sum) == "$before" ]]
pass "an unreachable server exits 3 naming the URI"

# 7. A PostgreSQL store: the live mirror, then an export reading the artifacts from the
#    database alone (this machine's cache of them deleted first). check.py reads SQLite, so it
#    checks MLflow against a copy of the database made by `aerocast store copy`, which keeps
#    ids, times, values and artifact bytes.
if [[ -n "${AEROCAST_TEST_PG_URL:-}" ]]; then
    PGDB="aerocast_roundtrip_$$"
    psql "$AEROCAST_TEST_PG_URL" -qAtc "CREATE DATABASE $PGDB"
    PGURL="${AEROCAST_TEST_PG_URL%/*}/$PGDB"
    export AEROCAST_CACHE="$WORK/pg-cache"
    cd "$WORK" # a database store's reports go to ./aerocast-reports/
    spec roundtrip-pg-live "[0, 1]" "[4, 8]" "[0.01]" 3
    "$BIN" sweep "$WORK/roundtrip-pg-live.toml" --store "$PGURL" --json --jobs 2 --mlflow "$URI" >"$WORK/s7.json"
    [[ $(json "$WORK/s7.json" '(d["finished"], d["mlflow"]["runs"], d["mlflow"]["sent"], d["mlflow"]["not_sent"])') == "(4, 4, 4, 0)" ]]
    spec roundtrip-pg-export "[0, 1]" "[4]" "[0.01]" 3
    "$BIN" sweep "$WORK/roundtrip-pg-export.toml" --store "$PGURL" --quiet --jobs 2
    rm -rf "$AEROCAST_CACHE"
    "$BIN" export mlflow --tracking-uri "$URI" --store "$PGURL" --experiment roundtrip-pg-export --json >"$WORK/e8.json"
    [[ $(json "$WORK/e8.json" '(d["created"], d["unchanged"])') == "(2, 0)" ]]
    "$BIN" store copy "$PGURL" "$WORK/pg-copy" >/dev/null
    "$PY" "$HERE/check.py" "$URI" "$WORK/pg-copy" roundtrip-pg-live
    "$PY" "$HERE/check.py" "$URI" "$WORK/pg-copy" roundtrip-pg-export
    pass "a PostgreSQL store is mirrored live and exported from the database alone"
else
    say "AEROCAST_TEST_PG_URL is not set: the PostgreSQL store scenario is skipped"
fi

say "roundtrip done"
echo "roundtrip: $PASSED passed, 0 failed"
