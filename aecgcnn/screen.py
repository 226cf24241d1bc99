"""Screening large CIF collections: stream CIFs from folders and archives, build graphs in worker processes,
predict in batches, write every result as it comes, rank at the end.

Memory stays bounded by one window of structures (``window``) whatever the size of the collection; rows are
appended to ``<out>.rows.csv`` after every batch, so a crash loses at most one batch and a rerun of the same
command skips the structures already done and finishes the ranking. Bad files are skipped with a reason.
"""
from __future__ import annotations

import csv
import itertools
import multiprocessing as mp
import os
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import torch
from tqdm.auto import tqdm

from aecgcnn import InputError
from aecgcnn.data.batch import GraphDataset, make_loader
from aecgcnn.data.cache import safe_graph, write_problems
from aecgcnn.ensemble import predict_values
from aecgcnn.checkpoint import trained_edge_precision
from aecgcnn.models.fused import compile_for_job, edge_precision

ARCHIVES = (".tar", ".tar.gz", ".tgz", ".tar.xz", ".txz", ".tar.bz2", ".zip")
ROW_FIELDS = ["origin", "id", "prediction", "std", "atoms", "problem"]


def iter_cifs(sources) -> Iterator[tuple[str, str, str | None]]:
    """(origin, id, CIF text or None when unreadable) for every ``*.cif`` in the sources: CIF files, folders
    (recursively, sorted), .tar/.tar.gz/.tar.xz/.tar.bz2 and .zip archives (streamed: members are read one at a
    time). ``origin`` is unique (the path, or ``archive:member``); ``id`` is the file stem."""
    for src in map(Path, sources):
        if src.is_dir():
            for f in sorted(src.rglob("*.cif")):
                yield str(f), f.stem, _read(f)
        elif src.is_file() and src.name.lower().endswith(".zip"):
            with zipfile.ZipFile(src) as zf:
                for name in sorted(n for n in zf.namelist() if n.lower().endswith(".cif")):
                    yield f"{src}:{name}", Path(name).stem, zf.read(name).decode(errors="replace")
        elif src.is_file() and src.name.lower().endswith(ARCHIVES):
            with tarfile.open(src, "r|*") as tf:
                for m in tf:
                    if m.isfile() and m.name.lower().endswith(".cif"):
                        yield f"{src}:{m.name}", Path(m.name).stem, tf.extractfile(m).read().decode(errors="replace")
        elif src.is_file():
            yield str(src), src.stem, _read(src)
        else:
            raise InputError(f"{src}: no such file or folder (expected CIF files, folders or {', '.join(ARCHIVES)})")


def _read(path: Path) -> str | None:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return None


def _build(job):
    origin, cid, text, settings = job
    if text is None:
        return origin, cid, None, f"{origin}: cannot read file"
    graph, err = safe_graph(text, origin, settings)
    return origin, cid, graph, err


@dataclass
class ScreenResult:
    """Counts of one screening call and where its files are."""

    n_done_before: int
    n_predicted: int
    n_skipped: int
    ranked: Path
    rows: Path
    skipped: Path | None


def done_origins(rows_path: Path) -> set[str]:
    """Origins already written to a rows file (predicted or skipped)."""
    if not rows_path.exists():
        return set()
    with open(rows_path, newline="") as fh:
        return {r["origin"] for r in csv.DictReader(fh)}


def screen(model, meta: dict, sources, out, batch_size: int = 32, workers: int | None = None, window: int = 512,
           descending: bool = True, device="cpu", progress: bool = True, precision: str | None = None) -> ScreenResult:
    """Predict every CIF of ``sources`` with a loaded model or ensemble (see :func:`aecgcnn.checkpoint.load_checkpoint`)
    and write ``out`` (CSV ranked by prediction, with ensemble σ) plus ``<out>.rows.csv`` (written as it goes;
    the resume point) and ``<out stem>_skipped.csv``. ``workers``: graph-building processes (default: the CPU
    count); ``window``: structures in flight at once (bounds memory); ``precision``: of the per-edge GEMMs
    (``fp32`` | ``bf16``; None: as the model was trained)."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    rows_path = out.with_name(out.name + ".rows.csv")
    done = done_origins(rows_path)
    settings = meta["graph_settings"]
    model.eval().to(device)
    workers = workers or os.cpu_count() or 1
    fresh = not rows_path.exists()
    n_pred = n_skip = 0
    todo = ((o, i, t, settings) for o, i, t in iter_cifs(sources) if o not in done)
    bar = tqdm(desc="screening", unit="CIF", disable=not progress)
    ctx = mp.get_context("fork") if hasattr(os, "fork") else mp.get_context()
    # a streamed collection of unknown size: the chunk kernels compile from the first call (fused.compile_for_job)
    with (open(rows_path, "a", newline="") as fh, ctx.Pool(workers) as pool, compile_for_job(None),
          edge_precision(precision or trained_edge_precision(meta))):
        w = csv.DictWriter(fh, fieldnames=ROW_FIELDS)
        if fresh:
            w.writeheader()
        while True:
            jobs = list(itertools.islice(todo, window))
            if not jobs:
                break
            pending = []
            for origin, cid, graph, err in pool.imap_unordered(_build, jobs, chunksize=4):
                if err:
                    w.writerow({"origin": origin, "id": cid, "problem": err})
                    n_skip += 1
                    bar.update()
                    continue
                pending.append((origin, cid, graph))
                if len(pending) == batch_size:
                    n_pred += _predict_rows(model, pending, w, device)
                    bar.update(len(pending))
                    pending = []
                    fh.flush()
            if pending:
                n_pred += _predict_rows(model, pending, w, device)
                bar.update(len(pending))
            fh.flush()
    bar.close()
    skipped = _rank(rows_path, out, descending, meta)
    return ScreenResult(len(done), n_pred, n_skip, out, rows_path, skipped)


@torch.no_grad()
def _predict_rows(model, items, writer, device) -> int:
    ds = GraphDataset([g for _, _, g in items], None, [o for o, _, _ in items])
    mean, std = predict_values(model, next(iter(make_loader(ds, len(items)))).to(device))
    for (origin, cid, g), m, s in zip(items, mean, std or [""] * len(items)):
        writer.writerow({"origin": origin, "id": cid, "prediction": m, "std": s, "atoms": g.num_atoms})
    return len(items)


def _rank(rows_path: Path, out: Path, descending: bool, meta: dict) -> Path | None:
    """Write the ranked table from the rows file; the skipped rows go to ``<out stem>_skipped.csv``."""
    with open(rows_path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    good = [r for r in rows if not r["problem"]]
    good.sort(key=lambda r: float(r["prediction"]), reverse=descending)
    units = meta.get("units", "")
    with open(out, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["rank", "id", f"prediction ({meta.get('target', 'target')}, {units})", f"std ({units})",
                    "atoms", "origin"])
        for k, r in enumerate(good, 1):
            w.writerow([k, r["id"], r["prediction"], r["std"], r["atoms"], r["origin"]])
    bad = [(r["origin"], r["problem"]) for r in rows if r["problem"]]
    return write_problems(out.with_name(out.stem + "_skipped.csv"), bad) if bad else None


def top_structures(ranked: Path, sources, k: int, settings) -> tuple[list[str], list]:
    """(ids, graphs) of the first ``k`` rows of a ranked table, rebuilt from the sources (one more pass)."""
    with open(ranked, newline="") as fh:
        wanted = [r["origin"] for r, _ in zip(csv.DictReader(fh), range(k))]
    found = {}
    for origin, cid, text in iter_cifs(sources):
        if origin in wanted and text is not None:
            graph, _ = safe_graph(text, origin, settings)
            if graph is not None:
                found[origin] = (cid, graph)
        if len(found) == len(wanted):
            break
    pairs = [found[o] for o in wanted if o in found]
    return [c for c, _ in pairs], [g for _, g in pairs]
