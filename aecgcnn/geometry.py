"""Pore geometry of any CIF with Zeo++ (through ``pyzeo``), as the CoRE-2019 table reports it.

Columns (Zeo++'s names, CoRE-2019's units): ``Di`` (diameter of the largest included sphere, Å), ``Df`` (largest
free sphere, Å), ``Dif`` (largest included sphere along the free-sphere path, Å), ``ASA [m^2/cm^3]`` / ``NASA
[m^2/cm^3]`` (accessible / non-accessible surface area per volume, probe :data:`aecgcnn.config.PROBE_RADIUS`),
``AVF`` / ``NAVF`` (accessible / non-accessible volume fractions of Zeo++'s ``-vol``, the same probe), ``AV
[cm^3/g]`` / ``NAV [cm^3/g]`` (the same per mass), ``density [g/cm^3]``, ``CellV [A^3]``. The CoRE-2019 table's pore volumes (POAV,
PONAV) are Zeo++'s probe-occupiable volumes (``-volpo``), which ``pyzeo`` does not expose: they are not computed.

Zeo++ runs in worker processes (:func:`aecgcnn.data.workers.map_limited`): it prints to the C-level standard output
(silenced there), may abort the process on a degenerate input, and may run long on a huge cell, so each structure has
a time limit and a crash or a time-out becomes that file's reason, never a dead or hung job.
"""
from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path

import pandas as pd

from aecgcnn.cif import read_cif
from aecgcnn.config import CUTOFF, GRAPH_TIME_LIMIT, PROBE_RADIUS
from aecgcnn.data.cache import content_hash, default_cache_dir
from aecgcnn.data.workers import map_limited
from aecgcnn.errors import InputError
from aecgcnn.graph import build_graph
from aecgcnn.predict import collect_cifs

#: Monte Carlo samples per atom (surface area) and per unit cell (volume)
SA_SAMPLES, VOLUME_SAMPLES = 2000, 50000
COLUMNS = ("Di", "Df", "Dif", "ASA [m^2/cm^3]", "NASA [m^2/cm^3]", "AVF", "NAVF", "AV [cm^3/g]", "NAV [cm^3/g]",
           "density [g/cm^3]", "CellV [A^3]")


def _fields(text: bytes | str) -> dict[str, float]:
    """``key: value`` pairs of a Zeo++ result line (``ASA_m^2/cm^3: 915.399`` ...) as floats."""
    text = text.decode() if isinstance(text, bytes) else text
    out = {}
    for key, value in re.findall(r"(\S+):\s+(\S+)", text.split("\n")[0]):
        try:
            out[key] = float(value)
        except ValueError:  # a word, not a number (the file name)
            continue
    return out


def zeo_geometry(path: str, probe: float = PROBE_RADIUS) -> dict[str, float]:
    """The :data:`COLUMNS` of one CIF file by Zeo++ (in this process: call it through :func:`pore_geometry`, which
    isolates it). Zeo++'s default atomic radii and masses."""
    from pyzeo.area_volume import surface_area, volume  # the Zeo++ extension: loaded in the worker that runs it
    from pyzeo.netstorage import AtomNetwork
    devnull, saved = os.open(os.devnull, os.O_WRONLY), os.dup(1)
    os.dup2(devnull, 1)  # Zeo++ reports its progress on the C standard output
    try:
        net = AtomNetwork.read_from_CIF(str(path), True, None, True)
        with tempfile.TemporaryDirectory() as tmp:
            res = Path(tmp) / "x.res"
            net.calculate_free_sphere_parameters(str(res))
            di, df, dif = (float(x) for x in res.read_text().split()[1:4])
        sa = _fields(surface_area(net, probe, probe, SA_SAMPLES))
        vol = _fields(volume(net, probe, probe, VOLUME_SAMPLES))
    finally:
        os.dup2(saved, 1)
        os.close(devnull)
        os.close(saved)
    density = sa.get("Density", float("nan"))
    return {"Di": di, "Df": df, "Dif": dif, "ASA [m^2/cm^3]": sa["ASA_m^2/cm^3"], "NASA [m^2/cm^3]": sa["NASA_m^2/cm^3"],
            "AVF": vol["AV_Volume_fraction"], "NAVF": vol["NAV_Volume_fraction"],
            "AV [cm^3/g]": vol["AV_Volume_fraction"] / density if density > 0 else float("nan"),
            "NAV [cm^3/g]": vol["NAV_Volume_fraction"] / density if density > 0 else float("nan"),
            "density [g/cm^3]": density, "CellV [A^3]": sa["Unitcell_volume"]}


def _job(args):
    path, probe = args
    try:  # our checks first: a clear reason instead of a Zeo++ crash on a file that cannot be a crystal
        parsed = read_cif(path)
        build_graph(parsed.structure, CUTOFF, charges=parsed.charges, source=str(path))  # every check of a graph
    except InputError as exc:
        return str(path), None, str(exc)
    return str(path), zeo_geometry(path, probe), None


def geometry_cache_dir(probe: float = PROBE_RADIUS, cache_dir=None) -> Path:
    """Where computed geometry is cached: beside the graphs (``<graph cache>/zeo-<key>``), keyed by the probe radius,
    the Monte Carlo sample counts and the Zeo++ bindings' version, one JSON file per CIF content."""
    import hashlib
    from importlib.metadata import PackageNotFoundError, version
    try:
        zeo = version("pyzeo")
    except PackageNotFoundError:
        zeo = "?"
    key = hashlib.sha1(f"{probe}|{SA_SAMPLES}|{VOLUME_SAMPLES}|{zeo}".encode()).hexdigest()[:12]
    return Path(cache_dir or default_cache_dir()) / f"zeo-{key}"


def pore_geometry(paths, workers: int = 1, time_limit: float | None = GRAPH_TIME_LIMIT,
                  probe: float = PROBE_RADIUS, cache_dir=None, use_cache: bool = True) -> pd.DataFrame:
    """Zeo++ geometry of CIF files and folders (every ``*.cif`` below): a DataFrame with ``id``, ``path``, the
    :data:`COLUMNS` and ``problem`` (empty, or why that file has no values: unreadable by Zeo++, a crash, past
    ``time_limit`` seconds). ``workers`` processes run Zeo++ side by side. Results are cached by file content
    (:func:`geometry_cache_dir`; ``cache_dir``: the graph cache's folder, default ``$AECGCNN_CACHE``); failures are
    not cached."""
    files = collect_cifs(paths)
    if not files:
        raise InputError(f"{paths}: no CIF file")
    timed_out = lambda job, s: (str(job[0]), None, f"{job[0]}: Zeo++ took longer than {s:g} s")  # noqa: E731
    failed = lambda job, msg: (str(job[0]), None, f"{job[0]}: Zeo++ failed ({msg})")  # noqa: E731
    cache = geometry_cache_dir(probe, cache_dir) if use_cache else None
    keys, rows = {}, {}
    for f in files:
        try:
            keys[str(f)] = content_hash(f.read_bytes().decode("utf-8", errors="replace"))
        except OSError:
            continue  # unreadable: the job reports it
        hit = cache / f"{keys[str(f)]}.json" if cache else None
        if hit is not None and hit.is_file():
            rows[str(f)] = {**json.loads(hit.read_text()), "problem": ""}
    todo = [(f, probe) for f in files if str(f) not in rows]
    for path, values, problem in map_limited(_job, todo, workers, time_limit, timed_out, failed):
        rows[path] = {**(values or {c: float("nan") for c in COLUMNS}), "problem": problem or ""}
        if cache is not None and values and path in keys:
            cache.mkdir(parents=True, exist_ok=True)
            tmp = cache / f"{keys[path]}.{os.getpid()}.tmp"
            tmp.write_text(json.dumps(values))
            os.replace(tmp, cache / f"{keys[path]}.json")
    return pd.DataFrame([{"id": f.stem, "path": str(f), **rows[str(f)]} for f in files])
