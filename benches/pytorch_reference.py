"""The reference workload (benches/common/reference.rs) in PyTorch, for side-by-side ratios with `cargo bench --bench train`.

Same series (read from the CSV that `cargo run --release --example reference_csv` prints), same
split, model, optimiser and batching: GRU(1 -> hidden) + Linear on the last step, Adam lr 1e-3,
MSE, batch 64 shuffled, window 48, horizon 1; one epoch = a train pass over 3,952 windows plus a
no-grad validation pass over 1,000. Reports training windows per second of epoch wall time,
one thread, best and median of the measured epochs.

    cargo run --release --example reference_csv > /tmp/reference.csv
    python3 benches/pytorch_reference.py /tmp/reference.csv [epochs=6] [hiddens=16,32,64] [layers=1]

Ratios quoted in the README are against PyTorch 2.15.0, the default PyPI wheel (run on CPU):

    pip install torch==2.15.0

Not used by the tests. Another version runs too, with a warning: its speed differs.
"""

import csv
import os
import statistics
import sys
import time

import torch

PINNED = "2.15.0"
# Wall time by default; AEROCAST_CPU_TIME=1 counts the process's CPU time instead, as
# `cargo run --release --example throughput` does, for a machine shared with other work.
CLOCK = time.process_time if os.environ.get("AEROCAST_CPU_TIME") == "1" else time.perf_counter
WINDOW = 48
BATCH = 64
TRAIN_FRACTION = 0.8


def load(path):
    with open(path, newline="") as f:
        return [float(row["value"]) for row in csv.DictReader(f)]


def windows(values):
    n = len(values)
    split = int(n * TRAIN_FRACTION)
    head = values[:split]
    mean = sum(head) / len(head)
    std = (sum((v - mean) ** 2 for v in head) / len(head)) ** 0.5
    z = torch.tensor([(v - mean) / std for v in values], dtype=torch.float32)
    # Chronological split by target index, as aerocast does.
    train_t = [t for t in range(WINDOW, split)]
    val_t = [t for t in range(max(split, WINDOW), n)]

    def make(targets):
        x = torch.stack([z[t - WINDOW : t] for t in targets]).unsqueeze(-1)
        y = torch.stack([z[t] for t in targets])
        return x, y

    return make(train_t), make(val_t)


class Forecaster(torch.nn.Module):
    def __init__(self, hidden, layers):
        super().__init__()
        self.gru = torch.nn.GRU(1, hidden, num_layers=layers, batch_first=True)
        self.head = torch.nn.Linear(hidden, 1)

    def forward(self, x):
        out, _ = self.gru(x)
        return self.head(out[:, -1, :]).squeeze(-1)


def epoch_seconds(hidden, layers, train, val, epochs):
    torch.manual_seed(0)
    model = Forecaster(hidden, layers)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = torch.nn.MSELoss()
    (xt, yt), (xv, yv) = train, val
    times = []
    for _ in range(epochs):
        start = CLOCK()
        model.train()
        for idx in torch.randperm(len(xt)).split(BATCH):
            opt.zero_grad()
            loss = loss_fn(model(xt[idx]), yt[idx])
            loss.backward()
            opt.step()
        model.eval()
        with torch.no_grad():
            for i in range(0, len(xv), 512):
                model(xv[i : i + 512])
        times.append(CLOCK() - start)
    return times


def main():
    torch.set_num_threads(1)
    path = sys.argv[1]
    epochs = int(sys.argv[2]) if len(sys.argv) > 2 else 6
    sizes = lambda i, d: [int(v) for v in (sys.argv[i] if len(sys.argv) > i else d).split(",")]
    hiddens, layer_counts = sizes(3, "16,32,64"), sizes(4, "1")
    if not torch.__version__.startswith(PINNED):
        print(f"warning: torch {torch.__version__}, the README's ratios are against {PINNED}")
    train, val = windows(load(path))
    n_train = len(train[0])
    print(f"torch {torch.__version__}, 1 thread, {n_train} train / {len(val[0])} val windows")
    for layers in layer_counts:
        for hidden in hiddens:
            # The first epoch warms up.
            times = epoch_seconds(hidden, layers, train, val, epochs + 1)[1:]
            rates = [n_train / t for t in times]
            print(
                f"hidden {hidden} layers {layers}: best {max(rates):.0f} windows/s, "
                f"median {statistics.median(rates):.0f} windows/s over {len(rates)} epochs"
            )


if __name__ == "__main__":
    main()
