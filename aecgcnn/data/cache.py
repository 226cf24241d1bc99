"""On-disk graph cache and the parallel bulk builder.

Graphs are cached one file per structure at ``<cache>/<settings-key>/<h[:2]>/<h>.npz`` where ``h`` is the
SHA-1 of the CIF text, so a cache entry is valid for any dataset holding the same file and is invalidated
by any change of the graph settings or of the file. Bulk builds run in a process pool with a progress bar,
skip bad entries and report them (count on stdout, one row per entry in a CSV report).
"""
from __future__ import annotations

import csv
import hashlib
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

from tqdm.auto import tqdm

from aecgcnn.errors import InputError
from aecgcnn.paths import user_cache_root
from aecgcnn.cif import parse_cif
from aecgcnn.data.datasets import Entry
from aecgcnn.config import GRAPH_TIME_LIMIT
from aecgcnn.data.workers import map_limited
from aecgcnn.graph import CrystalGraph, GraphSettings, build_graph

CACHE_ENV_VAR = "AECGCNN_CACHE"


def default_cache_dir() -> Path:
    """``$AECGCNN_CACHE``, else ``graphs/`` in the user's cache (``~/.cache/aecgcnn/graphs``)."""
    return Path(os.environ.get(CACHE_ENV_VAR) or user_cache_root() / "graphs")


def content_hash(text: str) -> str:
    """SHA-1 hex digest of a CIF text (the cache key together with the settings)."""
    return hashlib.sha1(text.encode("utf-8", errors="replace")).hexdigest()


class GraphCache:
    """Per-structure ``.npz`` cache for one :class:`GraphSettings`."""

    def __init__(self, root: str | Path | None, settings: GraphSettings):
        self.settings = settings
        self.root = Path(root or default_cache_dir()) / settings.key()

    def path(self, key: str) -> Path:
        """Where the graph of a CIF with digest ``key`` is cached (two-character fan-out folders)."""
        return self.root / key[:2] / f"{key}.npz"

    def get(self, key: str) -> CrystalGraph | None:
        """The cached graph, or None when absent (an unreadable file is deleted and counts as absent)."""
        p = self.path(key)
        if not p.exists():
            return None
        try:
            return CrystalGraph.load(p)
        except Exception:  # a truncated file from an interrupted run: rebuild it
            p.unlink(missing_ok=True)
            return None

    def put(self, key: str, graph: CrystalGraph) -> None:
        """Store a graph atomically (written to a temporary file, then renamed): a reader never sees half a file."""
        p = self.path(key)
        p.parent.mkdir(parents=True, exist_ok=True)
        tmp = p.with_name(p.stem + f".{os.getpid()}.tmp.npz")
        graph.save(tmp)
        tmp.replace(p)

    def size_bytes(self) -> int:
        """Bytes the cache of these settings holds on disk."""
        return sum(f.stat().st_size for f in self.root.rglob("*.npz")) if self.root.exists() else 0


def graph_from_cif(text: str, source: str, settings: GraphSettings) -> CrystalGraph:
    """Parse a CIF text and build its graph (raises InputError naming ``source``)."""
    parsed = parse_cif(text, source)
    return build_graph(parsed.structure, settings.cutoff, settings.max_neighbors, parsed.charges, source)


def safe_graph(text: str, source: str, settings: GraphSettings) -> tuple[CrystalGraph | None, str | None]:
    """(graph, None), or (None, a message naming ``source`` and the problem): never raises, so that one bad file
    cannot kill a bulk job."""
    return _safely(lambda: graph_from_cif(text, source, settings), source)


def safe_structure_graph(structure, charges, source: str, settings: GraphSettings):
    """:func:`safe_graph` of a pymatgen Structure (``charges``: per site, or None)."""
    return _safely(lambda: build_graph(structure, settings.cutoff, settings.max_neighbors, charges, source), source)


def _safely(build, source: str):
    try:
        return build(), None
    except InputError as exc:
        return None, str(exc)
    except Exception as exc:  # noqa: BLE001
        return None, crash_message(source, f"{type(exc).__name__}: {exc}")


def crash_message(source: str, message: str) -> str:
    """The skip reason of a structure whose graph building failed unexpectedly (an exception, a dead worker)."""
    return f"{source}: unexpected error while building the graph ({message})"


def _build_one(args):
    key, text, source, settings, cache_root = args
    graph, err = safe_graph(text, source, settings)
    if graph is not None:
        GraphCache(cache_root, settings).put(key, graph)
    return key, graph, err


def _timed_out(job, seconds):
    """The failure of a :func:`_build_one` job stopped at its time limit."""
    return job[0], None, timeout_message(job[2], seconds)


def _crashed(job, message):
    """The failure of a :func:`_build_one` job whose worker died or raised."""
    return job[0], None, crash_message(job[2], message)


def timeout_message(source: str, seconds: float) -> str:
    """The skip reason of a structure whose graph took longer than ``seconds``."""
    return (f"{source}: building the graph took longer than {seconds:g} s (time limit per structure); skipped: "
            "a degenerate or very large cell?")


@dataclass
class BuildResult:
    """Graphs of the good entries (same order as ``entries``) and the report of the bad ones."""

    entries: list[Entry]
    graphs: list[CrystalGraph]
    failures: list[tuple[str, str]] = field(default_factory=list)  # (entry id, message)
    n_cached: int = 0
    n_built: int = 0
    report_path: Path | None = None

    def summary(self) -> str:
        """One line: graphs read from the cache and built, entries skipped, where the report of those lies."""
        s = (f"{len(self.graphs)} graphs ({self.n_cached} read from cache, {self.n_built} built), "
             f"{len(self.failures)} entries skipped")
        if self.report_path:
            s += f" (see {self.report_path})"
        return s


def build_graphs(entries: list[Entry], settings: GraphSettings | None = None, cache_dir=None,
                 workers: int | None = None, require_target: bool = True, report_path=None,
                 progress: bool = True, verbose: bool = True,
                 time_limit: float | None = GRAPH_TIME_LIMIT) -> BuildResult:
    """Build (or read from the cache) the graphs of many entries.

    Bad entries (no CIF, unparsable, disordered, degenerate cell, coincident or isolated atoms, NaN/missing label
    when ``require_target``, a graph taking longer than ``time_limit`` seconds) are skipped and reported; the
    returned ``entries`` are the good ones. Graphs are built in ``workers`` processes (:func:`map_limited`).
    """
    settings = settings or GraphSettings()
    cache = GraphCache(cache_dir, settings)
    failures: list[tuple[str, str]] = []
    keys: dict[int, str] = {}
    graphs: dict[str, CrystalGraph] = {}
    todo = {}
    for i, e in enumerate(entries):
        if require_target and (e.target is None or math.isnan(e.target)):
            failures.append((e.id, f"{e.source}: label is NaN or missing"))
            continue
        if e.cif is None:
            failures.append((e.id, f"{e.source}: no CIF found for this entry"))
            continue
        k = content_hash(e.cif)
        keys[i] = k
        if k in graphs or k in todo:
            continue
        g = cache.get(k)
        if g is not None:
            graphs[k] = g
        else:
            todo[k] = (k, e.cif, e.source, settings, cache.root.parent)
    n_cached = len(graphs)
    errors: dict[str, str] = {}
    if todo:
        workers = workers or max(1, min(len(todo) // 50 + 1, os.cpu_count() or 1))
        jobs = list(todo.values())
        bar = tqdm(total=len(jobs), desc="building graphs", unit="crystal", disable=not progress)
        for k, g, err in map_limited(_build_one, jobs, workers, time_limit, _timed_out, _crashed):
            if err:
                errors[k] = err
            else:
                graphs[k] = g
            bar.update()
        bar.close()
    good_entries, good_graphs = [], []
    for i, e in enumerate(entries):
        k = keys.get(i)
        if k is None:
            continue
        if k in errors:
            failures.append((e.id, errors[k]))
        else:
            good_entries.append(e)
            good_graphs.append(graphs[k])
    result = BuildResult(good_entries, good_graphs, failures, n_cached, len(todo) - len(errors))
    if failures and report_path is not None:
        result.report_path = write_problems(report_path, failures)
    if verbose:
        where = f"cache {cache.root}"
        print(f"[aecgcnn] {result.summary()}; {where}")
    return result


def write_problems(path, problems) -> Path:
    """Write skipped inputs as a CSV with columns ``id,problem`` (problems: (id, message) pairs) → its path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "problem"])
        w.writerows(problems)
    return path
