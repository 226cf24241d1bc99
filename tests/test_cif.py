"""CIF reading: partial charges aligned with sites, neutral cells, bad inputs named clearly."""
import numpy as np
import pytest

from aecgcnn import InputError
from aecgcnn import cif as cifmod
from aecgcnn.cif import parse_cif, read_cif

ATOM_LOOP = """loop_
_atom_site_label
_atom_site_type_symbol
_atom_site_fract_x
_atom_site_fract_y
_atom_site_fract_z
_atom_site_charge
"""

NACL_CHARGED = """data_NaCl
_symmetry_space_group_name_H-M 'F m -3 m'
_cell_length_a 5.64
_cell_length_b 5.64
_cell_length_c 5.64
_cell_angle_alpha 90
_cell_angle_beta 90
_cell_angle_gamma 90
loop_
_symmetry_equiv_pos_as_xyz
x,y,z
x+1/2,y+1/2,z
x+1/2,y,z+1/2
x,y+1/2,z+1/2
-x,-y,-z
""" + ATOM_LOOP + """Na1 Na 0.0 0.0 0.0 0.9
Cl1 Cl 0.5 0.5 0.5 -0.9
"""


def test_symmetric_cif_charges_follow_sites():
    p = parse_cif(NACL_CHARGED, "nacl.cif")
    assert len(p.structure) == 8
    for site, q in zip(p.structure, p.charges):
        assert q == pytest.approx(0.9 if site.specie.symbol == "Na" else -0.9)
    assert p.charges.sum() == pytest.approx(0.0)


def test_core_mof_charges_aligned_and_neutral(core_cifs):
    for name, text in core_cifs.items():
        fast = parse_cif(text, name)
        assert fast.charges is not None and len(fast.charges) == len(fast.structure)
        assert abs(fast.charges.sum()) < 1e-3, name


def test_fast_path_agrees_with_pymatgen(core_cifs, monkeypatch):
    from scipy.spatial import cKDTree
    for name, text in core_cifs.items():
        fast = parse_cif(text, name)
        monkeypatch.setattr(cifmod, "_fast_p1", lambda *a: None)
        slow = parse_cif(text, name)
        monkeypatch.undo()
        assert len(fast.structure) == len(slow.structure)
        ff = np.clip(fast.structure.frac_coords % 1, 0, 1 - 1e-12)
        fs = np.clip(slow.structure.frac_coords % 1, 0, 1 - 1e-12)
        d, idx = cKDTree(fs, boxsize=1.0).query(ff)
        assert d.max() < 1e-3, name
        assert [s.specie for s in fast.structure] == [slow.structure[i].specie for i in idx]
        np.testing.assert_allclose(fast.charges, slow.charges[idx], atol=1e-6)


@pytest.mark.parametrize("text,match", [
    ("", "empty"),
    ("   \n", "empty"),
    ("hello, I am not a crystal", "not a CIF"),
])
def test_bad_text(text, match):
    with pytest.raises(InputError, match=match) as err:
        parse_cif(text, "bad.cif")
    assert "bad.cif" in str(err.value)


def test_partial_occupancy_is_rejected():
    text = NACL_CHARGED.replace("_atom_site_charge", "_atom_site_occupancy").replace("0.9\n", "0.5\n")
    with pytest.raises(InputError, match="disordered|partial"):
        parse_cif(text, "disordered.cif")


def test_read_cif_names_missing_file(tmp_path):
    with pytest.raises(InputError, match="nope.cif"):
        read_cif(tmp_path / "nope.cif")


def test_blank_line_inside_the_atom_loop_keeps_every_atom():
    text = """data_x
_symmetry_space_group_name_H-M 'P 1'
_cell_length_a 5
_cell_length_b 5
_cell_length_c 5
_cell_angle_alpha 90
_cell_angle_beta 90
_cell_angle_gamma 90
""" + ATOM_LOOP + """Na1 Na 0.0 0.0 0.0 0.5

# a comment between rows
Cl1 Cl 0.5 0.5 0.5 -0.5
"""
    p = parse_cif(text, "gap.cif")
    assert [s.specie.symbol for s in p.structure] == ["Na", "Cl"]
    np.testing.assert_allclose(p.charges, [0.5, -0.5])
