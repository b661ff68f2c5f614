"""Checks, with MLflow's own Python client, that an aerocast experiment arrived in MLflow
complete and exactly once: every ended run, its name, status, times, params, tags, every metric
history point and final value, and every artifact byte for byte.

usage: check.py TRACKING_URI STORE_DIR EXPERIMENT [--summary FILE]
Reads the aerocast store (SQLite) read-only. Prints one line of counts; exits 1 on a mismatch.
With --summary, writes the counts as JSON, so a later run can prove nothing was added.
"""

import hashlib
import json
import math
import os
import sqlite3
import sys
import tempfile

import mlflow
from mlflow import MlflowClient

STATUS = {
    "finished": "FINISHED",
    "pruned": "FINISHED",
    "failed": "FAILED",
    "killed": "KILLED",
    "interrupted": "KILLED",
}


def ms(seconds):
    return int(round(seconds * 1000))


def same(a, b):
    return a == b or (math.isnan(a) and math.isnan(b))


def fail(message):
    print(f"MISMATCH: {message}", file=sys.stderr)
    sys.exit(1)


def store_runs(store, experiment):
    db = sqlite3.connect(f"file:{os.path.join(store, 'aerocast.db')}?mode=ro", uri=True)
    runs = {}
    for run_id, sweep_id, job_key, status, start, end, data_hash in db.execute(
        "SELECT r.run_id, r.sweep_id, r.job_key, r.status, r.start_time, r.end_time, r.data_hash"
        " FROM runs r JOIN experiments e USING (experiment_id) WHERE e.name = ?",
        (experiment,),
    ):
        runs[run_id] = {
            "sweep_id": sweep_id,
            "job_key": job_key,
            "status": status,
            "start": ms(start),
            "end": ms(end) if end is not None else None,
            "data_hash": data_hash,
            "params": {},
            "finals": {},
            "history": {},
            "artifacts": [],
        }

    def rows(sql):
        for row in db.execute(sql):
            if row[0] in runs:
                yield runs[row[0]], row[1:]

    for run, (key, value) in rows("SELECT run_id, key, value FROM params"):
        value = json.loads(value)
        run["params"][key] = value if isinstance(value, str) else json.dumps(value)
    for run, (key, value) in rows("SELECT run_id, key, value FROM metrics"):
        run["finals"][key] = float("nan") if value is None else value
    for run, (key, step, value, ts) in rows(
        "SELECT run_id, key, step, value, timestamp FROM metric_history ORDER BY step"
    ):
        value = float("nan") if value is None else value
        run["history"].setdefault(key, []).append((step, ms(ts), value))
    for run, (path, content) in rows("SELECT run_id, path, content FROM artifacts ORDER BY path"):
        if content is None:
            # A row from before the store kept contents: its file is in the store's folder.
            with open(os.path.join(store, path), "rb") as f:
                content = f.read()
        run["artifacts"].append((os.path.basename(path), bytes(content)))
    return runs


def expected_points(run):
    """Histories point by point, plus each final value the history does not end with."""
    points = {k: list(v) for k, v in run["history"].items()}
    for key, value in run["finals"].items():
        hist = points.get(key)
        if not hist:
            points[key] = [(0, run["end"], value)]
        elif not same(hist[-1][2], value):
            points[key].append((hist[-1][0], max(run["end"], hist[-1][1] + 1), value))
    return points


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def check(uri, store, experiment):
    mlflow.set_tracking_uri(uri)
    client = MlflowClient()
    runs = store_runs(store, experiment)
    ended = {i: r for i, r in runs.items() if r["status"] in STATUS}
    found = mlflow.search_runs(experiment_names=[experiment], output_format="list")
    by_id = {}
    for r in found:
        aid = r.data.tags.get("aerocast.run_id")
        if aid in by_id:
            fail(f"aerocast run {aid} is in MLflow twice")
        by_id[aid] = r
    if set(by_id) != set(ended):
        fail(f"MLflow has runs {sorted(by_id)}, the store's ended runs are {sorted(ended)}")

    names = set()
    counts = {"runs": 0, "params": 0, "metric_points": 0, "artifacts": 0}
    with tempfile.TemporaryDirectory() as tmp:
        for aid, want in sorted(ended.items()):
            got = by_id[aid]
            info, data = got.info, got.data
            if info.status != STATUS[want["status"]]:
                fail(f"{aid}: status {info.status}, want {STATUS[want['status']]}")
            if (info.start_time, info.end_time) != (want["start"], want["end"]):
                fail(f"{aid}: times {info.start_time}..{info.end_time}, want {want['start']}..{want['end']}")
            name = info.run_name
            for knob in ("hidden_dim", "seed"):
                if f"{knob}={want['params'][knob]}" not in name:
                    fail(f"{aid}: run name {name!r} lacks {knob}")
            names.add(name)
            if data.params != want["params"]:
                fail(f"{aid}: params {data.params}, want {want['params']}")
            tags = {
                "aerocast.run_id": aid,
                "aerocast.sweep_id": want["sweep_id"],
                "aerocast.status": want["status"],
                "aerocast.job_key": want["job_key"],
                "aerocast.data_sha256": want["data_hash"],
            }
            for k, v in tags.items():
                if data.tags.get(k) != v:
                    fail(f"{aid}: tag {k} = {data.tags.get(k)!r}, want {v!r}")
            points = expected_points(want)
            if set(data.metrics) != set(points):
                fail(f"{aid}: metric keys {sorted(data.metrics)}, want {sorted(points)}")
            for key, want_points in points.items():
                hist = client.get_metric_history(info.run_id, key)
                got_points = sorted((m.step, m.timestamp, m.value) for m in hist)
                want_sorted = sorted(want_points)
                if len(got_points) != len(want_sorted) or not all(
                    g[:2] == w[:2] and same(g[2], w[2]) for g, w in zip(got_points, want_sorted)
                ):
                    fail(f"{aid}: history of {key} is {got_points}, want {want_sorted}")
                if key in want["finals"] and not same(data.metrics[key], want["finals"][key]):
                    fail(f"{aid}: latest {key} = {data.metrics[key]}, want {want['finals'][key]}")
                counts["metric_points"] += len(got_points)
            listed = {a.path: a.file_size for a in client.list_artifacts(info.run_id)}
            local = dict(want["artifacts"])
            if set(listed) != set(local):
                fail(f"{aid}: artifacts {sorted(listed)}, want {sorted(local)}")
            for name_, content in local.items():
                if listed[name_] != len(content):
                    fail(f"{aid}: {name_} has {listed[name_]} bytes, want {len(content)}")
                got_path = client.download_artifacts(info.run_id, name_, os.path.join(tmp, aid))
                if sha256(got_path) != hashlib.sha256(content).hexdigest():
                    fail(f"{aid}: {name_} differs from the store's copy")
            counts["runs"] += 1
            counts["params"] += len(data.params)
            counts["artifacts"] += len(listed)
    if len(names) != len(ended):
        fail(f"run names are not unique: {sorted(names)}")
    return counts


def main():
    args = sys.argv[1:]
    summary = None
    if "--summary" in args:
        i = args.index("--summary")
        summary = args[i + 1]
        del args[i : i + 2]
    uri, store, experiment = args
    counts = check(uri, store, experiment)
    print(
        f"{experiment}: {counts['runs']} runs, {counts['params']} params, "
        f"{counts['metric_points']} metric points, {counts['artifacts']} artifacts: all match"
    )
    if summary:
        with open(summary, "w") as f:
            json.dump(counts, f)


if __name__ == "__main__":
    main()
