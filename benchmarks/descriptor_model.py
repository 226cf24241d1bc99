"""A saved descriptor model on new CIFs: what predicting from Zeo++ geometry computed here (``aecgcnn predict
DIR``) costs against the CoRE-2019 table's geometry the model was fitted on.

Fits the portable gradient-boosting baseline (``aecgcnn baseline --portable``) on the train + val part of a
dataset's split, saves it, then takes N MOFs of the test part at random (seed 0) and predicts them twice: from the
table's descriptors (as the fit was tested) and from their CIFs through the saved model (graph + Zeo++). Prints a
Markdown table (MAE of each against the labels on the MOFs both could predict, the mean absolute difference of the
two predictions, seconds per CIF) and its provenance line (save it under benchmarks/results/).

    python benchmarks/descriptor_model.py [--dataset core2019-co2-16bar] [--n 200] [--out DIR]
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from aecgcnn.api import load_model
from aecgcnn.baselines.descriptors import dataset_descriptors, run_descriptor_baseline
from aecgcnn.baselines.descriptor_model import portable_feature
from aecgcnn.baselines.trees import predict_trees
from aecgcnn.data.splits import make_split
from aecgcnn.experiment import nested_subsets
from aecgcnn.provenance import command_line, stamp


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="core2019-co2-16bar")
    ap.add_argument("--split", default="80-10-10")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--out", default=None, help="where the fitted model goes (default: a temporary folder)")
    args = ap.parse_args()
    started = stamp("cpu")  # the commit and time the measurement starts from
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(args.out or tmp)
        fit = run_descriptor_baseline(args.dataset, args.split, args.seed, "gb", out_dir=out, portable=True)
        model = load_model(out)
        entries, X, names, y, _ = dataset_descriptors(args.dataset)
        keep = [k for k, name in enumerate(names) if portable_feature(name)]
        X = X[:, keep]
        assert [names[k] for k in keep] == model.meta["features"]
        test = nested_subsets(make_split(args.split, entries, args.seed), args.seed)["test"]
        index = {e.id: k for k, e in enumerate(entries)}
        pick = sorted(np.random.default_rng(0).choice(sorted(test), min(args.n, len(test)), replace=False))
        rows = [index[i] for i in pick]
        from_table = dict(zip(pick, predict_trees(model.arrays, X[rows])))
        cif_dir = Path(tmp) / "cifs"
        cif_dir.mkdir()
        for i in pick:
            (cif_dir / f"{i}.cif").write_text(entries[index[i]].cif)
        t = time.time()
        table = model.predict([cif_dir], workers=args.workers)
        seconds = time.time() - t
    got = dict(zip(table["id"], table[model.prediction_column]))
    both = [i for i in pick if i in got]
    label = np.array([y[index[i]] for i in both])
    a, b = np.array([from_table[i] for i in both]), np.array([got[i] for i in both])
    units = model.units
    print(f"{args.dataset}, {args.split} seed {args.seed}: portable gradient boosting, {len(model.meta['features'])} "
          f"descriptors, fitted on {fit['sizes']['train']} MOFs; whole test part ({fit['test']['n']} MOFs, table "
          f"geometry): MAE {fit['test']['mae']:.4f} {units}")
    print(f"{len(both)} of {len(pick)} drawn test MOFs predicted from their CIFs "
          f"({len(table.attrs['skipped'])} skipped: " + "; ".join(m for _, m in table.attrs["skipped"][:3]) + ")")
    print("| geometry from | MAE vs label | mean abs. difference to the table's prediction |")
    print("|---|---|---|")
    print(f"| the CoRE-2019 table (as fitted) | {np.abs(a - label).mean():.4f} | 0 |")
    print(f"| Zeo++ here (aecgcnn predict) | {np.abs(b - label).mean():.4f} | {np.abs(a - b).mean():.4f} |")
    print(f"{seconds / max(len(pick), 1):.2f} s per CIF (graph + Zeo++, {args.workers} worker(s))")
    print(f"{command_line()} at {started['commit']}, {started['device']}, started {started['utc']}")


if __name__ == "__main__":
    main()
