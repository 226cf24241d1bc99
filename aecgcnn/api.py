"""The Python API: ``aecgcnn.load_model(name_or_path).predict(items)``.

One loading function for every kind of model source and one object for a model and an ensemble::

    import aecgcnn
    model = aecgcnn.load_model("core2019-co2-0.15bar")      # a shipped model or a dataset's default
    table = model.predict(["new_mofs/", structure, atoms])  # CIF paths/folders/text, pymatgen, ASE: mixed
    atoms_table = model.explain(["ABC.cif"])                # per-atom attention (one model)

``aecgcnn predict`` and ``aecgcnn screen`` call the same object, so the CLI and Python give the same numbers.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import torch

from aecgcnn.baselines.descriptor_model import DescriptorModel, is_descriptor_model
from aecgcnn.errors import InputError
from aecgcnn.checkpoint import load_checkpoint, trained_edge_precision
from aecgcnn.data.batch import GraphDataset, make_loader
from aecgcnn.config import GRAPH_TIME_LIMIT, PREDICT_BATCH_SIZE
from aecgcnn.domain import capture_embeddings, domain_columns, has_domain
from aecgcnn.ensemble import Ensemble, is_ensemble, load_ensemble, predict_values
from aecgcnn.items import Predictor, item_graphs
from aecgcnn.models.fused import compile_for_job, edge_precision
from aecgcnn.pretrained import resolve_source


def load_model(source, device="cpu"):
    """A :class:`Model` from a shipped model's or dataset's name (``aecgcnn models``), a checkpoint file, a run
    folder or an ensemble folder; a :class:`aecgcnn.baselines.descriptor_model.DescriptorModel` (same ``predict``)
    from a saved descriptor model (``aecgcnn baseline --portable --out DIR``: ``DIR/seed0`` or its .npz). Files are
    read as weights and plain data only (a file holding code is refused)."""
    path = resolve_source(source)
    if is_descriptor_model(path):
        return DescriptorModel(path)
    if path.is_dir() and is_ensemble(path):
        net, meta = load_ensemble(path, device)
    else:
        net, meta = load_checkpoint(path, device)
    return Model(net, meta, str(path), device)


class Model(Predictor):
    """A trained model or ensemble with its metadata: ``predict`` and ``explain`` on any mix of inputs.

    Attributes: ``net`` (the torch module: one model, or an :class:`aecgcnn.ensemble.Ensemble`), ``meta`` (the
    checkpoint's metadata: dataset, target, units, graph settings, the experiment it was trained by), ``source``
    (where it was loaded from), ``is_ensemble``."""

    def __init__(self, net, meta: dict, source: str = "", device="cpu"):
        self.net, self.meta, self.source, self.device = net.eval(), meta, source, device
        self.is_ensemble = isinstance(net, Ensemble)

    def __repr__(self) -> str:
        kind = f"ensemble of {len(self.net.members)}" if self.is_ensemble else self.meta.get("kind", "model")
        return f"Model({kind}, predicts {self.target} ({self.units}) of {self.meta.get('dataset', '?')}, {self.source})"

    def graphs(self, items, cache_dir=None, progress: bool = False, time_limit: float | None = GRAPH_TIME_LIMIT):
        """(ids, origins, graphs, failures) of ``items`` with this model's graph settings
        (:func:`aecgcnn.items.item_graphs`)."""
        return item_graphs(items, self.meta["graph_settings"], cache_dir, progress, time_limit)

    @property
    def has_domain(self) -> bool:
        """Whether the model (every member of an ensemble) carries an applicability domain (:mod:`aecgcnn.domain`)."""
        return has_domain(self.net)

    @torch.no_grad()
    def predict(self, items, batch_size: int = PREDICT_BATCH_SIZE, attention: bool = False, precision: str | None = None,
                cache_dir=None, progress: bool = False, domain: bool = True) -> pd.DataFrame:
        """Predictions for ``items`` (CIF paths or folders, CIF text, pymatgen Structures, ASE Atoms; one or a list)
        as a DataFrame: ``id``, ``path`` (the file, or a description of an in-memory item), the prediction column
        (:attr:`prediction_column`, target units), for an ensemble ``std`` (the members' σ, same units), and with
        ``domain`` for a model that carries one (:attr:`has_domain`) ``domain_distance`` (≤ 1 inside),
        ``unseen_elements`` and ``in_domain`` (:mod:`aecgcnn.domain`). Bad inputs are left out and listed in
        ``DataFrame.attrs["skipped"]`` as (id, reason); ``attrs["units"]`` names the units. ``precision``: of the
        per-edge GEMMs (None: as the model was trained). With ``attention``, per-atom attention instead
        (:meth:`explain`)."""
        if attention:
            return self.explain(items, cache_dir=cache_dir)
        ids, origins, graphs, failures = self.graphs(items, cache_dir, progress)
        values, stds = [], []
        domain = domain and self.has_domain
        with (compile_for_job(len(graphs)), edge_precision(precision or trained_edge_precision(self.meta)),
              capture_embeddings(self.net, enabled=domain) as captured):
            for batch in make_loader(GraphDataset(graphs, None, ids), batch_size, device=self.device):
                v, s = predict_values(self.net, batch.to(self.device))
                values.extend(v)
                stds.extend(s or [])
        table = pd.DataFrame({"id": ids, "path": origins, self.prediction_column: values})
        if self.is_ensemble:
            table[f"std ({self.units}, {len(self.net.members)} members)"] = stds
        if domain and graphs:
            for column, col_values in domain_columns(self.net, captured.rows(), graphs).items():
                table[column] = col_values
        table.attrs.update(skipped=failures, units=self.units, target=self.target)
        return table

    def explain(self, items, cache_dir=None) -> pd.DataFrame:
        """The per-atom attention of ``items`` (:func:`aecgcnn.explain.explain_graphs`: pooling weight
        ``importance`` and neighbour attention received ``recv_*`` per atom); one model only."""
        from aecgcnn.explain import explain_graphs  # plotting helpers: loaded when asked for
        if self.is_ensemble:
            raise InputError(f"{self.source}: per-atom attention needs one model, not an ensemble: load a member "
                             f"({Path(self.source) / self.meta['members'][0]})")
        ids, _, graphs, failures = self.graphs(items, cache_dir)
        atoms, extra = explain_graphs(self.net.cpu(), graphs, ids)
        atoms.attrs.update(skipped=failures, prediction=extra["prediction"], head_weights=extra["head_weights"])
        return atoms
