#!/usr/bin/env bash
# Times `aerocast export mlflow` of the default sweep (sweeps/grid.toml: 27 runs, 30 epochs,
# 2 per-epoch metrics, 3 artifacts each) to a local MLflow server started here, and counts its
# HTTP requests. Each round exports into a fresh MLflow experiment (the previous one is renamed
# away), then a second export shows the cost of finding everything already there.
#
#   benches/mlflow_export.sh [ROUNDS]        # default 5
#
# Environment: AEROCAST_MLFLOW_VENV reuses a venv with MLflow (else one is made, with
# MLFLOW_PIP_SPEC, default mlflow==3.17.2); STORE reuses a store that already holds the sweep.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
ROUNDS=${1:-5}
WORK=$(mktemp -d -t aerocast-mlflow-bench-XXXXXX)
SERVER_PGID=""
cleanup() {
    [[ -n "$SERVER_PGID" ]] && { kill -TERM -- "-$SERVER_PGID" 2>/dev/null || true; sleep 1; kill -KILL -- "-$SERVER_PGID" 2>/dev/null || true; }
    rm -rf "$WORK"
}
trap cleanup EXIT

if [[ -n "${AEROCAST_MLFLOW_VENV:-}" && -x "${AEROCAST_MLFLOW_VENV}/bin/mlflow" ]]; then
    VENV=$AEROCAST_MLFLOW_VENV
else
    VENV="$WORK/venv"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "${MLFLOW_PIP_SPEC:-mlflow==3.17.2}"
fi
PY="$VENV/bin/python"
PORT=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
URI="http://127.0.0.1:$PORT"
MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false setsid "$VENV/bin/mlflow" server \
    --backend-store-uri "sqlite:///$WORK/mlflow.db" --artifacts-destination "$WORK/artifacts" \
    --host 127.0.0.1 --port "$PORT" >"$WORK/server.log" 2>&1 &
SERVER_PGID=$!

(cd "$ROOT" && cargo build --quiet --release --bin aerocast)
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/aerocast"
if [[ -z "${STORE:-}" ]]; then
    STORE="$WORK/store"
    "$BIN" sweep "$ROOT/sweeps/grid.toml" --store "$STORE" --quiet
fi
for _ in $(seq 1 600); do curl -sf "$URI/health" >/dev/null 2>&1 && break; sleep 0.2; done

field() { "$PY" -c "import json,sys; d=json.load(open(sys.argv[1])); print(d[sys.argv[2]])" "$@"; }
printf '%-8s %8s %9s %8s %8s\n' round created requests seconds "again(s)"
for r in $(seq 1 "$ROUNDS"); do
    "$BIN" export mlflow --tracking-uri "$URI" --store "$STORE" --json >"$WORK/a.json"
    "$BIN" export mlflow --tracking-uri "$URI" --store "$STORE" --json >"$WORK/b.json"
    printf '%-8s %8s %9s %8.2f %8.2f\n' "$r" "$(field "$WORK/a.json" created)" \
        "$(field "$WORK/a.json" requests)" "$(field "$WORK/a.json" seconds)" "$(field "$WORK/b.json" seconds)"
    id=$("$PY" -c "import json,sys; print(list(json.load(open(sys.argv[1]))['experiments'].values())[0])" "$WORK/a.json")
    curl -sf -H 'Content-Type: application/json' -X POST "$URI/api/2.0/mlflow/experiments/update" \
        -d "{\"experiment_id\": \"$id\", \"new_name\": \"round-$r\"}" >/dev/null
done
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
