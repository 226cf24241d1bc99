"""Does starting from the shipped CO2 Henry-coefficient model help on a small uptake data set? A learning curve:
AE-CGCNN trained on N MOFs of CO2 uptake at 0.15 bar, from random weights and from
``core2019-co2-henry-ae-cgcnn`` (``train --init-from``; same architecture and protocol, so the initial weights are
the only difference), three seeds (each its own 80/10/10 split, subset and initialisation; the two starts of one
seed share all of them), 30 epochs, 200 validation MOFs, tested on the seed's whole test part.

Resumable and shared like the notebooks' studies (finished runs are reused, a second process takes the other runs).
Writes ``figures/<profile>/transfer_curve.md`` (table: mean ± std of the test MAE, the paired difference per seed)
and ``transfer_curve.png``. The starting model was trained on 6,857 CoRE-2019 MOFs with their Henry labels, which
include most MOFs of any 0.15 bar test part (their structures and Henry coefficients, never their uptakes): the
table says how many.

    python scripts/transfer_curve.py [--sizes 100 300 1000] [--seeds 0 1 2] [--skip-busy]
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from aecgcnn.experiment import Experiment, evaluation_set, run_study
from aecgcnn.pretrained import find
from aecgcnn.provenance import command_line, stamp
from aecgcnn.workflow.repo import repository

SOURCE = "core2019-co2-henry-ae-cgcnn"
DATASET = "core2019-co2-0.15bar"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[100, 300, 1000])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--val-size", type=int, default=200)
    ap.add_argument("--profile", default="cpu")
    ap.add_argument("--skip-busy", action="store_true", help="leave the runs another process trains to it")
    args = ap.parse_args()
    root = repository()
    runs = root / "runs" / args.profile / "transfer" / DATASET
    groups = {}
    for n in args.sizes:
        for start in ("scratch", "henry"):
            groups[(start, n)] = (Experiment(dataset=DATASET, preset="ae-cgcnn", protocol="reference-cgcnn",
                                             epochs=args.epochs, train_size=n, val_size=args.val_size,
                                             init_from=SOURCE if start == "henry" else None, progress=False,
                                             out_dir=str(runs / start / f"n{n}")), args.seeds)
    done = run_study(groups, skip_busy=args.skip_busy)
    # how many test MOFs the starting model trained on (with their Henry labels)
    _, henry_train = evaluation_set(json_meta(find(SOURCE)), "train")
    seen = set(henry_train.ids)
    lines = ["| training MOFs | from scratch | from the Henry model | paired difference (Henry − scratch) | "
             "seeds where Henry is better | test MOFs the Henry model trained on |", "|---|---|---|---|---|---|"]
    curve = {}
    for n in args.sizes:
        a = {m["experiment"]["seed"]: m for m in done[("scratch", n)]["runs"]}
        b = {m["experiment"]["seed"]: m for m in done[("henry", n)]["runs"]}
        seeds = sorted(set(a) & set(b))
        if not seeds:
            continue
        sa = np.array([a[s]["test"]["mae"] for s in seeds])
        sb = np.array([b[s]["test"]["mae"] for s in seeds])
        overlap = [len(seen & set(test_ids(a[s]))) / max(len(test_ids(a[s])), 1) for s in seeds]
        curve[n] = (sa, sb)
        lines.append(f"| {n} | {sa.mean():.3f} ± {sa.std(ddof=1) if len(sa) > 1 else 0:.3f} | {sb.mean():.3f} ± "
                     f"{sb.std(ddof=1) if len(sb) > 1 else 0:.3f} | {(sb - sa).mean():+.3f} "
                     f"({', '.join(f'{d:+.3f}' for d in sb - sa)}) | {int((sb < sa).sum())} of {len(seeds)} | "
                     f"{np.mean(overlap):.0%} |")
    out = root / "figures" / args.profile
    out.mkdir(parents=True, exist_ok=True)
    units = "mol/kg"
    text = (f"Test MAE ({units}) of AE-CGCNN on CO2 uptake at 0.15 bar, mean ± std over seeds "
            f"{', '.join(map(str, args.seeds))}; {args.epochs} epochs, {args.val_size} validation MOFs.\n\n"
            + "\n".join(lines) + f"\n\n{command_line()} at {stamp('cpu')['commit']}, {stamp('cpu')['utc']}\n")
    (out / "transfer_curve.md").write_text(text)
    print(text)
    if curve:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, ax = plt.subplots(figsize=(4.5, 3.4))
        ns = sorted(curve)
        for k, (label, marker) in enumerate([("from scratch", "o"), ("from the Henry model", "s")]):
            vals = [curve[n][k] for n in ns]
            ax.errorbar(ns, [v.mean() for v in vals], yerr=[v.std() for v in vals], marker=marker, capsize=3,
                        label=label)
        ax.set_xscale("log")
        ax.set_xlabel("training MOFs")
        ax.set_ylabel(f"test MAE ({units})")
        ax.set_title("CO2 uptake, 0.15 bar")
        ax.legend()
        fig.tight_layout()
        fig.savefig(out / "transfer_curve.png", dpi=150)


def json_meta(checkpoint: Path) -> dict:
    """The metadata of a shipped checkpoint (its recorded experiment) without building the model."""
    from aecgcnn.checkpoint import load_checkpoint
    return load_checkpoint(checkpoint)[1]


def test_ids(metrics: dict) -> list[str]:
    """The test MOF ids of a finished run (its test_predictions.csv)."""
    import csv
    path = Path(metrics["experiment"]["out_dir"]) / "test_predictions.csv"
    with open(path, newline="") as fh:
        return [r["id"] for r in csv.DictReader(fh)]


if __name__ == "__main__":
    main()
