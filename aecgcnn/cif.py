"""Read CIF files into pymatgen structures, keeping per-site partial charges.

pymatgen's ``Structure.from_file`` drops ``_atom_site_charge`` / ``_atom_type_partial_charge`` and
reorders sites, so the charges are read from the raw CIF loop, expanded with the CIF's symmetry
operations, and matched back to the parsed sites by periodic fractional-coordinate distance.
Every problem raises :class:`aecgcnn.InputError` naming the file.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pymatgen.core import Structure

from aecgcnn.errors import InputError

CHARGE_TAGS = ("_atom_site_charge", "_atom_type_partial_charge", "_atom_site_partial_charge")
CELL_TAGS = ("_cell_length_a", "_cell_length_b", "_cell_length_c", "_cell_angle_alpha", "_cell_angle_beta",
             "_cell_angle_gamma")
MATCH_TOLERANCE = 1e-3  # fractional-coordinate tolerance when matching charges to sites


@dataclass
class ParsedCrystal:
    """A parsed, validated crystal.

    Attributes:
        structure: ordered pymatgen ``Structure`` (the unit cell as written in the CIF).
        charges: float array [n_sites] of partial charges (elementary charges, e), aligned with
            ``structure`` sites, or ``None`` when the CIF carries none.
        source: file name or entry id used in error messages.
    """

    structure: Structure
    charges: np.ndarray | None
    source: str


def _as_floats(values, tag: str, source: str) -> np.ndarray:
    out = []
    for v in values:
        v = str(v).split("(")[0]  # strip standard uncertainties, e.g. 0.123(4)
        try:
            out.append(float(v))
        except ValueError:
            raise InputError(f"{source}: column {tag} holds a non-numeric value {v!r}") from None
    return np.asarray(out, dtype=np.float64)


def _loop_charges(block: dict, source: str) -> np.ndarray | None:
    """Charges per row of the atom_site loop, or None when the CIF has no charge column."""
    n_rows = len(block.get("_atom_site_fract_x", []))
    for tag in CHARGE_TAGS:
        if tag in block and len(block[tag]) == n_rows:
            return _as_floats(block[tag], tag, source)
    # _atom_type_partial_charge in a separate _atom_type loop: map through the type symbol
    if "_atom_type_partial_charge" in block and "_atom_type_symbol" in block:
        per_type = dict(zip(block["_atom_type_symbol"],
                            _as_floats(block["_atom_type_partial_charge"], "_atom_type_partial_charge", source)))
        symbols = block.get("_atom_site_type_symbol", block.get("_atom_site_label"))
        missing = sorted({s for s in symbols if s not in per_type})
        if missing:
            raise InputError(f"{source}: no _atom_type_partial_charge for atom types {missing}")
        return np.array([per_type[s] for s in symbols], dtype=np.float64)
    return None


def _align_charges(parser, cif_block, structure: Structure, loop_charges: np.ndarray, source: str) -> np.ndarray:
    """Expand loop rows with the CIF's symmetry operations and match each site to one of them."""
    from scipy.spatial import cKDTree

    block = cif_block.data
    frac = np.stack([_as_floats(block[f"_atom_site_fract_{a}"], f"_atom_site_fract_{a}", source)
                     for a in "xyz"], axis=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "spacegroup from H-M symbol used" is expected for P1 files
        ops = parser.get_symops(cif_block)
    images = np.concatenate([op.operate_multi(frac) for op in ops]) % 1.0
    image_charges = np.tile(loop_charges, len(ops))
    tree = cKDTree(np.clip(images, 0.0, 1.0 - 1e-12), boxsize=1.0)
    site_frac = np.clip(structure.frac_coords % 1.0, 0.0, 1.0 - 1e-12)
    dist, idx = tree.query(site_frac)
    bad = np.flatnonzero(dist > MATCH_TOLERANCE)
    if len(bad):
        raise InputError(f"{source}: could not align partial charges with {len(bad)} site(s) "
                         f"(first: site {bad[0]}, {structure[bad[0]].species_string})")
    return image_charges[idx]


_P1_NAMES = {"p1", "p 1", "'p 1'", "'p1'", '"p 1"', '"p1"'}
_IDENTITY_OPS = {"x,y,z", "'x,y,z'", "+x,+y,+z", "'+x,+y,+z'"}


def _cell_value(text: str, tag: str) -> float | None:
    import re

    m = re.search(rf"^\s*{tag}\s+([-+]?(?:nan|inf(?:inity)?)\b|[-+0-9.eE]+)", text, flags=re.MULTILINE | re.IGNORECASE)
    return float(m.group(1)) if m else None


def check_cell(cell, source: str) -> None:
    """Raise :class:`InputError` naming ``source`` unless the cell parameters (a, b, c in Å; alpha, beta, gamma in
    degrees; None where the CIF lacks one) are finite, the lengths positive and the angles strictly between 0 and
    180 degrees with each less than the sum of the other two (else the three vectors cannot span a volume)."""
    for name, value in zip(CELL_TAGS, cell):
        if value is None:
            continue
        if not np.isfinite(value):
            raise InputError(f"{source}: {name} {value} is not finite")
        if name.startswith("_cell_length") and value <= 0:
            raise InputError(f"{source}: {name} {value} Å: a cell length must be positive")
        if name.startswith("_cell_angle") and not 0 < value < 180:
            raise InputError(f"{source}: {name} {value}°: a cell angle must lie strictly between 0 and 180°")
    angles = [v for v in cell[3:] if v is not None]
    if len(angles) == 3 and (sum(angles) >= 360 or any(2 * v >= sum(angles) for v in angles)):
        raise InputError(f"{source}: cell angles {angles}° cannot span a volume (each must be less than the sum of "
                         "the other two, and all three less than 360°): the lattice vectors are coplanar")


def _fast_p1(text: str, source: str, cell: list) -> ParsedCrystal | None:
    """Parse a plain P1 CIF (one block, identity symmetry, one atom_site loop) without pymatgen's
    general CIF machinery, keeping the file's site order; ``cell``: its six cell parameters, checked by the
    caller (:func:`check_cell`). Returns None when the file is not of that simple form, so the caller falls back
    to pymatgen."""
    from pymatgen.core import Element, Lattice

    if text.count("data_") != 1:
        return None
    lines = [ln.strip() for ln in text.splitlines()]
    sg = None
    for ln in lines:
        if ln.lower().startswith(("_symmetry_space_group_name_h-m", "_space_group_name_h-m_alt")):
            sg = ln.split(None, 1)[1].strip().lower() if len(ln.split(None, 1)) > 1 else None
    if sg not in _P1_NAMES:
        return None
    if len(cell) != len(CELL_TAGS) or any(c is None for c in cell):
        return None
    # locate loops
    i, loops = 0, []
    while i < len(lines):
        if lines[i].lower() == "loop_":
            tags, i = [], i + 1
            while i < len(lines) and lines[i].startswith("_"):
                tags.append(lines[i].split()[0].lower()); i += 1
            rows = []  # the loop body runs to the next tag / loop / block; blank and comment lines are skipped
            while i < len(lines) and not lines[i].startswith(("_", "loop_", "data_")):
                if lines[i] and not lines[i].startswith("#"):
                    rows.append(lines[i])
                i += 1
            loops.append((tags, rows))
        else:
            i += 1
    for tags, rows in loops:
        if "_symmetry_equiv_pos_as_xyz" in tags or "_space_group_symop_operation_xyz" in tags:
            ops = {r.replace(" ", "").lower().split()[-1] for r in rows}
            if not ops <= _IDENTITY_OPS:
                return None
    site_loop = [(t, r) for t, r in loops if "_atom_site_fract_x" in t]
    if len(site_loop) != 1:
        return None
    tags, rows = site_loop[0]
    if any(("'" in r or '"' in r) for r in rows):
        return None
    table = [r.split() for r in rows]
    if not table:
        raise InputError(f"{source}: the CIF holds no atoms (its atom_site loop is empty)")
    if any(len(r) != len(tags) for r in table):
        return None
    col = {t: k for k, t in enumerate(tags)}
    if "_atom_site_occupancy" in col:
        occ = _as_floats([r[col["_atom_site_occupancy"]] for r in table], "_atom_site_occupancy", source)
        if np.any(np.abs(occ - 1.0) > 1e-6):
            return None  # let pymatgen handle (and reject) partial occupancy
    sym_col = col.get("_atom_site_type_symbol", col.get("_atom_site_label"))
    species = []
    for r in table:
        sym = r[sym_col].rstrip("0123456789+-")
        sym = sym[:2] if len(sym) > 1 and sym[1].islower() else sym[:1]
        try:
            species.append(Element(sym))
        except ValueError:
            return None
    frac = np.stack([_as_floats([r[col[f"_atom_site_fract_{a}"]] for r in table], f"_atom_site_fract_{a}", source)
                     for a in "xyz"], axis=1)
    charges = None
    for tag in CHARGE_TAGS:
        if tag in col:
            charges = _as_floats([r[col[tag]] for r in table], tag, source)
            break
    structure = Structure(Lattice.from_parameters(*cell), species, frac)
    return ParsedCrystal(structure=structure, charges=charges, source=source)


def parse_cif(text: str, source: str = "<string>") -> ParsedCrystal:
    """Parse CIF text into a validated :class:`ParsedCrystal`.

    Plain P1 files (one data block, identity symmetry, full occupancy: every CoRE / BW-DB file) take a
    fast path that keeps the file's site order; everything else goes through pymatgen's CifParser.

    Raises :class:`InputError` (naming ``source``) for: empty text, text that is not a CIF,
    a CIF with no atoms, a disordered / partial-occupancy structure, unalignable charges.
    """
    from pymatgen.io.cif import CifParser

    if text is None or not str(text).strip():
        raise InputError(f"{source}: the file is empty")
    if "_cell_length_a" not in text or "_atom_site_fract_" not in text and "_atom_site_Cartn_" not in text:
        raise InputError(f"{source}: not a CIF with a unit cell and an atom_site loop "
                         "(_cell_length_a / _atom_site_fract_x missing)")
    try:
        cell = [_cell_value(text, t) for t in CELL_TAGS]
    except ValueError:  # a value the pattern took but float() refuses: pymatgen reports it below
        cell = []
    check_cell(cell, source)  # before any parsing: pymatgen can loop for long on a degenerate cell
    fast = _fast_p1(text, source, cell)
    if fast is not None:
        return fast
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            parser = CifParser.from_str(text, occupancy_tolerance=1.0)
            structures = parser.parse_structures(primitive=False, on_error="raise")
        except InputError:
            raise
        except Exception as exc:  # pymatgen raises many kinds
            raise InputError(f"{source}: pymatgen could not parse the CIF ({type(exc).__name__}: {exc})") from None
    if not structures:
        raise InputError(f"{source}: the CIF holds no structure")
    structure = structures[0]
    if len(structure) == 0:
        raise InputError(f"{source}: the CIF holds no atoms")
    if not structure.is_ordered:
        raise InputError(f"{source}: disordered / partial-occupancy structure "
                         f"({structure.composition.reduced_formula}); resolve the disorder first")
    cif_block = next(iter(parser._cif.data.values()))
    loop_charges = _loop_charges(cif_block.data, source)
    charges = None
    if loop_charges is not None:
        charges = _align_charges(parser, cif_block, structure, loop_charges, source)
    return ParsedCrystal(structure=structure, charges=charges, source=source)


def read_cif(path: str | Path) -> ParsedCrystal:
    """Read and validate one CIF file (see :func:`parse_cif`)."""
    path = Path(path)
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        raise InputError(f"{path}: cannot read file ({exc.strerror})") from None
    return parse_cif(text, source=str(path))
