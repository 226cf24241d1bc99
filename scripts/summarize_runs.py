"""Collect finished runs (metrics.json under a folder) into one stamped results table.

    python scripts/summarize_runs.py runs/mp1000 --name mp1000_presets --out results
"""
import argparse
import json
from pathlib import Path

import pandas as pd

from aecgcnn.workflow.paper import LADDER_LABELS, TABLE1, TABLE2, TABLE3
from aecgcnn.workflow.reports import write_table


def paper_number(exp: dict, n_train: int) -> str:
    """The paper's number this run is closest to, with its source (Table III at this MP training size;
    Table II CoRE-2019 80-10-10 for AE-CGCNN on CoRE; Table I BW-20K for the other rungs)."""
    if exp["dataset"].startswith("mp-") and n_train in TABLE3:
        geo, ae = TABLE3[n_train]
        return f"{geo} / {ae} (Table III, GeoCGNN / AE-CGCNN)"
    if exp["dataset"] in TABLE2 and exp["preset"] == "ae-cgcnn":
        return f"{TABLE2[exp['dataset']]['ae-cgcnn-80-10-10'][0]} (Table II, full data)"
    if exp["preset"] in TABLE1:
        return f"{TABLE1[exp['preset']]['test_mae']} (Table I, BW-20K)"
    return ""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("runs", nargs="+", help="folders searched recursively for metrics.json")
    ap.add_argument("--name", required=True)
    ap.add_argument("--out", default="results")
    ap.add_argument("--caption", default="")
    args = ap.parse_args()
    rows, commits, devices, commands = [], set(), set(), []
    paths = sorted(p for folder in args.runs for p in Path(folder).glob("**/metrics.json"))
    for path in paths:
        m = json.loads(path.read_text())
        exp = m["experiment"]
        label = LADDER_LABELS.get(exp["preset"], exp["preset"])
        if exp.get("overrides"):
            label += " " + ",".join(f"{k}={v}" for k, v in exp["overrides"].items())
        rows.append({"model": label, "run": str(path.parent), "train": m["sizes"]["train"], "val": m["sizes"]["val"],
                     "test": m["sizes"]["test"], "epochs": exp["epochs"], "batch": exp["batch_size"],
                     "best epoch": m["best_epoch"],
                     "test MAE": m["test"]["mae"], "test RMSE": m["test"]["rmse"], "test R2": m["test"]["r2"],
                     "test SRCC": m["test"]["srcc"], "params": m["n_parameters"],
                     "train s": round(m["train_seconds"]), "device": m["provenance"]["device"],
                     "commit": m["provenance"]["commit"],
                     "paper test MAE": paper_number(exp, m["sizes"]["train"])})
        commits.add(m["provenance"]["commit"])
        devices.add(m["provenance"]["device"])
        commands.append(m["provenance"]["command"])
    df = pd.DataFrame(rows).sort_values("test MAE", ascending=False)
    write_table(df, args.name, args.caption or f"Runs under {', '.join(args.runs)}", args.out,
                command="; ".join(sorted(set(c.split(" --preset")[0] for c in commands))),
                data=json.loads(paths[0].read_text())["data_files"],
                seeds="0", commits=sorted(commits), devices=sorted(devices))
    print(df.to_markdown(index=False, floatfmt=".4g"))


if __name__ == "__main__":
    main()
