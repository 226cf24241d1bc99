"""Fitted tree ensembles as plain arrays: saved without pickle (a saved model holds no code, loads with any
scikit-learn version or none) and evaluated in numpy.

A tree is stored as node arrays: ``feature`` (int), ``threshold`` (float), ``left`` / ``right`` (child indices,
-1 at a leaf), ``missing_left`` (where a NaN feature goes) and ``value`` (the leaf output). A sample goes left when
``x[feature] <= threshold`` (or when it is NaN and ``missing_left``), as scikit-learn decides. The ensemble's
prediction is

    ŷ(x) = baseline + scale · Σ_t value_t(leaf_t(x))

with scale 1 and the fitted baseline for gradient boosting (``HistGradientBoostingRegressor``), scale 1/T and
baseline 0 for a random forest (``RandomForestRegressor``, the mean of its T trees).
"""
from __future__ import annotations

import numpy as np

FIELDS = ("feature", "threshold", "left", "right", "missing_left", "value")


def export_trees(regressor) -> dict[str, np.ndarray]:
    """The arrays of a fitted ``HistGradientBoostingRegressor`` or ``RandomForestRegressor``: every tree's nodes
    concatenated (``offsets`` [T + 1] mark each tree's first node; child indices are global), ``baseline`` and
    ``scale``."""
    trees = []
    if hasattr(regressor, "_predictors"):  # histogram gradient boosting: one predictor per iteration
        for (pred,) in regressor._predictors:
            n = pred.nodes
            leaf = n["is_leaf"].astype(bool)
            if n["is_categorical"].any():
                raise ValueError("categorical splits are not supported")
            trees.append({"feature": n["feature_idx"], "threshold": n["num_threshold"],
                          "left": np.where(leaf, -1, n["left"].astype(np.int64)),
                          "right": np.where(leaf, -1, n["right"].astype(np.int64)),
                          "missing_left": n["missing_go_to_left"].astype(bool), "value": n["value"]})
        baseline, scale = float(np.ravel(regressor._baseline_prediction)[0]), 1.0
    elif hasattr(regressor, "estimators_"):  # a forest of decision trees
        for est in regressor.estimators_:
            t = est.tree_
            trees.append({"feature": t.feature, "threshold": t.threshold, "left": t.children_left,
                          "right": t.children_right,
                          "missing_left": getattr(t, "missing_go_to_left", np.zeros(t.node_count)).astype(bool),
                          "value": t.value[:, 0, 0]})
        baseline, scale = 0.0, 1.0 / len(trees)
    else:
        raise ValueError(f"{type(regressor).__name__}: not a tree ensemble this module reads")
    sizes = [len(t["value"]) for t in trees]
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    out = {"offsets": offsets.astype(np.int64), "baseline": np.array(baseline), "scale": np.array(scale)}
    for f in FIELDS:
        parts = []
        for t, off in zip(trees, offsets[:-1]):
            a = np.asarray(t[f])
            if f in ("left", "right"):
                a = np.where(a < 0, -1, a.astype(np.int64) + off)
            parts.append(a)
        out[f] = np.concatenate(parts).astype({"feature": np.int64, "left": np.int64, "right": np.int64,
                                               "missing_left": bool}.get(f, np.float64))
    return out


def predict_trees(arrays: dict[str, np.ndarray], X: np.ndarray) -> np.ndarray:
    """ŷ [n] of the ensemble ``arrays`` (:func:`export_trees`) for features ``X`` [n, F] (NaN: missing): every
    sample walks every tree at once, one level per step."""
    X = np.asarray(X, dtype=np.float64)
    node = np.broadcast_to(arrays["offsets"][:-1], (len(X), len(arrays["offsets"]) - 1)).copy()  # [n, T]
    rows = np.arange(len(X))[:, None]
    left, right = arrays["left"], arrays["right"]
    while True:
        inner = left[node] >= 0
        if not inner.any():
            break
        f = np.where(inner, arrays["feature"][node], 0)
        x = X[rows, f]
        go_left = np.where(np.isnan(x), arrays["missing_left"][node], x <= arrays["threshold"][node])
        node = np.where(inner, np.where(go_left, left[node], right[node]), node)
    return float(arrays["baseline"]) + float(arrays["scale"]) * arrays["value"][node].sum(1)
