#!/usr/bin/env bash
# A sweep of many tiny runs: N random trials (default 10,000) of 1-epoch GRUs (hidden 2/4/8,
# window 7, one feature) on the shipped Seattle data, on a fresh store. What it measures is
# the per-run cost of tracking, not training: claims, proposals, metrics, model files, plot.
#
#   benches/many_runs.sh [TRIALS=10000] [JOBS=2] [BIN=target/release/aerocast]
#
# Prints the sweep's wall time (and the whole command's, end-of-sweep report included), the
# workers' time split (training vs everything else, per run), the peak RSS from
# /usr/bin/time -v, and the store's size on disk. The store goes in $TMPDIR (default /tmp):
# TMPDIR=/dev/shm measures it on tmpfs. Pass BIN to compare two builds on the same machine state; without it the
# release binary is built first. Timings are wall-clock: run it on an otherwise idle machine.
set -euo pipefail
cd "$(dirname "$0")/.."
trials="${1:-10000}"
jobs="${2:-2}"
if [[ -n "${3:-}" ]]; then
    bin="$3"
else
    cargo build --release --quiet --bin aerocast
    bin="${CARGO_TARGET_DIR:-target}/release/aerocast"
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cp data/seattle-weather.csv "$work/"
cat > "$work/many.toml" <<TOML
[experiment]
name = "many-runs"

[data]
path = "seattle-weather.csv"
target = "temp_max"
features = ["temp_max"]
time = "date"
window = 7

[train]
epochs = 1
batch_size = 64

[search]
method = "random"
trials = $trials
seed = 1

[space]
lr = { distribution = "log_uniform", min = 1e-4, max = 3e-2 }
hidden_dim = { values = [2, 4, 8] }
seed = { values = [0, 1, 2] }
TOML

start=$(date +%s.%N)
/usr/bin/time -v -o "$work/time.txt" \
    "$bin" sweep "$work/many.toml" --store "$work/store" --jobs "$jobs" --json \
    > "$work/summary.json" 2> /dev/null || true
end=$(date +%s.%N)
rss_kb=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$work/time.txt")
cpu=$(awk -F': ' '/(User|System) time/ {s += $2} END {print s}' "$work/time.txt")
# The store as the sweep left it, report folder aside: database, WAL and any run files.
store_kb=$(du -sk --exclude=reports "$work/store" | cut -f1)
store_files=$(find "$work/store" -path "$work/store/reports" -prune -o -type f -print | wc -l)
python3 - "$work/summary.json" "$(echo "$end - $start" | bc)" "$rss_kb" "$jobs" "$cpu" \
    "$store_kb" "$store_files" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
command_wall, rss_mb, jobs = float(sys.argv[2]), int(sys.argv[3]) / 1024, int(sys.argv[4])
cpu = float(sys.argv[5])
t = s["time"]
runs = s["finished"] + s["pruned"] + s["failed"]
print(f"{runs} runs ({s['failed']} failed), --jobs {jobs}: sweep {s['wall_seconds']:.1f} s wall, "
      f"command {command_wall:.1f} s wall and {cpu:.1f} s CPU (with the end-of-sweep report); "
      f"peak RSS {rss_mb:.0f} MB")
print(f"  store: {int(sys.argv[6]) / 1024:.1f} MB on disk in {sys.argv[7]} files (reports aside)")
busy = s["wall_seconds"] * jobs
print(f"  workers: runs {t['run_seconds']:.1f} s, store {t['store_seconds']:.1f} s, "
      f"artifacts {t['artifact_seconds']:.1f} s"
      + (f", training {t['train_seconds']:.1f} s" if "train_seconds" in t else ""))
ms = lambda x: 1000 * x / max(runs, 1)
print(f"  per run: artifacts {ms(t['artifact_seconds']):.2f} ms, store {ms(t['store_seconds']):.2f} ms")
if "train_seconds" in t:
    print(f"  per run outside training: {ms(busy - t['train_seconds']):.2f} ms "
          f"(wall x jobs - training), training {ms(t['train_seconds']):.2f} ms")
if "train_cpu_seconds" in t:
    print(f"  per run outside training, CPU time: {ms(t['cpu_seconds'] - t['train_cpu_seconds']):.2f} ms "
          f"(sweep CPU - training CPU), training {ms(t['train_cpu_seconds']):.2f} ms CPU")
PY
