"""Collect descriptor-baseline runs (runs/baseline/<dataset>-<regressor>/seed*/metrics.json, written by
``aecgcnn baseline --out``) into one stamped table beside the paper's Table II Moosavi column.

    python scripts/summarize_baselines.py runs/baseline --out results
"""
import argparse
import json
from pathlib import Path

import pandas as pd

from aecgcnn.metrics import aggregate
from aecgcnn.workflow.paper import TABLE2
from aecgcnn.workflow.reports import fmt, write_table


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("runs")
    ap.add_argument("--out", default="results")
    args = ap.parse_args()
    rows, commits = [], set()
    for folder in sorted(p for p in Path(args.runs).iterdir() if p.is_dir()):
        runs = [json.loads(f.read_text()) for f in sorted(folder.glob("seed*/metrics.json"))]
        if not runs:
            continue
        exp = runs[0]["experiment"]
        agg = aggregate([r["test"] for r in runs])
        paper = TABLE2[exp["dataset"]]["moosavi-70-30"]
        rows.append({"dataset": exp["dataset"], "model": f"descriptors ({exp['regressor']})", "split": exp["split"],
                     "seeds": ",".join(str(r["experiment"]["seed"]) for r in runs), "n features": runs[0]["n_features"],
                     "n train / test": f"{runs[0]['sizes']['train']} / {runs[0]['sizes']['test']}",
                     "test MAE (ours)": fmt(*agg["mae"]), "test SRCC (ours)": fmt(*agg["srcc"]),
                     "test R2 (ours)": fmt(*agg["r2"]), "test MAE (paper, Moosavi)": paper[0],
                     "test SRCC (paper, Moosavi)": paper[1]})
        commits.update(r["provenance"]["commit"] for r in runs)
    df = pd.DataFrame(rows)
    write_table(df, "descriptor_baseline", "Moosavi-style descriptor baseline on CoRE-2019 CO2 uptake (mol/kg), "
                "70/30 split, mean ± std over seeds, beside Moosavi et al.'s numbers quoted in the paper's Table II",
                args.out, command="aecgcnn baseline --dataset D --split 70-30 --regressor R --seeds 0 1 2 3 4 --out "
                f"{args.runs}/D-R", data="mof/core2019_co2_labels_merged.csv, mof/CoRE2019_charged_cifs.tar.xz, "
                "mof/core2019_geometry_16bar.csv", seeds="0-4", commits=sorted(commits))
    print(df.to_markdown(index=False))


if __name__ == "__main__":
    main()
