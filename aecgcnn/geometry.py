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

import os
import re
import tempfile
from pathlib import Path

import pandas as pd

from aecgcnn.cif import read_cif
from aecgcnn.config import CUTOFF, GRAPH_TIME_LIMIT, PROBE_RADIUS
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


def pore_geometry(paths, workers: int = 1, time_limit: float | None = GRAPH_TIME_LIMIT,
                  probe: float = PROBE_RADIUS) -> pd.DataFrame:
    """Zeo++ geometry of CIF files and folders (every ``*.cif`` below): a DataFrame with ``id``, ``path``, the
    :data:`COLUMNS` and ``problem`` (empty, or why that file has no values: unreadable by Zeo++, a crash, past
    ``time_limit`` seconds). ``workers`` processes run Zeo++ side by side."""
    files = collect_cifs(paths)
    if not files:
        raise InputError(f"{paths}: no CIF file")
    timed_out = lambda job, s: (str(job[0]), None, f"{job[0]}: Zeo++ took longer than {s:g} s")  # noqa: E731
    failed = lambda job, msg: (str(job[0]), None, f"{job[0]}: Zeo++ failed ({msg})")  # noqa: E731
    rows = {}
    for path, values, problem in map_limited(_job, [(f, probe) for f in files], workers, time_limit, timed_out,
                                             failed):
        rows[path] = {**(values or {c: float("nan") for c in COLUMNS}), "problem": problem or ""}
    return pd.DataFrame([{"id": f.stem, "path": str(f), **rows[str(f)]} for f in files])
