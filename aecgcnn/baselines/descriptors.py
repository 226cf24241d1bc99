"""A descriptor baseline in the spirit of Moosavi et al. (Nat. Commun. 11, 4068, 2020).

Moosavi et al. used 165 descriptors: revised autocorrelations (RACs) of the metal centre, linker and
functional groups, plus Zeo++ pore geometry. Offline we have the Zeo++ geometry (``Di``, ``Df``, ``Dif``
for every labelled CoRE MOF; ``ASA``, ``CellV``, ``NASA``, ``POAV``, ``POAVF``, ``PONAV``, ``PONAVF``,
``density``, ``total_SA``, ``total_POV`` for the 7,525 MOFs with a 16 bar label) and compute chemistry
descriptors from the CIF ourselves (:func:`aecgcnn.baselines.chemistry.chemistry_descriptors`). RACs are not computed (see docs/model-card.md).
Missing geometry is left as NaN, which scikit-learn's tree models handle natively.
"""
from __future__ import annotations

import csv
import functools
import time
from pathlib import Path

import numpy as np

from aecgcnn.baselines.chemistry import chemistry_descriptors
from aecgcnn.baselines.descriptor_model import FILE as MODEL_FILE, portable_feature, save_descriptor_model
from aecgcnn.data.cache import build_graphs
from aecgcnn.data.datasets import DATASETS, dataset_digests, load_entries, recorded_same_data, resolve_data_dir
from aecgcnn.data.sources import file_digests
from aecgcnn.data.splits import make_split
from aecgcnn.experiment import nested_subsets
from aecgcnn.metrics import regression_metrics
from aecgcnn.provenance import stamp, write_record

GEOMETRY_LABELS = ["Di", "Df", "Dif"]
GEOMETRY_16BAR = None  # every numeric column of the Zeo++ table except its index and the label
#: the geometry descriptors of the 16 bar table (Moosavi et al.), read beside the labels file
GEOMETRY_FILE = "mof/core2019_geometry_16bar.csv"


def _geometry_table(data_dir: Path) -> dict[str, dict]:
    table: dict[str, dict] = {}
    for rel, cols in [("mof/core2019_co2_labels_merged.csv", GEOMETRY_LABELS),
                      (GEOMETRY_FILE, GEOMETRY_16BAR)]:
        path = data_dir / rel
        if not path.exists():
            continue
        with open(path, newline="", encoding="utf-8-sig") as fh:
            for row in csv.DictReader(fh):
                name = row.get("MOFname") or row.get("name")
                use = cols if cols is not None else [c for c in row if c.strip("\ufeff") not in
                                                     ("", "Unnamed: 0", "MOFname") and "uptake" not in c]
                for c in use:
                    if c in row:
                        try:
                            key = "geo_" + c.split(" [")[0]
                            table.setdefault(name, {})[key] = float(row[c])
                        except ValueError:
                            pass
    return table


def descriptor_matrix(entries, graphs, data_dir=None, use_geometry: bool = True):
    """Feature matrix [n_entries, n_features] (NaN where a geometric descriptor is missing) and names."""
    geo = _geometry_table(resolve_data_dir(data_dir)) if use_geometry else {}
    rows = []
    for e, g in zip(entries, graphs):
        row = chemistry_descriptors(g)
        row.update(geo.get(e.id, {}))
        rows.append(row)
    names = sorted({k for r in rows for k in r})
    X = np.array([[r.get(k, np.nan) for k in names] for r in rows], dtype=np.float64)
    return X, names


def make_regressor(kind: str, seed: int):
    """``rf``: RandomForestRegressor (500 trees); ``gb``: HistGradientBoostingRegressor."""
    from sklearn.ensemble import HistGradientBoostingRegressor, RandomForestRegressor
    if kind == "rf":
        return RandomForestRegressor(n_estimators=500, min_samples_leaf=1, max_features=0.33, n_jobs=-1,
                                     random_state=seed)
    if kind == "gb":
        return HistGradientBoostingRegressor(max_iter=1000, learning_rate=0.05, early_stopping=True,
                                             random_state=seed)
    raise ValueError(f"unknown regressor {kind!r}: rf | gb")


@functools.lru_cache(maxsize=4)
def dataset_descriptors(dataset: str, data_dir=None, cache_dir=None, use_geometry: bool = True):
    """Descriptors of every buildable entry of a dataset, computed once per process (seeds and regressors
    reuse them) → (entries [n], X [n, n_features], feature names, y [n] in the dataset's units, n skipped)."""
    entries = load_entries(dataset, data_dir)
    built = build_graphs(entries, cache_dir=cache_dir, progress=False)
    X, names = descriptor_matrix(built.entries, built.graphs, data_dir, use_geometry)
    y = np.array([e.target for e in built.entries])
    return built.entries, X, names, y, len(built.failures)


def run_descriptor_baseline(dataset: str, split: str = "70-30", seed: int = 0, regressor: str = "rf",
                            data_dir=None, cache_dir=None, use_geometry: bool = True, out_dir=None,
                            train_size: int | None = None, val_size: int | None = None,
                            test_size: int | None = None, portable: bool = False) -> dict:
    """Fit the descriptor model on the split's train (+val) part and test it on the test part.

    ``train_size`` / ``val_size`` / ``test_size``: fit on those subsets of the train / val parts and test on that of
    the test part instead, drawn as a network run of the same split, seed and sizes draws them
    (:func:`aecgcnn.experiment.nested_subsets`), so the baseline sees exactly the crystals that run trained and
    selected on, and is tested on the same ones.
    Returns the same results format as :func:`aecgcnn.experiment.run_experiment` (``test``, ``train``
    metrics, sizes, provenance) plus the feature names and importances. With ``out_dir`` the metrics are written
    to ``out_dir/metrics.json``, and a finished fit of the same experiment on the same data there is reused.

    ``portable``: only descriptors any CIF yields (chemistry, and the geometry ``aecgcnn geometry`` computes:
    :data:`aecgcnn.baselines.descriptor_model.PORTABLE_GEOMETRY`); with ``out_dir`` the fitted model is saved there
    (``descriptor_model.npz``) and ``aecgcnn predict`` uses it on new CIFs."""
    import json

    experiment = {"dataset": dataset, "split": split, "seed": seed, "regressor": regressor,
                  "use_geometry": use_geometry,
                  **{k: v for k, v in (("train_size", train_size), ("val_size", val_size), ("test_size", test_size))
                     if v is not None}, **({"portable": True} if portable else {})}
    data_root = str(resolve_data_dir(data_dir))
    digests = dataset_digests(dataset, data_dir)
    if use_geometry and digests:  # the geometry table (_geometry_table) is data of the fit too
        digests.update(file_digests(data_root, [GEOMETRY_FILE]))
    record = Path(out_dir) / "metrics.json" if out_dir else None
    if record and record.exists():
        done = json.loads(record.read_text())
        if done.get("experiment") == experiment and recorded_same_data(done, digests, data_root):
            print(f"[aecgcnn] reusing finished baseline {out_dir}")
            return done
    built_entries, X, names, y, n_skipped = dataset_descriptors(dataset, data_dir, cache_dir, use_geometry)
    if portable:
        keep = [k for k, name in enumerate(names) if portable_feature(name)]
        X, names = X[:, keep], [names[k] for k in keep]
    parts = nested_subsets(make_split(split, built_entries, seed), seed, train_size, val_size, test_size)
    index = {e.id: k for k, e in enumerate(built_entries)}
    train_idx = [index[i] for i in parts["train"] + parts["val"] if i in index]  # no early stopping: train + val
    test_idx = [index[i] for i in parts["test"] if i in index]
    model = make_regressor(regressor, seed)
    t = time.time()
    model.fit(X[train_idx], y[train_idx])
    seconds = time.time() - t
    spec = DATASETS.get(dataset)
    importances = getattr(model, "feature_importances_", None)
    metrics = {
        "test": regression_metrics(y[test_idx], model.predict(X[test_idx])),
        "train": regression_metrics(y[train_idx], model.predict(X[train_idx])),
        "train_seconds": seconds, "sizes": {"train": len(train_idx), "test": len(test_idx)},
        "skipped_entries": n_skipped, "model_kind": f"descriptors-{regressor}",
        "features": names, "n_features": len(names),
        "importances": dict(zip(names, map(float, importances))) if importances is not None else {},
        "experiment": experiment, "data_root": data_root, "data_sha256": digests,
        "data_files": list(spec.files) if spec else [dataset] + [GEOMETRY_FILE],
        "units": spec.units if spec else "", "provenance": stamp("cpu"),
    }
    if record:
        record.parent.mkdir(parents=True, exist_ok=True)
        if portable:
            save_descriptor_model(record.parent / MODEL_FILE, model, names,
                                  {"dataset": dataset, "target": spec.target if spec else "target",
                                   "units": metrics["units"], "regressor": regressor, "experiment": experiment,
                                   "test": metrics["test"]})
        write_record(record, metrics)  # never half-written: it marks a finished fit
    return metrics
