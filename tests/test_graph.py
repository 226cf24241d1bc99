"""Crystal graph: brute-force agreement, padding/masking, invariances, displacement vectors."""
import itertools

import numpy as np
import pytest
from conftest import one_atom_fcc, rocksalt, sparse_cubic, triclinic

from aecgcnn import InputError
from aecgcnn.cif import parse_cif
from aecgcnn.graph import CrystalGraph, GraphSettings, build_graph


def brute_force_distances(structure, cutoff=8.0, k=12):
    """Sorted distances of the k nearest periodic neighbours of each atom by explicit image enumeration."""
    lat = structure.lattice.matrix
    cart = structure.cart_coords
    # enough images to cover the cutoff: n_a = ceil(cutoff / (plane spacing along a)) + 1
    spacing = structure.lattice.volume / np.linalg.norm(np.cross(lat[[1, 2, 0]], lat[[2, 0, 1]]), axis=1)
    reps = [range(-int(np.ceil(cutoff / s)) - 1, int(np.ceil(cutoff / s)) + 2) for s in spacing]
    shifts = np.array(list(itertools.product(*reps))) @ lat
    out = []
    for i in range(len(structure)):
        d = np.linalg.norm(cart[None, :, :] + shifts[:, None, :] - cart[i], axis=-1).ravel()
        d = np.sort(d[(d > 1e-8) & (d <= cutoff)])
        out.append(d[:k])
    return out


def check_against_brute_force(structure, cutoff=8.0):
    g = build_graph(structure, cutoff=cutoff)
    ref = brute_force_distances(structure, cutoff)
    for i, d_ref in enumerate(ref):
        got = g.distances[i][g.mask[i]]
        assert len(got) == len(d_ref), f"atom {i}: {len(got)} neighbours, brute force {len(d_ref)}"
        np.testing.assert_allclose(got, d_ref, atol=1e-4)
    return g


@pytest.mark.parametrize("make", [triclinic, one_atom_fcc, rocksalt, sparse_cubic])
def test_matches_brute_force(make):
    check_against_brute_force(make())


def test_one_atom_cell_neighbours_are_images_of_itself():
    g = check_against_brute_force(one_atom_fcc())
    assert (g.neighbors == 0).all() and g.mask.all()
    assert len({tuple(o) for o in g.offsets[0]}) == 12  # 12 distinct periodic images
    np.testing.assert_allclose(g.distances[0], 2 * np.sqrt(2), atol=1e-5)


def test_fewer_than_12_neighbours_are_padded_and_masked():
    g = check_against_brute_force(sparse_cubic())
    assert g.mask.sum() == 6
    assert (g.distances[~g.mask] == 8.0).all() and (g.vectors[~g.mask] == 0).all()
    assert (g.neighbors[~g.mask] == 0).all()  # padding points at the atom itself


def test_large_mof_matches_brute_force(core_cifs):
    parsed = parse_cif(core_cifs["HAWVAE_clean"], "HAWVAE")
    check_against_brute_force(parsed.structure)


def test_vectors_and_offsets_are_consistent():
    s = triclinic()
    g = build_graph(s)
    lat, cart = s.lattice.matrix, s.cart_coords
    expect = cart[g.neighbors] + g.offsets @ lat - cart[:, None, :]
    np.testing.assert_allclose(g.vectors[g.mask], expect[g.mask], atol=1e-4)
    np.testing.assert_allclose(np.linalg.norm(g.vectors, axis=-1)[g.mask], g.distances[g.mask], atol=1e-4)


def _distance_lists(g):
    return sorted(tuple(np.round(r, 4)) for r in g.distances)


def test_invariant_under_permutation_translation_supercell(rng):
    s = triclinic()
    base = build_graph(s)
    perm = rng.permutation(len(s))
    permuted = s.copy()
    permuted = type(s).from_sites([s[i] for i in perm])
    g = build_graph(permuted)
    np.testing.assert_allclose(g.distances, base.distances[perm], atol=1e-5)
    moved = s.copy()
    moved.translate_sites(list(range(len(s))), [0.37, -0.21, 0.55], frac_coords=True)
    assert _distance_lists(build_graph(moved)) == _distance_lists(base)
    sc = s.copy()
    sc.make_supercell([2, 1, 1])
    assert _distance_lists(build_graph(sc)) == sorted(_distance_lists(base) * 2)


def test_ties_are_broken_deterministically():
    s = rocksalt()  # 12 equidistant Na-Na / 6 Na-Cl shells: many exact ties
    a, b = build_graph(s), build_graph(s.copy())
    assert (a.neighbors == b.neighbors).all() and (a.offsets == b.offsets).all()


def test_isolated_atom_is_an_error():
    from pymatgen.core import Lattice, Structure
    s = Structure(Lattice.cubic(20.0), ["Ar"], [[0, 0, 0]])
    with pytest.raises(InputError, match="isolated"):
        build_graph(s, source="argon.cif")


def test_save_load_roundtrip(tmp_path):
    g = build_graph(triclinic(), charges=np.array([1.0, -0.5, -0.5, 0.0]))
    g.save(tmp_path / "g.npz")
    h = CrystalGraph.load(tmp_path / "g.npz")
    for k in CrystalGraph._ARRAYS + ("charges",):
        np.testing.assert_array_equal(getattr(g, k), getattr(h, k))


def test_settings_key_changes_with_settings():
    assert GraphSettings().key() == GraphSettings().key()
    assert GraphSettings(cutoff=6.0).key() != GraphSettings().key()
