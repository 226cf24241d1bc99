"""A fitted descriptor model that predicts new CIFs: chemistry descriptors from the crystal graph
(:func:`aecgcnn.baselines.chemistry.chemistry_descriptors`) plus pore geometry computed by Zeo++
(:func:`aecgcnn.geometry.pore_geometry`), fed to the saved tree ensemble (:mod:`aecgcnn.baselines.trees`).

Saved as one ``descriptor_model.npz`` (numpy arrays and a JSON header; read with ``allow_pickle=False``, so the file
can hold no code): the trees, the feature names in order, the dataset, target and units, the graph settings of the
chemistry descriptors, the probe radius of the geometry and the fit's test metrics.

Trained on the CoRE-2019 table's Zeo++ values (:data:`PORTABLE_GEOMETRY`, the columns ``aecgcnn geometry``
reproduces with R² ≥ 0.94, docs/results.md), predicting on values Zeo++ computes here: the shift this causes is
measured by ``benchmarks/descriptor_model.py``.
"""
from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from aecgcnn.baselines.chemistry import chemistry_descriptors
from aecgcnn.baselines.trees import export_trees, predict_trees
from aecgcnn.config import PREDICT_BATCH_SIZE, PROBE_RADIUS
from aecgcnn.errors import InputError
from aecgcnn.geometry import pore_geometry
from aecgcnn.graph import GraphSettings
from aecgcnn.items import Predictor, item_graphs

FILE = "descriptor_model.npz"
#: the table's geometry columns a saved model may use: those ``aecgcnn geometry`` computes for any CIF
PORTABLE_GEOMETRY = ("Di", "Df", "Dif", "ASA", "NASA")


def portable_feature(name: str) -> bool:
    """Whether a descriptor can be computed for any CIF: every chemistry descriptor, and the geometry of
    :data:`PORTABLE_GEOMETRY` (``geo_<column>``)."""
    return not name.startswith("geo_") or name[4:] in PORTABLE_GEOMETRY


def save_descriptor_model(path, regressor, names: list[str], meta: dict) -> Path:
    """Write a fitted regressor (gradient boosting or random forest) with its feature ``names`` and ``meta``
    (dataset, target, units, regressor, metrics: plain JSON) to ``path`` (.npz) → the path."""
    if not all(map(portable_feature, names)):
        raise ValueError(f"features {[n for n in names if not portable_feature(n)]} cannot be computed for a new CIF")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    header = {"format": 1, "features": list(names), "graph_settings": GraphSettings().to_dict(),
              "probe": PROBE_RADIUS, **meta}
    np.savez_compressed(path, header=np.array(json.dumps(header)), **export_trees(regressor))
    return path


def is_descriptor_model(path) -> bool:
    """Whether ``path`` is a saved descriptor model (the .npz, or a folder holding it)."""
    path = Path(path)
    return (path / FILE).is_file() if path.is_dir() else (path.suffix == ".npz" and path.is_file())


class DescriptorModel(Predictor):
    """A saved descriptor model, with :class:`aecgcnn.api.Model`'s ``predict`` interface (no ensemble σ, no
    attention, no domain)."""

    is_ensemble = False
    has_domain = False
    device = "cpu"

    def __init__(self, path):
        path = Path(path)
        self.source = str(path)
        with np.load(path / FILE if path.is_dir() else path, allow_pickle=False) as z:
            self.arrays = {k: z[k] for k in z.files if k != "header"}
            self.meta = json.loads(str(z["header"]))
        self.meta["graph_settings"] = GraphSettings(**self.meta["graph_settings"])

    def __repr__(self) -> str:
        return (f"DescriptorModel({self.meta.get('regressor', '?')}, {len(self.meta['features'])} descriptors, predicts "
                f"{self.target} ({self.units}) of {self.meta.get('dataset', '?')}, {self.source})")

    def graph_features(self, graphs, workers: int = 1, cifs=None) -> tuple[np.ndarray, list[str]]:
        """(X [n, F] in :attr:`meta` ``features`` order, problems [n]: '' or why that crystal has no pore geometry)
        of crystal graphs: the chemistry from the graph, Zeo++ on each structure's CIF (``cifs`` [n]: the texts
        given, as the CoRE-2019 table was computed from them; where None, the structure as its graph saw it)."""
        with tempfile.TemporaryDirectory() as tmp:
            files = []
            for k, g in enumerate(graphs):  # Zeo++ reads files
                f = Path(tmp) / f"s{k}.cif"
                f.write_text(cifs[k] if cifs is not None and cifs[k] is not None else _cif_of(g))
                files.append(f)
            geo = pore_geometry(files, workers=workers, probe=self.meta["probe"]) if files else pd.DataFrame()
        X = np.full((len(graphs), len(self.meta["features"])), np.nan)
        problems = []
        for k, g in enumerate(graphs):
            row = geo.iloc[k]
            problems.append(f"no pore geometry ({row['problem'].split(': ', 1)[-1]})" if row["problem"] else "")
            values = {**chemistry_descriptors(g), **{"geo_" + c.split(" [")[0]: float(row[c]) for c in geo.columns
                                                     if c not in ("id", "path", "problem")}}
            X[k] = [values.get(name, np.nan) for name in self.meta["features"]]
        return X, problems

    def predict_graphs(self, graphs, workers: int = 1, cifs=None) -> tuple[np.ndarray, list[str]]:
        """(predictions [n], NaN where the problem [n] is not '') of crystal graphs (:meth:`graph_features`)."""
        X, problems = self.graph_features(graphs, workers, cifs)
        values = predict_trees(self.arrays, X) if len(X) else np.zeros(0)
        return np.where([bool(p) for p in problems], np.nan, values), problems

    def features(self, items, cache_dir=None, progress: bool = False, workers: int = 1):
        """(ids, origins, X [n, F] in :attr:`meta` ``features`` order, failures (id, reason)) of ``items`` (as
        :meth:`aecgcnn.api.Model.predict` takes them), the failures including structures Zeo++ could not measure."""
        ids, origins, graphs, failures, cifs = item_graphs(items, self.meta["graph_settings"], cache_dir, progress,
                                                           with_cif=True)
        X, problems = self.graph_features(graphs, workers, cifs)
        keep = [k for k, p in enumerate(problems) if not p]
        failures += [(ids[k], f"{origins[k]}: {p}") for k, p in enumerate(problems) if p]
        return [ids[k] for k in keep], [origins[k] for k in keep], X[keep], failures

    def predict(self, items, batch_size: int = PREDICT_BATCH_SIZE, attention: bool = False,
                precision: str | None = None, cache_dir=None, progress: bool = False, domain: bool = True,
                workers: int = 1) -> pd.DataFrame:
        """Predictions as a DataFrame (``id``, ``path``, the prediction column); bad inputs in
        ``attrs["skipped"]``. ``batch_size``, ``precision`` and ``domain`` are accepted for the network models'
        interface and unused; ``workers``: Zeo++ processes."""
        if attention:
            raise InputError(f"{self.source}: a descriptor model has no attention")
        ids, origins, X, failures = self.features(items, cache_dir, progress, workers)
        table = pd.DataFrame({"id": ids, "path": origins,
                              self.prediction_column: predict_trees(self.arrays, X) if len(X) else []})
        table.attrs.update(skipped=failures, units=self.units, target=self.target)
        return table

    def explain(self, items, cache_dir=None):
        raise InputError(f"{self.source}: a descriptor model has no per-atom attention")


def _cif_of(graph) -> str:
    """A P1 CIF of a crystal graph's lattice, species and positions (what Zeo++ reads)."""
    from pymatgen.core import Lattice, Structure
    s = Structure(Lattice(graph.lattice.astype(np.float64)), graph.atomic_numbers.tolist(),
                  graph.positions.astype(np.float64), coords_are_cartesian=True)
    return s.to(fmt="cif")
