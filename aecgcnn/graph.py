"""Periodic crystal graphs with a fixed-width neighbour table (docs/design-notes.md §1).

Each atom keeps its ``max_neighbors`` (12) nearest neighbours within ``cutoff`` (8 Å), periodic
images included, so a pair can appear several times (multigraph). Atoms with fewer neighbours are
padded and masked (``mask`` False); padded slots point at the atom itself with distance = cutoff.
Ties are broken deterministically by (distance rounded to 1e-6 Å, neighbour index, image offset).
The search is one vectorised ``find_points_in_spheres`` call per structure.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from aecgcnn.config import CUTOFF, MAX_FRACTIONAL, MAX_IMAGES, MAX_NEIGHBORS, MIN_DISTANCE, MIN_VOLUME_PER_ATOM
from aecgcnn.errors import InputError

GRAPH_FORMAT_VERSION = 2  # 2: + pw_lattice (the reduced primitive cell, for cell-independent plane waves)


@dataclass(frozen=True)
class GraphSettings:
    """Settings that determine a crystal graph; their hash keys the on-disk cache.

    Attributes:
        cutoff: neighbour search radius in Å.
        max_neighbors: width of the neighbour table (slots per atom).
    """

    cutoff: float = CUTOFF
    max_neighbors: int = MAX_NEIGHBORS
    format_version: int = GRAPH_FORMAT_VERSION

    def key(self) -> str:
        """Short stable hash of the settings."""
        return hashlib.sha1(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:12]

    def to_dict(self) -> dict:
        """The settings as a plain dict (stored with runs and checkpoints)."""
        return asdict(self)


@dataclass
class CrystalGraph:
    """One crystal as a fixed-width neighbour table. n = number of atoms, K = max_neighbors.

    Attributes:
        atomic_numbers: int [n].
        neighbors: long [n, K] neighbour atom index per slot (padded slots: the atom itself).
        distances: float32 [n, K] in Å (padded slots: ``cutoff``).
        mask: bool [n, K], True for real edges.
        offsets: int8 [n, K, 3] periodic image of the neighbour (lattice-vector units).
        vectors: float32 [n, K, 3] Cartesian displacement r_ij = x_j + offset·L − x_i, Å.
        lattice: float32 [3, 3] lattice vectors as rows, Å.
        pw_lattice: float32 [3, 3] Niggli-reduced primitive cell of the crystal in the same Cartesian frame
            (rows, Å): the same for any cell, supercell or setting of one crystal (:func:`reduced_primitive_lattice`).
        charges: float32 [n] partial charges (e) or None.
        positions: float32 [n, 3] Cartesian coordinates, Å.
    """

    atomic_numbers: np.ndarray
    neighbors: np.ndarray
    distances: np.ndarray
    mask: np.ndarray
    offsets: np.ndarray
    vectors: np.ndarray
    lattice: np.ndarray
    positions: np.ndarray
    pw_lattice: np.ndarray | None = None
    charges: np.ndarray | None = None
    meta: dict = field(default_factory=dict)

    @property
    def num_atoms(self) -> int:
        """N, the atoms of the cell."""
        return int(self.atomic_numbers.shape[0])

    _ARRAYS = ("atomic_numbers", "neighbors", "distances", "mask", "offsets", "vectors", "lattice", "positions",
               "pw_lattice")

    def save(self, path: str | Path) -> None:
        """Write the graph as a compressed-free ``.npz`` (fast to load)."""
        arrays = {k: getattr(self, k) for k in self._ARRAYS}
        if self.charges is not None:
            arrays["charges"] = self.charges
        np.savez(path, **arrays)

    @classmethod
    def load(cls, path: str | Path) -> "CrystalGraph":
        """A graph written by :meth:`save`."""
        with np.load(path) as z:
            arrays = {k: z[k] for k in cls._ARRAYS}
            charges = z["charges"] if "charges" in z.files else None
        return cls(**arrays, charges=charges)


def reduced_primitive_lattice(structure, symprec: float = 1e-3) -> np.ndarray:
    """The Niggli-reduced primitive cell of ``structure`` in its own Cartesian frame: float64 [3, 3] (rows, Å).

    The primitive translations are found by spglib (``symprec`` Å); the reduced basis makes the result the
    same for the primitive cell, any supercell and any other setting of the same crystal (up to the
    ordering of equal-length vectors, which Niggli's conventions fix in all but degenerate cases). Falls back
    to the reduced given cell when spglib finds no symmetry dataset."""
    import warnings

    import spglib
    from pymatgen.core import Lattice
    cell = (structure.lattice.matrix, structure.frac_coords, structure.atomic_numbers)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # spglib's notice about its error handling
            ds = spglib.get_symmetry_dataset(cell, symprec=symprec)
    except Exception:  # spglib raises on degenerate input; the given cell is then the best we have
        ds = None
    prim = np.asarray(ds.primitive_lattice, dtype=np.float64) if ds is not None else structure.lattice.matrix
    return Lattice(prim).get_niggli_reduced_lattice().matrix


def check_structure(structure, cutoff: float, source: str = "<structure>") -> None:
    """Raise :class:`InputError` naming ``source`` when ``structure`` cannot give a meaningful graph: no atoms,
    elements outside Z = 1..100 (the atom-feature table), a lattice or coordinates that are not finite, fractional
    coordinates beyond :data:`aecgcnn.config.MAX_FRACTIONAL`, a cell volume below :data:`aecgcnn.config.MIN_VOLUME_PER_ATOM` per atom (coplanar
    lattice vectors), or a cell so thin that the neighbour search within ``cutoff`` (Å) would need more than
    :data:`aecgcnn.config.MAX_IMAGES` periodic images. Runs before the neighbour search, so no such input can stall it."""
    from pymatgen.core import Element
    n = len(structure)
    if n == 0:
        raise InputError(f"{source}: the structure holds no atoms")
    for site in structure:
        for sp in site.species:
            z = getattr(sp, "Z", None) if isinstance(getattr(sp, "element", sp), Element) else None
            if z is None or not 1 <= z <= 100:
                raise InputError(f"{source}: unknown or unsupported element {sp!s} (site {site.label or ''}); "
                                 "elements H to Fm (Z = 1-100) are supported")
    lattice = np.asarray(structure.lattice.matrix, dtype=np.float64)
    if not np.isfinite(lattice).all():
        raise InputError(f"{source}: the lattice is not finite (NaN or infinite cell parameters)")
    frac = np.asarray(structure.frac_coords, dtype=np.float64)
    if not np.isfinite(frac).all():
        bad = int(np.flatnonzero(~np.isfinite(frac).all(axis=1))[0])
        raise InputError(f"{source}: coordinates of atom {bad} ({structure[bad].species_string}) are not finite")
    if np.abs(frac).max() > MAX_FRACTIONAL:
        bad = int(np.argmax(np.abs(frac).max(axis=1)))
        raise InputError(f"{source}: fractional coordinates of atom {bad} ({structure[bad].species_string}) are out of "
                         f"range ({np.abs(frac[bad]).max():.3g}, more than {MAX_FRACTIONAL:g} cells away)")
    volume = abs(float(np.linalg.det(lattice)))
    if volume < MIN_VOLUME_PER_ATOM * n:
        raise InputError(f"{source}: cell volume {volume:.3g} Å³ for {n} atom(s): the lattice vectors are (nearly) "
                         f"coplanar (less than {MIN_VOLUME_PER_ATOM} Å³ per atom)")
    cross = np.linalg.norm(np.cross(lattice[[1, 2, 0]], lattice[[2, 0, 1]]), axis=1)
    spacing = volume / cross  # distance between lattice planes along each axis, Å
    images = float(np.prod(2 * np.ceil(cutoff / spacing) + 1))
    if images > MAX_IMAGES:
        raise InputError(f"{source}: the cell is too thin (lattice-plane spacings {', '.join(f'{d:.3g}' for d in spacing)} "
                         f"Å): a {cutoff} Å neighbour search would need {images:.3g} periodic images")


def check_distances(structure, center, neighbor, dist, source: str = "<structure>") -> None:
    """Raise :class:`InputError` when two atoms (or an atom and a periodic image) lie closer than
    :data:`aecgcnn.config.MIN_DISTANCE` (Å): ``center``, ``neighbor``, ``dist`` are the pairs of the neighbour search."""
    if len(dist) and dist.min() < MIN_DISTANCE:
        k = int(np.argmin(dist))
        i, j = int(center[k]), int(neighbor[k])
        raise InputError(f"{source}: atoms {i} ({structure[i].species_string}) and {j} ({structure[j].species_string}) "
                         f"are {dist[k]:.3g} Å apart, closer than {MIN_DISTANCE} Å: a site written twice?")


def build_graph(structure, cutoff: float = CUTOFF, max_neighbors: int = MAX_NEIGHBORS, charges=None,
                source: str = "<structure>") -> CrystalGraph:
    """Build the 12-NN periodic graph of a pymatgen ``Structure``.

    Args:
        structure: ordered pymatgen Structure (n sites).
        cutoff: search radius in Å.
        max_neighbors: K, slots per atom.
        charges: optional float array [n] of partial charges aligned with the sites.
        source: name used in error messages.

    Returns:
        :class:`CrystalGraph`. Raises :class:`InputError` for a structure :func:`check_structure` refuses, two
        atoms closer than :data:`aecgcnn.config.MIN_DISTANCE`, or an atom with no neighbour within the cutoff (isolated).
    """
    from pymatgen.optimization.neighbors import find_points_in_spheres

    check_structure(structure, cutoff, source)
    n = len(structure)
    lattice = np.ascontiguousarray(structure.lattice.matrix, dtype=np.float64)
    cart = np.ascontiguousarray(structure.cart_coords, dtype=np.float64)
    center, neighbor, images, dist = find_points_in_spheres(
        cart, cart, r=float(cutoff), pbc=np.array([1, 1, 1], dtype=np.int64), lattice=lattice, tol=1e-8)
    images = np.rint(images).astype(np.int64)
    is_self = (center == neighbor) & ~images.any(axis=1)
    keep = ~is_self
    center, neighbor, images, dist = center[keep], neighbor[keep], images[keep], dist[keep]
    check_distances(structure, center, neighbor, dist, source)

    counts = np.bincount(center, minlength=n)
    isolated = np.flatnonzero(counts == 0)
    if len(isolated):
        a = int(isolated[0])
        raise InputError(f"{source}: atom {a} ({structure[a].species_string}) is isolated: no neighbour "
                         f"within {cutoff} Å ({len(isolated)} such atom(s))")

    dist_key = np.rint(dist * 1e6).astype(np.int64)  # deterministic tie-break at 1e-6 Å
    order = np.lexsort((images[:, 2], images[:, 1], images[:, 0], neighbor, dist_key, center))
    center, neighbor, images, dist = center[order], neighbor[order], images[order], dist[order]
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rank = np.arange(len(center)) - starts[center]
    sel = rank < max_neighbors
    ci, slot = center[sel], rank[sel]

    nbr = np.repeat(np.arange(n)[:, None], max_neighbors, axis=1)
    dists = np.full((n, max_neighbors), float(cutoff), dtype=np.float32)
    mask = np.zeros((n, max_neighbors), dtype=bool)
    offs = np.zeros((n, max_neighbors, 3), dtype=np.int8)
    nbr[ci, slot] = neighbor[sel]
    dists[ci, slot] = dist[sel]
    mask[ci, slot] = True
    offs[ci, slot] = images[sel]
    vectors = cart[nbr] + offs.astype(np.float64) @ lattice - cart[:, None, :]
    vectors[~mask] = 0.0

    q = None
    if charges is not None:
        q = np.asarray(charges, dtype=np.float32)
        if q.shape != (n,):
            raise InputError(f"{source}: {q.shape[0]} charges for {n} sites")
    return CrystalGraph(
        atomic_numbers=np.asarray(structure.atomic_numbers, dtype=np.int16),
        neighbors=nbr.astype(np.int32), distances=dists, mask=mask, offsets=offs,
        vectors=vectors.astype(np.float32), lattice=lattice.astype(np.float32),
        positions=cart.astype(np.float32), charges=q,
        pw_lattice=reduced_primitive_lattice(structure).astype(np.float32))
