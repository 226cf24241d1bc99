"""Seeded, saved splits: random 80/10/10, 70/30 (Moosavi et al.), the file splits (MEGNet, matbench
folds) and nested learning-curve training subsets against one fixed validation/test set (Table III).

A split is a dict ``{"train": [...ids], "val": [...], "test": [...], ...}`` plus metadata; it is saved
as JSON under ``data/splits/<dataset>/<name>.json`` so that every result can be reproduced.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from aecgcnn.config import VAL_FRACTION_OF_TRAIN
from aecgcnn.errors import InputError
from aecgcnn.paths import checkout_root, user_cache_root

def splits_dir() -> Path:
    """Where split files are saved by default: ``data/splits`` of the repository clone the package runs from (the
    committed records of the paper's splits), else ``splits/`` in the user's cache (:mod:`aecgcnn.paths`)."""
    root = checkout_root()
    return root / "data" / "splits" if root is not None else user_cache_root() / "splits"
#: the share of a training part carved out for validation where a split has none of its own (70-30, matbench folds)


def _perm(ids: list[str], seed: int) -> list[str]:
    ids = sorted(set(ids))  # order-independent: the same ids give the same split
    rng = np.random.default_rng(seed)
    return [ids[i] for i in rng.permutation(len(ids))]


def random_split(ids: list[str], fractions=(0.8, 0.1, 0.1), seed: int = 0) -> dict:
    """Random train/val/test split with the given fractions (must sum to 1)."""
    if abs(sum(fractions) - 1.0) > 1e-9:
        raise ValueError(f"fractions {fractions} do not sum to 1")
    p = _perm(ids, seed)
    n_train = int(round(fractions[0] * len(p)))
    n_val = int(round(fractions[1] * len(p)))
    return {"train": p[:n_train], "val": p[n_train:n_train + n_val], "test": p[n_train + n_val:],
            "meta": {"kind": f"random-{'-'.join(str(int(round(f * 100))) for f in fractions)}", "seed": seed}}


def split_70_30(ids: list[str], seed: int = 0, val_fraction_of_train: float = VAL_FRACTION_OF_TRAIN) -> dict:
    """Moosavi et al.'s 70/30 train/test split. The best-epoch selection of a neural network needs a
    validation set: it is carved out of the 70 % (``val_fraction_of_train``); the test 30 % is untouched."""
    p = _perm(ids, seed)
    n_test = int(round(0.3 * len(p)))
    test, rest = p[:n_test], p[n_test:]
    n_val = int(round(val_fraction_of_train * len(rest)))
    return {"train": rest[n_val:], "val": rest[:n_val], "test": test,
            "meta": {"kind": "70-30", "seed": seed, "val_fraction_of_train": val_fraction_of_train}}


def file_split(entries, seed: int = 0, fold: int = 0, val_fraction_of_train: float = VAL_FRACTION_OF_TRAIN) -> dict:
    """The split shipped with the data: MEGNet's ``split`` field, or matbench ``fold`` (test = that fold,
    validation = a seeded ``val_fraction_of_train`` of the other folds)."""
    metas = [e.meta for e in entries]
    if metas and "split" in metas[0]:
        out = {"train": [], "val": [], "test": []}
        for e in entries:
            out[e.meta["split"]].append(e.id)
        out["meta"] = {"kind": "file (MEGNet MP-2018 split)"}
        return out
    if metas and "fold" in metas[0]:
        test = [e.id for e in entries if e.meta["fold"] == fold]
        rest = _perm([e.id for e in entries if e.meta["fold"] != fold], seed)
        n_val = int(round(val_fraction_of_train * len(rest)))
        return {"train": rest[n_val:], "val": rest[:n_val], "test": test,
                "meta": {"kind": f"file (matbench fold {fold})", "seed": seed}}
    raise InputError("this dataset ships no split; use 80-10-10 or 70-30")


def make_split(kind: str, entries, seed: int = 0) -> dict:
    """Dispatch by name: ``80-10-10``, ``70-30``, ``file`` (or ``fold<k>`` for matbench)."""
    ids = [e.id for e in entries]
    if kind == "80-10-10":
        return random_split(ids, (0.8, 0.1, 0.1), seed)
    if kind == "70-30":
        return split_70_30(ids, seed)
    if kind == "file":
        return file_split(entries, seed)
    if kind.startswith("fold"):
        return file_split(entries, seed, fold=int(kind[4:]))
    raise InputError(f"unknown split {kind!r}: use 80-10-10, 70-30, file or fold0..fold4")


def save_split(split: dict, dataset: str, name: str, root: Path | None = None) -> Path:
    """Write a split as JSON to ``<root>/<dataset>/<name>.json`` (root: the project's data/splits)."""
    path = Path(root or splits_dir()) / dataset / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    counts = {k: len(v) for k, v in split.items() if k != "meta"}
    payload = {"dataset": dataset, "meta": split.get("meta", {}), "counts": counts,
               **{k: v for k, v in split.items() if k != "meta"}}
    path.write_text(json.dumps(payload))
    return path


def load_split(path: str | Path) -> dict:
    """Read a split written by :func:`save_split`."""
    data = json.loads(Path(path).read_text())
    out = {k: v for k, v in data.items() if isinstance(v, list)}
    out["meta"] = data.get("meta", {})
    return out
