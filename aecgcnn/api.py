"""The Python API: ``aecgcnn.load_model(name_or_path).predict(items)``.

One loading function for every kind of model source and one object for a model and an ensemble::

    import aecgcnn
    model = aecgcnn.load_model("core2019-co2-0.15bar")      # a shipped model or a dataset's default
    table = model.predict(["new_mofs/", structure, atoms])  # CIF paths/folders/text, pymatgen, ASE: mixed
    atoms_table = model.explain(["ABC.cif"])                # per-atom attention (one model)

``aecgcnn predict`` and ``aecgcnn screen`` call the same object, so the CLI and Python give the same numbers.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from pymatgen.core import Structure

from aecgcnn.errors import InputError
from aecgcnn.checkpoint import load_checkpoint, trained_edge_precision
from aecgcnn.data.batch import GraphDataset, make_loader
from aecgcnn.data.cache import build_graphs, safe_structure_graph, timeout_message
from aecgcnn.data.datasets import Entry
from aecgcnn.config import GRAPH_TIME_LIMIT, PREDICT_BATCH_SIZE
from aecgcnn.data.workers import map_limited
from aecgcnn.ensemble import Ensemble, is_ensemble, load_ensemble, predict_values
from aecgcnn.models.fused import compile_for_job, edge_precision
from aecgcnn.predict import collect_cifs, entries_from_files
from aecgcnn.pretrained import resolve_source


def load_model(source, device="cpu") -> "Model":
    """A :class:`Model` from a shipped model's or dataset's name (``aecgcnn models``), a checkpoint file, a run
    folder or an ensemble folder. Files are read as weights and plain data only (a file holding code is refused)."""
    path = resolve_source(source)
    if path.is_dir() and is_ensemble(path):
        net, meta = load_ensemble(path, device)
    else:
        net, meta = load_checkpoint(path, device)
    return Model(net, meta, str(path), device)


@dataclass
class _Item:
    """One input to predict: an id, where it came from, and either CIF text or a pymatgen Structure (+ charges)."""

    id: str
    origin: str
    cif: str | None = None
    structure: object = None
    charges: np.ndarray | None = None


def _structure_items(obj, k: int) -> _Item:
    """A pymatgen Structure (charges from a ``charge`` site property) or ASE Atoms (charges from the initial
    charges, when any is non-zero) as an item."""
    if isinstance(obj, Structure):
        charges = obj.site_properties.get("charge")
        return _Item(id=f"structure{k}", origin=f"<Structure {obj.composition.reduced_formula}>",
                     structure=obj, charges=None if charges is None else np.asarray(charges, dtype=float))
    from pymatgen.io.ase import AseAtomsAdaptor
    q = obj.get_initial_charges()
    s = AseAtomsAdaptor.get_structure(obj)
    if "charge" in s.site_properties:
        s.remove_site_property("charge")
    return _Item(id=f"atoms{k}", origin=f"<Atoms {obj.get_chemical_formula()}>", structure=s,
                 charges=np.asarray(q, dtype=float) if np.any(q) else None)


def _is_structure(obj) -> bool:
    """A pymatgen Structure or an ASE Atoms (ASE checked only when installed)."""
    if isinstance(obj, Structure):
        return True
    try:
        from ase import Atoms  # optional: ASE inputs need ASE
    except ImportError:
        return False
    return isinstance(obj, Atoms)


def collect_items(items) -> tuple[list[_Item], list[tuple[str, str]]]:
    """Items of every accepted kind, in the order given: CIF files and folders (every ``*.cif`` below), CIF text,
    pymatgen ``Structure``, ASE ``Atoms`` → (items, failures (id, reason) of files that cannot be read)."""
    if isinstance(items, (str, Path)) or _is_structure(items):
        items = [items]
    out, failures = [], []
    for k, obj in enumerate(items):
        if _is_structure(obj):
            out.append(_structure_items(obj, k))
        elif isinstance(obj, str) and ("\n" in obj and ("_cell_length_a" in obj or obj.lstrip().startswith("data_"))):
            out.append(_Item(id=f"cif{k}", origin=f"<CIF text {k}>", cif=obj))
        elif isinstance(obj, (str, Path)):
            entries, bad = entries_from_files(collect_cifs([obj]))
            out.extend(_Item(id=e.id, origin=e.meta["path"], cif=e.cif) for e in entries)
            failures.extend(bad)
        else:
            raise InputError(f"item {k}: {type(obj).__name__} is not a CIF path, CIF text, pymatgen Structure or "
                             "ASE Atoms")
    return out, failures


def _graph_of_structure(job):
    k, item, settings = job
    return (k, *safe_structure_graph(item.structure, item.charges, item.origin, settings))


class Model:
    """A trained model or ensemble with its metadata: ``predict`` and ``explain`` on any mix of inputs.

    Attributes: ``net`` (the torch module: one model, or an :class:`aecgcnn.ensemble.Ensemble`), ``meta`` (the
    checkpoint's metadata: dataset, target, units, graph settings, the experiment it was trained by), ``source``
    (where it was loaded from), ``is_ensemble``."""

    def __init__(self, net, meta: dict, source: str = "", device="cpu"):
        self.net, self.meta, self.source, self.device = net.eval(), meta, source, device
        self.is_ensemble = isinstance(net, Ensemble)

    @property
    def target(self) -> str:
        """The predicted quantity (the dataset's target column)."""
        return self.meta.get("target", "target")

    @property
    def units(self) -> str:
        """Units of the prediction (e.g. ``mol/kg``, ``eV/atom``)."""
        return self.meta.get("units", "")

    @property
    def prediction_column(self) -> str:
        """The prediction column's name: ``prediction (<target>, <units>)``."""
        return f"prediction ({self.target}, {self.units})"

    def __repr__(self) -> str:
        kind = f"ensemble of {len(self.net.members)}" if self.is_ensemble else self.meta.get("kind", "model")
        return f"Model({kind}, predicts {self.target} ({self.units}) of {self.meta.get('dataset', '?')}, {self.source})"

    def graphs(self, items, cache_dir=None, progress: bool = False, time_limit: float | None = GRAPH_TIME_LIMIT):
        """(ids, origins, graphs, failures) of ``items`` (:func:`collect_items`) with this model's graph settings;
        CIF inputs go through the graph cache, structures are built directly; bad inputs are failures (id, reason)."""
        settings = self.meta["graph_settings"]
        items, failures = collect_items(items)
        # keyed by position: two files of one name in different folders are two items
        cifs = [Entry(id=str(k), target=float("nan"), cif=it.cif, source=it.origin, meta={"path": it.origin})
                for k, it in enumerate(items) if it.cif is not None]
        built = build_graphs(cifs, settings, cache_dir, require_target=False, progress=progress, verbose=False,
                             time_limit=time_limit)
        by_index = {int(e.id): g for e, g in zip(built.entries, built.graphs)}
        failures += [(items[int(k)].id, msg) for k, msg in built.failures]
        jobs = [(k, it, settings) for k, it in enumerate(items) if it.structure is not None]
        on_timeout = lambda job, s: (job[0], None, timeout_message(job[1].origin, s))  # noqa: E731
        for k, graph, err in (map_limited(_graph_of_structure, jobs, 1, time_limit, on_timeout) if jobs else []):
            if graph is None:
                failures.append((items[k].id, err))
            else:
                by_index[k] = graph
        kept = sorted(by_index)
        return ([items[k].id for k in kept], [items[k].origin for k in kept], [by_index[k] for k in kept],
                failures)

    @torch.no_grad()
    def predict(self, items, batch_size: int = PREDICT_BATCH_SIZE, attention: bool = False, precision: str | None = None,
                cache_dir=None, progress: bool = False) -> pd.DataFrame:
        """Predictions for ``items`` (CIF paths or folders, CIF text, pymatgen Structures, ASE Atoms; one or a list)
        as a DataFrame: ``id``, ``path`` (the file, or a description of an in-memory item), the prediction column
        (:attr:`prediction_column`, target units), for an ensemble ``std`` (the members' σ, same units). Bad inputs
        are left out and listed in ``DataFrame.attrs["skipped"]`` as (id, reason); ``attrs["units"]`` names the
        units. ``precision``: of the per-edge GEMMs (None: as the model was trained). With ``attention``, per-atom
        attention instead (:meth:`explain`)."""
        if attention:
            return self.explain(items, cache_dir=cache_dir)
        ids, origins, graphs, failures = self.graphs(items, cache_dir, progress)
        values, stds = [], []
        with compile_for_job(len(graphs)), edge_precision(precision or trained_edge_precision(self.meta)):
            for batch in make_loader(GraphDataset(graphs, None, ids), batch_size, device=self.device):
                v, s = predict_values(self.net, batch.to(self.device))
                values.extend(v)
                stds.extend(s or [])
        table = pd.DataFrame({"id": ids, "path": origins, self.prediction_column: values})
        if self.is_ensemble:
            table[f"std ({self.units}, {len(self.net.members)} members)"] = stds
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
