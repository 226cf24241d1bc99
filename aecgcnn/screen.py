"""Screening large CIF collections: stream CIFs from folders and archives, build graphs in worker processes,
predict in batches, write every result as it comes, rank at the end.

Memory stays bounded by one window of structures (``window``) whatever the size of the collection; rows are
appended to ``<out>.rows.csv`` after every batch, so a crash loses at most one batch and a rerun of the same
command skips the structures already done and finishes the ranking. Bad files are skipped with a reason.
"""
from __future__ import annotations

import csv
import io
import itertools
import os
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import torch
from tqdm.auto import tqdm

from aecgcnn.errors import InputError
from aecgcnn.data.batch import GraphDataset, make_loader
from aecgcnn.data.cache import crash_message, safe_graph, timeout_message, write_problems
from aecgcnn.config import DOMAIN_MODES, GRAPH_TIME_LIMIT, MAX_CIF_BYTES, PREDICT_BATCH_SIZE
from aecgcnn.data.workers import map_limited
from aecgcnn.ensemble import predict_values
from aecgcnn.baselines.descriptor_model import DescriptorModel
from aecgcnn.checkpoint import trained_edge_precision
from aecgcnn.domain import COLUMNS as DOMAIN_COLUMNS, DISTANCE, INSIDE, RANGE, UNSEEN, capture_embeddings, domain_columns, has_domain
from aecgcnn.models.fused import compile_for_job, edge_precision

ARCHIVES = (".tar", ".tar.gz", ".tgz", ".tar.xz", ".txz", ".tar.bz2", ".zip")
ROW_FIELDS = ["origin", "id", "prediction", "std", "atoms", *DOMAIN_COLUMNS, "problem"]
#: the journal's columns before the applicability domain (such journals are read and rewritten with empty domain
#: columns)
ROW_FIELDS_V1 = ["origin", "id", "prediction", "std", "atoms", "problem"]


def iter_cifs(sources, max_bytes: int = MAX_CIF_BYTES) -> Iterator[tuple[str, str, str | None, str | None]]:
    """(origin, id, CIF text, None), or (origin, id, None, the reason) for a file that cannot be read or is larger
    than ``max_bytes``, for every ``*.cif`` in the sources: CIF files, folders (recursively, sorted),
    .tar/.tar.gz/.tar.xz/.tar.bz2 and .zip archives (streamed: members are read one at a time, never more than
    ``max_bytes`` of one). ``origin`` is unique (the path, or ``archive:member``); ``id`` is the file stem."""
    too_big = lambda origin, size: (f"{origin}: {size / 2**20:.1f} MiB, larger than the {max_bytes / 2**20:.0f} MiB "  # noqa: E731
                                    "a CIF may have here (max_bytes)")
    for src in map(Path, sources):
        if src.is_dir():
            for f in sorted(src.rglob("*.cif")):
                yield (str(f), f.stem, *_read(f, max_bytes, too_big))
        elif src.is_file() and src.name.lower().endswith(".zip"):
            with zipfile.ZipFile(src) as zf:
                for info in sorted((i for i in zf.infolist() if i.filename.lower().endswith(".cif")),
                                   key=lambda i: i.filename):
                    origin, cid = f"{src}:{info.filename}", Path(info.filename).stem
                    if info.file_size > max_bytes:
                        yield origin, cid, None, too_big(origin, info.file_size)
                        continue
                    with zf.open(info) as fh:  # the header's size is the member's word: read no more than allowed
                        data = fh.read(max_bytes + 1)
                    yield (origin, cid, None, too_big(origin, len(data))) if len(data) > max_bytes else \
                        (origin, cid, data.decode(errors="replace"), None)
        elif src.is_file() and src.name.lower().endswith(ARCHIVES):
            with tarfile.open(src, "r|*") as tf:
                for m in tf:
                    if m.isfile() and m.name.lower().endswith(".cif"):
                        origin, cid = f"{src}:{m.name}", Path(m.name).stem
                        if m.size > max_bytes:
                            yield origin, cid, None, too_big(origin, m.size)
                        else:
                            yield origin, cid, tf.extractfile(m).read().decode(errors="replace"), None
        elif src.is_file():
            yield (str(src), src.stem, *_read(src, max_bytes, too_big))
        else:
            raise InputError(f"{src}: no such file or folder (expected CIF files, folders or {', '.join(ARCHIVES)})")


def _read(path: Path, max_bytes: int, too_big) -> tuple[str | None, str | None]:
    try:
        size = path.stat().st_size
        if size > max_bytes:
            return None, too_big(str(path), size)
        return path.read_text(errors="replace"), None
    except OSError as exc:
        return None, f"{path}: cannot read file ({exc.strerror})"


def _build(job):
    origin, cid, text, problem, settings = job
    if text is None:
        return origin, cid, None, problem or f"{origin}: cannot read file"
    graph, err = safe_graph(text, origin, settings)
    return origin, cid, graph, err


def _timed_out(job, seconds):
    return job[0], job[1], None, timeout_message(job[0], seconds)


def _crashed(job, message):
    return job[0], job[1], None, crash_message(job[0], message)


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
    """Origins already written to a rows file (predicted or skipped); the file is repaired first
    (:func:`open_journal`)."""
    return {r["origin"] for r in open_journal(rows_path)}


def open_journal(rows_path: Path) -> list[dict]:
    """The complete rows of a screen's rows file (the journal it resumes from), after making the file valid: a
    missing or empty file gets the header; a file without a header (written by an older version), a last line cut
    by a kill, or a line with the wrong number of fields is repaired by rewriting the good rows under the header
    (atomically: written beside and renamed). So a screen killed at any instant resumes."""
    rows_path = Path(rows_path)
    text = rows_path.read_text(errors="replace") if rows_path.exists() else ""
    complete = text[:text.rfind("\n") + 1]  # a last line without its newline was cut mid-write
    records = list(csv.reader(io.StringIO(complete)))
    header = records[0] if records and records[0] in (ROW_FIELDS, ROW_FIELDS_V1) else None
    body = records[1:] if header else records
    layouts = {len(f): f for f in ([header] if header else [ROW_FIELDS, ROW_FIELDS_V1])}  # headerless: by width
    rows = [{**dict.fromkeys(ROW_FIELDS, ""), **dict(zip(layouts[len(r)], r))} for r in body if len(r) in layouts]
    if header != ROW_FIELDS or complete != text or len(rows) != len(body):
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=ROW_FIELDS)
        w.writeheader()
        w.writerows(rows)
        tmp = rows_path.with_name(rows_path.name + f".{os.getpid()}.tmp")
        with open(tmp, "w", newline="") as fh:
            fh.write(buf.getvalue())
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, rows_path)
    return rows


def screen(model, meta: dict, sources, out, batch_size: int = PREDICT_BATCH_SIZE, workers: int | None = None, window: int = 512,
           descending: bool = True, device="cpu", progress: bool = True, precision: str | None = None,
           time_limit: float | None = GRAPH_TIME_LIMIT, max_bytes: int = MAX_CIF_BYTES,
           domain: str = DOMAIN_MODES[0]) -> ScreenResult:
    """Predict every CIF of ``sources`` with a loaded model or ensemble (see :func:`aecgcnn.checkpoint.load_checkpoint`)
    and write ``out`` (CSV ranked by prediction, with ensemble σ) plus ``<out>.rows.csv`` (written as it goes;
    the resume point) and ``<out stem>_skipped.csv``. ``workers``: graph-building processes (default: the CPU
    count); ``window``: structures in flight at once (bounds memory); ``precision``: of the per-edge GEMMs
    (``fp32`` | ``bf16``; None: as the model was trained); ``time_limit``: seconds one structure's graph may take
    before it is skipped with that reason; ``max_bytes``: the largest CIF read (:data:`aecgcnn.config.MAX_CIF_BYTES`).
    A model carrying an applicability domain (:mod:`aecgcnn.domain`) adds its columns; ``domain``: what the ranking
    does with structures outside it (:data:`aecgcnn.config.DOMAIN_MODES`)."""
    if domain not in DOMAIN_MODES:
        raise InputError(f"domain={domain!r}: one of {', '.join(DOMAIN_MODES)}")
    if domain != DOMAIN_MODES[0] and not has_domain(model):
        raise InputError(f"--domain {domain}: this model carries no applicability domain (add one with "
                         "`aecgcnn domain CHECKPOINT`)")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    rows_path = out.with_name(out.name + ".rows.csv")
    done = done_origins(rows_path)
    settings = meta["graph_settings"]
    if isinstance(model, torch.nn.Module):  # a network (a descriptor model runs Zeo++ per structure instead)
        model.eval().to(device)
    workers = workers or os.cpu_count() or 1
    n_pred = n_skip = 0
    todo = ((o, i, t, why, settings) for o, i, t, why in iter_cifs(sources, max_bytes) if o not in done)
    bar = tqdm(desc="screening", unit="CIF", disable=not progress)
    # a streamed collection of unknown size: the chunk kernels compile from the first call (fused.compile_for_job)
    with (open(rows_path, "a", newline="") as fh, compile_for_job(None),
          edge_precision(precision or trained_edge_precision(meta))):
        w = csv.DictWriter(fh, fieldnames=ROW_FIELDS)
        while True:
            jobs = list(itertools.islice(todo, window))
            if not jobs:
                break
            pending = []
            texts = {job[0]: job[2] for job in jobs}  # a descriptor model hands Zeo++ the CIF as given
            for origin, cid, graph, err in map_limited(_build, jobs, workers, time_limit, _timed_out, _crashed):
                if err:
                    w.writerow({"origin": origin, "id": cid, "problem": " ".join(err.split())})  # one line
                    n_skip += 1
                    bar.update()
                    continue
                pending.append((origin, cid, graph))
                if len(pending) == batch_size:
                    done_now = _predict_rows(model, pending, w, device, workers, texts)
                    n_pred, n_skip = n_pred + done_now, n_skip + len(pending) - done_now
                    bar.update(len(pending))
                    pending = []
                    fh.flush()
            if pending:
                done_now = _predict_rows(model, pending, w, device, workers, texts)
                n_pred, n_skip = n_pred + done_now, n_skip + len(pending) - done_now
                bar.update(len(pending))
            fh.flush()
    bar.close()
    skipped = _rank(rows_path, out, descending, meta, domain)
    return ScreenResult(len(done), n_pred, n_skip, out, rows_path, skipped)


@torch.no_grad()
def _predict_rows(model, items, writer, device, workers: int = 1, texts: dict | None = None) -> int:
    """Predict a batch of (origin, id, graph) and write a row each → how many were predicted (a descriptor model
    writes a problem row for a structure Zeo++ cannot measure)."""
    if isinstance(model, DescriptorModel):
        values, problems = model.predict_graphs([g for _, _, g in items], workers,
                                                [(texts or {}).get(o) for o, _, _ in items])
        for (origin, cid, g), v, why in zip(items, values, problems):
            writer.writerow({"origin": origin, "id": cid, "atoms": g.num_atoms,
                             **({"problem": f"{origin}: {why}"} if why else {"prediction": v})})
        return sum(not why for why in problems)
    ds = GraphDataset([g for _, _, g in items], None, [o for o, _, _ in items])
    domain = has_domain(model)
    with capture_embeddings(model, enabled=domain) as captured:
        mean, std = predict_values(model, next(iter(make_loader(ds, len(items)))).to(device))
    dom = domain_columns(model, captured.rows(), ds.graphs) if domain else {}
    for k, ((origin, cid, g), m) in enumerate(zip(items, mean)):
        writer.writerow({"origin": origin, "id": cid, "prediction": m, "std": "" if std is None else std[k],
                         "atoms": g.num_atoms, **{c: v[k] for c, v in dom.items()}})
    return len(items)


def _rank(rows_path: Path, out: Path, descending: bool, meta: dict, domain: str = DOMAIN_MODES[0]) -> Path | None:
    """Write the ranked table from the rows file (``domain``: :data:`aecgcnn.config.DOMAIN_MODES`); the skipped rows go to
    ``<out stem>_skipped.csv``."""
    with open(rows_path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    good = [r for r in rows if not r["problem"]]
    good.sort(key=lambda r: float(r["prediction"]), reverse=descending)
    outside = lambda r: r.get(INSIDE) == "False"  # noqa: E731  ('' : no domain, or a row from before domains)
    if domain == "last":
        good.sort(key=outside)  # stable: each group keeps its ranking
    elif domain == "drop":
        dropped = [r for r in good if outside(r)]
        good = [r for r in good if not outside(r)]
        write_problems(out.with_name(out.stem + "_outside_domain.csv"),
                       [(r["origin"], f"outside the model's domain: distance {float(r[DISTANCE]):.2f} (≤ 1 inside)"
                         + (f", elements never seen in training: {r[UNSEEN]}" if r[UNSEEN] else "")
                         + (f", beyond the training range: {r[RANGE]}" if r[RANGE] else ""))
                        for r in dropped])
    units = meta.get("units", "")
    with open(out, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["rank", "id", f"prediction ({meta.get('target', 'target')}, {units})", f"std ({units})",
                    "atoms", *DOMAIN_COLUMNS, "origin"])
        for k, r in enumerate(good, 1):
            w.writerow([k, r["id"], r["prediction"], r["std"], r["atoms"], *(r[c] for c in DOMAIN_COLUMNS), r["origin"]])
    bad = [(r["origin"], r["problem"]) for r in rows if r["problem"]]
    return write_problems(out.with_name(out.stem + "_skipped.csv"), bad) if bad else None


def top_structures(ranked: Path, sources, k: int, settings) -> tuple[list[str], list]:
    """(ids, graphs) of the first ``k`` rows of a ranked table, rebuilt from the sources (one more pass)."""
    with open(ranked, newline="") as fh:
        wanted = [r["origin"] for r, _ in zip(csv.DictReader(fh), range(k))]
    found = {}
    for origin, cid, text, _ in iter_cifs(sources):
        if origin in wanted and text is not None:
            graph, _ = safe_graph(text, origin, settings)
            if graph is not None:
                found[origin] = (cid, graph)
        if len(found) == len(wanted):
            break
    pairs = [found[o] for o in wanted if o in found]
    return [c for c, _ in pairs], [g for _, g in pairs]
