"""Leaves in MLflow what an export killed halfway through one run leaves: an MLflow run tagged
with an aerocast run id, still RUNNING, holding the first half of each metric history, one
param and one artifact. The next export must complete it without duplicating any of that.

usage: partial.py TRACKING_URI STORE_DIR EXPERIMENT
Prints the aerocast run id it used.
"""

import json
import os
import sqlite3
import sys
import tempfile

import mlflow
from mlflow import MlflowClient
from mlflow.entities import Metric, Param


def main():
    uri, store, experiment = sys.argv[1:]
    db = sqlite3.connect(f"file:{os.path.join(store, 'aerocast.db')}?mode=ro", uri=True)
    run_id, start = db.execute(
        "SELECT r.run_id, r.start_time FROM runs r JOIN experiments e USING (experiment_id)"
        " WHERE e.name = ? AND r.status = 'finished' ORDER BY r.run_id LIMIT 1",
        (experiment,),
    ).fetchone()
    mlflow.set_tracking_uri(uri)
    client = MlflowClient()
    exp = client.get_experiment_by_name(experiment)
    exp_id = exp.experiment_id if exp else client.create_experiment(experiment)
    run = client.create_run(
        exp_id, start_time=int(round(start * 1000)), tags={"aerocast.run_id": run_id}
    )
    metrics = []
    for key, in db.execute("SELECT DISTINCT key FROM metric_history WHERE run_id = ?", (run_id,)):
        points = db.execute(
            "SELECT step, value, timestamp FROM metric_history WHERE run_id = ? AND key = ?"
            " ORDER BY step",
            (run_id, key),
        ).fetchall()
        for step, value, ts in points[: len(points) // 2]:
            metrics.append(Metric(key, value, int(round(ts * 1000)), step))
    key, value = db.execute(
        "SELECT key, value FROM params WHERE run_id = ? ORDER BY key LIMIT 1", (run_id,)
    ).fetchone()
    value = json.loads(value)
    param = Param(key, value if isinstance(value, str) else json.dumps(value))
    client.log_batch(run.info.run_id, metrics=metrics, params=[param])
    path, content = db.execute(
        "SELECT path, content FROM artifacts WHERE run_id = ? AND path LIKE '%model.json'",
        (run_id,),
    ).fetchone()
    with tempfile.TemporaryDirectory() as tmp:
        local = os.path.join(tmp, os.path.basename(path))
        if content is None:
            # A row from before the store kept contents: its file is in the store's folder.
            local = os.path.join(store, path)
        else:
            with open(local, "wb") as f:
                f.write(content)
        client.log_artifact(run.info.run_id, local)
    print(run_id)


if __name__ == "__main__":
    main()
