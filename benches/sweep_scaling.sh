#!/usr/bin/env bash
# Parallel scaling of a whole sweep: the 27-run grid on the reference
# workload (3 seeds x hidden 16/32/64 x lr 1e-3/3e-3/1e-2, 10 epochs, window 48, batch 64,
# univariate), timed with `--jobs 1` and `--jobs 2`, each on a fresh store. Wall times include
# tracking, plots and model saving.
#
#   benches/sweep_scaling.sh            # builds the release binary first
#
# Timings are wall-clock: run it on an otherwise idle machine.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet --bin aerocast --example reference_csv
target_dir="${CARGO_TARGET_DIR:-target}"
bin="$target_dir/release/aerocast"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
"$target_dir/release/examples/reference_csv" > "$work/reference.csv"
cat > "$work/grid.toml" <<'TOML'
[experiment]
name = "reference-scaling"

[data]
path = "reference.csv"
target = "value"
features = ["value"]
window = 48
horizon = 1
train_fraction = 0.8

[train]
epochs = 10
batch_size = 64
optimizer = "adam"
num_layers = 1

[grid]
seed = [0, 1, 2]
hidden_dim = [16, 32, 64]
lr = [0.001, 0.003, 0.01]
TOML

declare -A wall
for jobs in 1 2; do
    start=$(date +%s.%N)
    # CPU time too: if it stays flat from jobs 1 to 2, a missing speed-up is the machine's
    # other load, not extra threads or contention inside aerocast.
    /usr/bin/time -f '%U %S' -o "$work/cpu-j$jobs" \
        "$bin" sweep "$work/grid.toml" --store "$work/store-j$jobs" --jobs "$jobs" --json \
        > "$work/summary-j$jobs.json" 2> /dev/null
    end=$(date +%s.%N)
    wall[$jobs]=$(echo "$end - $start" | bc)
    read -r user sys < "$work/cpu-j$jobs"
    printf 'jobs %d: %6.1f s wall, %6.1f s CPU (user + sys)\n' "$jobs" "${wall[$jobs]}" \
        "$(echo "$user + $sys" | bc)"
    # Goal 3: the share of the runs' time spent tracking them (the sweep's own clock).
    python3 - "$work/summary-j$jobs.json" <<'PY'
import json, sys
t = json.load(open(sys.argv[1]))["time"]
run = t["run_seconds"]
print(f"         runs {run:.1f} s; store writes {t['store_seconds']:.3f} s "
      f"({100 * t['store_seconds'] / run:.2f}%), models + plots {t['artifact_seconds']:.2f} s "
      f"({100 * t['artifact_seconds'] / run:.2f}%)")
PY
done
printf 'speed-up jobs 2 vs 1: %.2fx\n' "$(echo "${wall[1]} / ${wall[2]}" | bc -l)"
"$bin" report --best --store "$work/store-j2" | head -20
