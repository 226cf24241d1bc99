"""Data-parallel training on one CPU machine: ``torchrun --nproc-per-node 2`` (gloo, 1 thread per rank) against one
process with 2 threads, same experiment, same global batch, same cores.

    python benchmarks/ddp_throughput.py [--presets cgcnn ae-cgcnn] [--train-size 512] [--epochs 3]

Reports training crystals/s (median epoch after the first; an epoch includes validating ``--val-size`` crystals),
the largest process's peak RSS, and the last epoch's train MAE of both (the curves should agree: per-rank batch
norm is the only modelled difference, tests/test_distributed.py). What it answers: whether a user with a multi-core
CPU (or several GPUs, where the same code path uses NCCL) gains from ranks over threads.
"""
from __future__ import annotations

import argparse
import csv
import os
import statistics
import sys
import tempfile
from pathlib import Path

from _measure import measured_run, print_table


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--presets", nargs="+", default=["cgcnn", "ae-cgcnn"])
    ap.add_argument("--dataset", default="core2019-co2-0.15bar")
    ap.add_argument("--train-size", type=int, default=512)
    ap.add_argument("--val-size", type=int, default=64)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--data-dir", default=None)
    args = ap.parse_args()
    from aecgcnn.provenance import stamp
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for preset in args.presets:
            train = ["train", "--dataset", args.dataset, "--preset", preset, "--train-size", str(args.train_size),
                     "--val-size", str(args.val_size), "--test-size", "32", "--batch-size", str(args.batch_size),
                     "--epochs", str(args.epochs), "--seed", "0"] + (["--data-dir", args.data_dir] if args.data_dir else [])
            for label, launcher, threads in (
                    ("1 process x 2 threads", [sys.executable, "-m", "aecgcnn"], 2),
                    ("torchrun 2 ranks x 1 thread (gloo)",
                     [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", "-m",
                      "aecgcnn"], 1)):
                out = Path(tmp) / f"{preset}-{threads}"
                _, peak, _ = measured_run([*launcher, *train, "--out", str(out)],
                                          {**os.environ, "OMP_NUM_THREADS": str(threads)})
                with open(out / "history.csv", newline="") as fh:
                    hist = list(csv.DictReader(fh))
                sec = statistics.median(float(r["seconds"]) for r in hist[1:] or hist)
                rows.append((preset, label, args.train_size / sec, sec, peak, float(hist[-1]["train_mae"])))
    prov = stamp("cpu")
    print(f"\nTraining throughput, {args.dataset}, {args.train_size} training + {args.val_size} validation crystals, "
          f"global batch {args.batch_size}, median of epochs 2-{args.epochs}; commit {prov['commit']}; "
          f"{prov['device'].split(' (')[0]}; allocator: {prov['allocator']}")
    print_table(["rung", "launch", "training crystals/s", "s/epoch", "peak RSS, largest process (MiB)", "last train MAE"],
                [(preset, label, f"{rate:.1f}", f"{sec:.1f}", f"{peak:,.0f}", f"{mae:.4f}")
                 for preset, label, rate, sec, peak, mae in rows])


if __name__ == "__main__":
    main()
