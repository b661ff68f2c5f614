#!/usr/bin/env bash
# Load test of `aerocast serve` on loopback: trains a hidden-64, window-48 GRU on the shipped
# Seattle data (4 features, 1 epoch: the weights' values do not change the cost), registers
# it, serves it on a free 127.0.0.1 port and drives single-instance predict requests (48
# rows each, one forecast per request) with wrk for a bounded time. Prints requests/s and
# the latency percentiles.
#
#   benches/serve_load.sh                 # 10 s, 32 connections, 1 wrk thread
#   DURATION=30s CONNS=64 benches/serve_load.sh
#   AEROCAST_BIN=/tmp/aerocast-before benches/serve_load.sh   # another build, no rebuild
#
# Needs wrk (apt-get install wrk). Load generator and server share the machine's cores.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10s}
CONNS=${CONNS:-32}
THREADS=${THREADS:-1}
command -v wrk >/dev/null || { echo "serve_load.sh needs wrk: apt-get install wrk" >&2; exit 2; }

# AEROCAST_BIN compares builds (copy one binary aside, rebuild, run the two interleaved).
if [ -z "${AEROCAST_BIN:-}" ]; then cargo build --release --quiet; fi
BIN=${AEROCAST_BIN:-$PWD/target/release/aerocast}
WORK=$(mktemp -d)
SERVER=
cleanup() {
    if [ -n "$SERVER" ]; then kill -TERM "$SERVER" 2>/dev/null || true; wait "$SERVER" || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT

cat > "$WORK/spec.toml" <<SPEC
[experiment]
name = "serve-load"

[data]
path = "$PWD/data/seattle-weather.csv"
target = "temp_max"
features = ["temp_max", "temp_min", "precipitation", "wind"]
time = "date"
window = 48

[train]
epochs = 1
hidden_dim = 64
lr = 0.003
seed = 0
SPEC
export AEROCAST_STORE=$WORK/store
"$BIN" sweep "$WORK/spec.toml" --quiet --jobs 1 >/dev/null
"$BIN" model register load --best --alias production >/dev/null

# The request: the data's last 48 rows, as a client would send them.
python3 - "$PWD/data/seattle-weather.csv" > "$WORK/body.json" <<'PY'
import csv, json, sys
rows = list(csv.DictReader(open(sys.argv[1])))[-48:]
keys = ["temp_max", "temp_min", "precipitation", "wind"]
print(json.dumps({"rows": [{k: float(r[k]) for k in keys} for r in rows]}))
PY
{
    echo 'wrk.method = "POST"'
    echo 'wrk.headers["Content-Type"] = "application/json"'
    printf 'wrk.body = [[%s]]\n' "$(cat "$WORK/body.json")"
} > "$WORK/post.lua"

"$BIN" serve --model load@production --addr 127.0.0.1:0 > "$WORK/serve.out" 2> "$WORK/serve.err" &
SERVER=$!
for _ in $(seq 100); do
    grep -q "listening on" "$WORK/serve.out" 2>/dev/null && break
    sleep 0.1
done
URL=$(sed -n 's/^listening on //p' "$WORK/serve.out")/v1/models/load/predict
[ -n "$URL" ] || { echo "the server did not start:" >&2; cat "$WORK/serve.err" >&2; exit 3; }
curl -sf -X POST -H 'Content-Type: application/json' --data @"$WORK/body.json" "$URL" > "$WORK/one.json"
echo "one answer: $(cat "$WORK/one.json")"

echo "wrk -t$THREADS -c$CONNS -d$DURATION --latency (POST $(wc -c < "$WORK/body.json") bytes)"
# The server's CPU time per request (user + system, from /proc) tells its cost apart from
# how busy the shared machine happens to be.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$SERVER/stat"; }
before=$(cpu_ticks)
wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --timeout 2s --latency -s "$WORK/post.lua" "$URL" | tee "$WORK/wrk.out"
after=$(cpu_ticks)
if grep -q "Non-2xx" "$WORK/wrk.out"; then echo "some requests failed" >&2; exit 1; fi
requests=$(awk '/requests in/ {print $1}' "$WORK/wrk.out")
echo
echo "summary: $(awk '/Requests\/sec/ {print $2}' "$WORK/wrk.out") req/s," \
     "p50 $(awk '$1 == "50%" {print $2}' "$WORK/wrk.out")," \
     "p99 $(awk '$1 == "99%" {print $2}' "$WORK/wrk.out")," \
     "server CPU $(awk -v t=$((after - before)) -v n="$requests" -v hz="$(getconf CLK_TCK)" \
        'BEGIN {printf "%.1f", 1e6 * t / hz / n}') µs/request," \
     "load average $(cut -d' ' -f1 /proc/loadavg)"
