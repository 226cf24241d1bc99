"""What a prediction accepts, and its graphs: CIF files and folders, CIF text, pymatgen ``Structure``s and ASE
``Atoms``, mixed (:func:`collect_items`), built into crystal graphs with per-item failures (:func:`item_graphs`).
Used by every model kind of :func:`aecgcnn.api.load_model`."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pymatgen.core import Structure

from aecgcnn.config import GRAPH_TIME_LIMIT
from aecgcnn.data.cache import build_graphs, safe_structure_graph, timeout_message
from aecgcnn.data.datasets import Entry
from aecgcnn.data.workers import map_limited
from aecgcnn.errors import InputError
from aecgcnn.graph import GraphSettings
from aecgcnn.predict import collect_cifs, entries_from_files


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


def item_graphs(items, settings: GraphSettings, cache_dir=None, progress: bool = False,
                time_limit: float | None = GRAPH_TIME_LIMIT, with_cif: bool = False):
    """(ids, origins, graphs, failures) of ``items`` (:func:`collect_items`) with graph ``settings``; CIF inputs go
    through the graph cache, structures are built directly; bad inputs are failures (id, reason). ``with_cif``: a
    fifth list, each kept item's CIF text (None for a structure given in memory)."""
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
    out = [items[k].id for k in kept], [items[k].origin for k in kept], [by_index[k] for k in kept], failures
    return (*out, [items[k].cif for k in kept]) if with_cif else out


class Predictor:
    """What every loaded model kind says of its predictions, from its ``meta`` (the checkpoint's or saved model's
    metadata): :attr:`target`, :attr:`units`, :attr:`prediction_column`."""

    meta: dict

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

