"""A corpus of bad CIFs: each a small text derived from one good P1 cell, with the words its skip reason must
contain. Used by the robustness tests (predict, screen, explain, train, data build) so every case stays fixed."""
from __future__ import annotations

from pathlib import Path

CELL = (4.12, 4.12, 4.12, 90.0, 90.0, 90.0)
SITES = [("Cs", "Cs1", 0.0, 0.0, 0.0), ("Cl", "Cl1", 0.5, 0.5, 0.5)]


def p1_cif(cell=CELL, sites=SITES, name: str = "test") -> str:
    """A P1 CIF with the given cell (a, b, c, alpha, beta, gamma) and sites (symbol, label, x, y, z)."""
    a, b, c, al, be, ga = cell
    lines = [f"data_{name}", "_symmetry_space_group_name_H-M 'P 1'", f"_cell_length_a {a}",
             f"_cell_length_b {b}", f"_cell_length_c {c}", f"_cell_angle_alpha {al}", f"_cell_angle_beta {be}",
             f"_cell_angle_gamma {ga}", "loop_", "_symmetry_equiv_pos_as_xyz", "'x, y, z'", "loop_",
             "_atom_site_type_symbol", "_atom_site_label", "_atom_site_fract_x", "_atom_site_fract_y",
             "_atom_site_fract_z"]
    lines += [f"{s} {lab} {x} {y} {z}" for s, lab, x, y, z in sites]
    return "\n".join(lines) + "\n"


#: name -> (CIF text or bytes, a phrase the skip reason must contain)
BAD = {
    "zero_volume_120": (p1_cif(cell=(4.0, 4.0, 4.0, 120.0, 120.0, 120.0)), "volume"),
    "alpha_180": (p1_cif(cell=(4.0, 4.0, 4.0, 180.0, 90.0, 90.0)), "angle"),
    "a_zero": (p1_cif(cell=(0.0, 4.0, 4.0, 90.0, 90.0, 90.0)), "length"),
    "no_atoms": (p1_cif(sites=[]), "no atoms"),
    "inf_coords": (p1_cif(sites=[("Cs", "Cs1", "inf", 0.0, 0.0), SITES[1]]), "not finite"),
    "nan_coords": (p1_cif(sites=[("Cs", "Cs1", "nan", 0.0, 0.0), SITES[1]]), "not finite"),
    "nan_cell": (p1_cif(cell=("nan", 4.0, 4.0, 90.0, 90.0, 90.0)), "not finite"),
    "huge_coords": (p1_cif(sites=[("Cs", "Cs1", 1e30, 0.0, 0.0), SITES[1]]), "out of range"),
    "unknown_element": (p1_cif(sites=[("Xx", "Xx1", 0.0, 0.0, 0.0), SITES[1]]), "element"),
    "same_position": (p1_cif(sites=[SITES[0], ("Cl", "Cl1", 0.0, 0.0, 0.0)]), "closer than"),
    "empty": ("", "empty"),
    "garbage": ("this is not a crystal\n", "not a CIF"),
    "binary": (bytes(range(256)) * 4, "not a CIF"),
    "disordered": (p1_cif(sites=SITES).replace("_atom_site_fract_z", "_atom_site_fract_z\n_atom_site_occupancy")
                   .replace(" 0.0 0.0 0.0\n", " 0.0 0.0 0.0 0.5\n").replace(" 0.5 0.5 0.5\n", " 0.5 0.5 0.5 1.0\n"),
                   "disorder"),
}


def write_corpus(folder: Path, good_cif: str | None = None) -> dict[str, Path]:
    """Write every bad CIF (and ``good.cif``: ``good_cif`` or the plain CsCl cell) into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, (text, _) in BAD.items():
        p = folder / f"{name}.cif"
        (p.write_bytes if isinstance(text, bytes) else p.write_text)(text)
        paths[name] = p
    good = folder / "good.cif"
    good.write_text(good_cif or p1_cif())
    paths["good"] = good
    return paths
