"""Named training recipes (``--protocol``): the model options and optimiser settings of one protocol,
written once. Individual settings (CLI flags, notebook parameters, ``Experiment`` fields) override them.

- ``paper``: what the AE-CGCNN paper states: one-hot atomic number, ReLU, 4 conv layers, Adam lr 1e-3,
  weight decay 5e-4, 50 epochs, the best-validation checkpoint tested. The batch size is not stated; 64.
  Where it is silent: one weight matrix on z (``init='fused'``, as "z W" reads), the activation on the pooled
  vector before the head (a no-op with ReLU).
- ``reference-cgcnn``: what the reference CGCNN code (Xie & Grossman) does with Adam: its element-property
  atom features, Softplus everywhere (also on the pooled vector before the head), one fused Linear on
  z = v_i ⊕ v_j ⊕ e (its initialisation), 3 conv layers, batch 256, no weight decay, lr 1e-3, 50 epochs.
  The model options apply to every AE-CGCNN rung (the ladder above CGCNN keeps its own additions).

The audit of every difference between the two is the docs/model-card.md's "Fidelity audit" table.

The recipes themselves are :data:`aecgcnn.config.PROTOCOLS`. A baseline keeps its own published optimiser recipe where
it has one (:data:`aecgcnn.config.MODEL_TRAIN`: GeoCGNN's published code trains Adam with weight decay 0, and the
paper protocol's 5e-4 measured far worse: docs/results.md, Table III), under every protocol: GeoCGNN trains without
weight decay, as its published code does. An explicit ``weight_decay`` (``--weight-decay``,
the notebooks' parameter) still overrides it.
"""
from __future__ import annotations

from aecgcnn.config import DEFAULT_PROTOCOL, MODEL_TRAIN, PROTOCOLS, TRAIN_KEYS  # noqa: F401  (re-exported)


def protocol(name: str) -> dict:
    """The ``{"model": {...}, "train": {...}}`` settings of a named protocol."""
    if name not in PROTOCOLS:
        raise ValueError(f"unknown protocol {name!r}: choose from {list(PROTOCOLS)}")
    return PROTOCOLS[name]


def train_recipe(name: str, preset: str) -> dict:
    """The optimiser settings (:data:`TRAIN_KEYS`) a model ``preset`` trains with under protocol ``name``: the
    protocol's, with the model's own (:data:`MODEL_TRAIN`) on top."""
    return {**protocol(name)["train"], **MODEL_TRAIN.get(preset, {})}
