"""Prediction on CIF files with a checkpoint: bad files are reported and skipped, the rest predicted."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch

from aecgcnn import InputError
from aecgcnn.data.batch import GraphDataset, make_loader
from aecgcnn.data.cache import build_graphs, write_problems
from aecgcnn.ensemble import predict_values
from aecgcnn.checkpoint import trained_edge_precision
from aecgcnn.models.fused import compile_for_job, edge_precision
from aecgcnn.data.datasets import Entry


def collect_cifs(paths) -> list[Path]:
    """CIF files from a list of files and folders (folders: every ``*.cif`` below them, sorted, as ``screen``
    reads them). Raises :class:`InputError` when a folder holds no CIF at any depth."""
    out = []
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted(f for f in p.rglob("*") if f.suffix.lower() == ".cif" and f.is_file())
            if not found:
                raise InputError(f"{p}: no *.cif file in this folder or below it")
            out.extend(found)
        else:
            out.append(p)
    return out


def entries_from_files(files: list[Path]) -> tuple[list[Entry], list[tuple[str, str]]]:
    """Entries (target unknown) for CIF files; unreadable files become failures (id, message)."""
    entries, failures = [], []
    for f in files:
        try:
            text = f.read_text(errors="replace")
        except OSError as exc:
            failures.append((f.stem, f"{f}: cannot read file ({exc.strerror})"))
            continue
        entries.append(Entry(id=f.stem, target=float("nan"), cif=text, source=str(f), meta={"path": str(f)}))
    return entries, failures


def graphs_for_files(paths, settings, cache_dir=None, progress: bool = True):
    """Graphs of the CIF files / folders in ``paths``: (good entries, their graphs, failures (id, message))."""
    entries, failures = entries_from_files(collect_cifs(paths))
    built = build_graphs(entries, settings, cache_dir, require_target=False, progress=progress)
    return built.entries, built.graphs, failures + built.failures


def report_failures(failures, out_csv=None, stream=None) -> None:
    """Print skipped inputs (first 10) to stderr and, with ``out_csv``, list them all in a CSV."""
    import sys
    if not failures:
        return
    if out_csv:
        write_problems(out_csv, failures)
    where = f", listed in {out_csv}" if out_csv else ""
    print(f"skipped {len(failures)} bad input(s){where}:", file=stream or sys.stderr)
    for _, msg in failures[:10]:
        print(f"  {msg}", file=stream or sys.stderr)


@dataclass
class Predictions:
    """Predicted values per good entry, optional per-atom attention, and the skipped entries."""

    ids: list[str]
    paths: list[str]
    values: list[float]
    stds: list[float] | None = None  # ensemble standard deviation per entry (None for a single model)
    atoms: list[dict] = field(default_factory=list)  # per-atom attention rows (aecgcnn.explain) when requested
    failures: list[tuple[str, str]] = field(default_factory=list)


@torch.no_grad()
def predict_files(model, meta: dict, paths, with_attention: bool = False, batch_size: int = 32,
                  device="cpu", cache_dir=None, progress: bool = True, precision: str | None = None) -> Predictions:
    """Predict the target of every CIF in ``paths`` (files or folders) with a loaded model
    (see :func:`aecgcnn.checkpoint.load_checkpoint`); bad files end up in ``failures``. ``precision``: of the
    per-edge GEMMs (``fp32`` | ``bf16``; None: as the model was trained)."""
    entries, graphs, failures = graphs_for_files(paths, meta["graph_settings"], cache_dir, progress)
    ds = GraphDataset(graphs, None, [e.id for e in entries])
    paths = {e.id: e.meta.get("path", e.source) for e in entries}
    model.eval().to(device)
    out = Predictions([], [], [], failures=failures)
    ensemble = hasattr(model, "predict_with_std")
    if with_attention and ensemble:
        raise InputError("per-atom attention needs one model: pass a member's checkpoint (ENSEMBLE/seed0)")
    if with_attention:  # one crystal at a time: the per-atom table of aecgcnn.explain (pooling and neighbour weights)
        from aecgcnn.explain import explain_graphs
        atoms, extra = explain_graphs(model.cpu(), graphs, [e.id for e in entries])
        out.ids = [e.id for e in entries]
        out.values = [extra["prediction"][i] for i in out.ids]
        out.paths = [paths[i] for i in out.ids]
        out.atoms = atoms.to_dict("records")
        return out
    out.stds = [] if ensemble else None
    # compiled kernels only where the job repays compiling them
    with compile_for_job(len(graphs)), edge_precision(precision or trained_edge_precision(meta)):
        for batch in make_loader(ds, batch_size, device=device):
            values, stds = predict_values(model, batch.to(device))
            out.values.extend(values)
            if stds is not None:
                out.stds.extend(stds)
            out.ids.extend(batch.ids)
            out.paths.extend(paths[i] for i in batch.ids)
    return out
