"""The CGCNN element-property table (scripts/make_atom_features.py) and the atom-feature option."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from aecgcnn.features import atom_feature_table

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
import make_atom_features as maf  # noqa: E402


def groups():
    """(name, column slice) of each property in the table."""
    out, start = [], 0
    for name, kind, spec in maf.PROPERTIES:
        width = len(spec) if kind == "cat" else spec[2]
        out.append((name, slice(start, start + width)))
        start += width
    return out


def test_table_covers_elements_1_to_100_with_93_columns():
    t = atom_feature_table("cgcnn").numpy()
    assert t.shape == (100, 93)
    assert set(np.unique(t)) <= {0.0, 1.0}
    assert len(maf.column_names()) == 93


def test_each_property_is_one_hot_where_it_exists():
    t = atom_feature_table("cgcnn").numpy()
    known_missing = {("electronegativity", 2), ("electronegativity", 10), ("electronegativity", 18),
                     ("covalent_radius", 97), ("covalent_radius", 98), ("covalent_radius", 99),
                     ("covalent_radius", 100), ("ln_molar_volume", 85), ("ln_molar_volume", 87),
                     ("ln_molar_volume", 100)}
    for name, cols in groups():
        sums = t[:, cols].sum(axis=1)
        for z in range(1, 101):
            expected = 0.0 if (name, z) in known_missing else 1.0
            assert sums[z - 1] == expected, (name, z)


def test_binned_properties_are_monotone_along_known_trends():
    t = atom_feature_table("cgcnn").numpy()
    cols = dict(groups())

    def bin_of(name, z):
        return int(np.argmax(t[z - 1, cols[name]]))

    # electronegativity rises across period 2 (Li .. F), covalent radius falls, ionisation energy rises
    period2 = range(3, 10)
    for name, sign in (("electronegativity", 1), ("covalent_radius", -1), ("ln_first_ionisation", 1)):
        bins = [bin_of(name, z) for z in period2]
        assert all(sign * (b - a) >= 0 for a, b in zip(bins, bins[1:])), (name, bins)
    # and the alkali metals get larger down the group
    radii = [bin_of("covalent_radius", z) for z in (3, 11, 19, 37, 55)]
    assert radii == sorted(radii)


def test_literal_rows():
    """A few rows checked by hand against the published categories."""
    t = atom_feature_table("cgcnn").numpy()
    names = maf.column_names()
    on = {z: {names[i] for i in np.flatnonzero(t[z - 1])} for z in (1, 26, 57)}
    assert {"group=1", "period=1", "valence=1", "block=s"} <= on[1]
    assert {"group=8", "period=4", "valence=8", "block=d"} <= on[26]
    assert {"group=3", "period=8", "valence=3", "block=f"} <= on[57]


def test_committed_table_matches_the_generator():
    r = subprocess.run([sys.executable, str(ROOT / "scripts" / "make_atom_features.py"), "--check"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_onehot_is_identity_and_bad_kind_is_rejected():
    assert torch.equal(atom_feature_table("onehot", 5), torch.eye(5))
    with pytest.raises(ValueError, match="atom_features"):
        atom_feature_table("magpie")
