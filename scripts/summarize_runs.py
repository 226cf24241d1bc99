"""Collect finished runs (metrics.json under a folder) into one stamped results table.

    python scripts/summarize_runs.py runs/mp1000 --name mp1000_presets --out results
"""
import argparse
import json
from pathlib import Path

import pandas as pd

from aecgcnn.paper import LADDER_LABELS, TABLE3
from aecgcnn.reports import write_table


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("runs")
    ap.add_argument("--name", required=True)
    ap.add_argument("--out", default="results")
    ap.add_argument("--caption", default="")
    args = ap.parse_args()
    rows, commits, devices, commands = [], set(), set(), []
    for path in sorted(Path(args.runs).glob("*/metrics.json")):
        m = json.loads(path.read_text())
        exp = m["experiment"]
        label = LADDER_LABELS.get(exp["preset"], exp["preset"])
        if exp.get("overrides"):
            label += " " + ",".join(f"{k}={v}" for k, v in exp["overrides"].items())
        paper = TABLE3.get(m["sizes"]["train"])
        rows.append({"model": label, "run": path.parent.name, "train": m["sizes"]["train"], "val": m["sizes"]["val"],
                     "test": m["sizes"]["test"], "epochs": exp["epochs"], "best epoch": m["best_epoch"],
                     "test MAE": m["test"]["mae"], "test RMSE": m["test"]["rmse"], "test R2": m["test"]["r2"],
                     "test SRCC": m["test"]["srcc"], "params": m["n_parameters"],
                     "train s": round(m["train_seconds"]), "device": m["provenance"]["device"],
                     "commit": m["provenance"]["commit"],
                     "paper Table III MAE at this size (GeoCGNN / AE-CGCNN)": f"{paper[0]} / {paper[1]}" if paper else ""})
        commits.add(m["provenance"]["commit"])
        devices.add(m["provenance"]["device"])
        commands.append(m["provenance"]["command"])
    df = pd.DataFrame(rows).sort_values("test MAE", ascending=False)
    write_table(df, args.name, args.caption or f"Runs under {args.runs}", args.out,
                command="; ".join(sorted(set(c.split(" --preset")[0] for c in commands))),
                data=json.loads(next(Path(args.runs).glob("*/metrics.json")).read_text())["data_files"],
                seeds="0", commits=sorted(commits), devices=sorted(devices))
    print(df.to_markdown(index=False, floatfmt=".4g"))


if __name__ == "__main__":
    main()
