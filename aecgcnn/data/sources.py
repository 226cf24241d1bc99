"""Public sources of the named datasets, with checksums, and the download command's entry point.

``FILES`` maps each data file to the SHA-256 of the copy our results were measured on, the public upstream
sources it was rebuilt from and their licences. :func:`download` verifies a present copy, or rebuilds a missing one
from its upstream files (:mod:`aecgcnn.data.rebuild`: resumable downloads, SHA-256 of every upstream file, the merge,
the result checked against the manifest); files without an automated rebuild get the exact manual steps.
"""
from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from pathlib import Path




@dataclass(frozen=True)
class SourceFile:
    """One data file: path relative to the data root, SHA-256 of the rebuilt file, upstream provenance
    (text) and the direct URLs of upstream files that can be fetched."""

    path: str
    sha256: str
    upstream: tuple[str, ...]
    licence: str


FILES = {
    "mp/megnet_mp2018_e_form_with_mp2025_cif.jsonl.gz": SourceFile(
        "mp/megnet_mp2018_e_form_with_mp2025_cif.jsonl.gz",
        "615b4fd883f41fe6d82504a43d7503c918d738380a216b1986154b09e585e3b4",
        ("https://github.com/Tinystormjojo/geo-CGNN (database/targets_MEGNet_2018.csv)",
         "https://github.com/usnistgov/jarvis_leaderboard (megnet_e_form split)",
         "https://github.com/fxcoudert/topology_databases (Materials Project 2025.02 CIFs)"),
        "labels: MIT/BSD (MEGNet, GeoCGNN); structures: CC-BY 4.0 (Materials Project)"),
    "mp/matbench_mp_e_form_with_mp2025_cif.jsonl.gz": SourceFile(
        "mp/matbench_mp_e_form_with_mp2025_cif.jsonl.gz",
        "ac326dd2c9fccc8e9e517d77f2f6e3a22016b7c733ef358d7500c99115681808",
        ("https://ml.materialsproject.org/projects/matbench_mp_e_form.json.gz (matbench v0.1)",
         "https://github.com/fxcoudert/topology_databases (Materials Project 2025.02 CIFs)"),
        "matbench: MIT; structures: CC-BY 4.0 (Materials Project)"),
    "mof/CoRE2019_charged_cifs.tar.xz": SourceFile(
        "mof/CoRE2019_charged_cifs.tar.xz",
        "66c53767c4bfb642f2990be682ad3ddbe45edb8ad2bcbbf2f6ca07c10dd9caaf",
        ("https://github.com/tdpham2/MOFSimplify (fork of hjkgrp/MOFSimplify)",
         "CoRE MOF 2019: https://doi.org/10.5281/zenodo.3677685"),
        "MIT (MOFSimplify); CC-BY 4.0 (CoRE MOF 2019)"),
    "mof/core2019_co2_labels_merged.csv": SourceFile(
        "mof/core2019_co2_labels_merged.csv",
        "148ea2578d70726f8a99ea279228dbb64434fcbfa6ecb057ffe2ca84a8b347b3",
        ("https://github.com/zakariyyabrewster/CGCNN_MOF", "https://github.com/AI4ChemS/FABO",
         "Moosavi et al., Nat. Commun. 11, 4068 (2020)"),
        "MIT"),
    "mof/core2019_geometry_16bar.csv": SourceFile(
        "mof/core2019_geometry_16bar.csv",
        "ab968fa92ebf41f3c82cfb6a51059af66593f22a8a99398fa0057636070e9479",
        ("https://github.com/AI4ChemS/FABO",), "MIT"),
    "mof/bwdb_subset_cifs.tar.xz": SourceFile(
        "mof/bwdb_subset_cifs.tar.xz",
        "1370bdd879d53eb7a2816eb84596b7e67d3a86c3163d77762e66a4f3134ce107",
        ("https://github.com/AI4Science-cloud/AI4MOF",), "see upstream repository"),
    "mof/bwdb_boyd2019_labels.csv": SourceFile(
        "mof/bwdb_boyd2019_labels.csv",
        "89aea4d7352262cba5dcd31b85ee97074a8e7300a63a7437e927317798747944",
        ("Boyd et al., Nature 576, 253 (2019), https://doi.org/10.24435/materialscloud:2018.0016/v3",),
        "CC-BY 4.0"),
}

BW20K_RECORD = "https://archive.materialscloud.org/record/2020.67"


def sha256_of(path: Path, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


@functools.lru_cache(maxsize=None)
def _sha256_cached(path: str, size: int, mtime_ns: int) -> str:
    return sha256_of(Path(path))


def file_digests(root, files) -> dict[str, str]:
    """``{file: SHA-256}`` of a dataset's ``files`` (paths relative to the data ``root``), each hashed once per
    process while unchanged; ``{}`` when one is missing or a folder (nothing to pin the data by)."""
    paths = {f: Path(root) / f for f in files}
    if not all(p.is_file() for p in paths.values()):
        return {}
    return {f: _sha256_cached(str(p), p.stat().st_size, p.stat().st_mtime_ns) for f, p in paths.items()}

