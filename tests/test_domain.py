"""Applicability domain (aecgcnn.domain): the kNN distance against a literal transcription, the bulk range, what the
shipped models say of crystals unlike their training data, and the screen's domain modes."""
import csv

import numpy as np
import pandas as pd
import pytest
from pymatgen.core import Lattice, Structure
from pymatgen.io.cif import CifWriter

import aecgcnn
from aecgcnn.cli import main
from aecgcnn.domain import BULK, bulk_properties, knn_distance
from aecgcnn.graph import build_graph


def test_knn_distance_is_the_mean_of_the_k_smallest_euclidean_distances(rng):
    x, ref = rng.normal(size=(7, 5)), rng.normal(size=(40, 5))
    literal = [np.mean(sorted(np.sqrt(((xi - r) ** 2).sum()) for r in ref)[:3]) for xi in x]
    assert np.allclose(knn_distance(x, ref, 3), literal)
    self_literal = [np.mean(sorted(np.sqrt(((ri - r) ** 2).sum()) for r in ref)[1:4]) for ri in ref]
    assert np.allclose(knn_distance(ref, ref, 3, exclude_self=True), self_literal, atol=1e-6)


def test_bulk_properties_match_pymatgen(structures):
    s = structures["rocksalt"]
    b = bulk_properties(build_graph(s))
    assert set(b) == set(BULK) and b["n_atoms"] == len(s)
    assert b["volume_per_atom"] == pytest.approx(s.volume / len(s), rel=1e-5)
    assert b["density"] == pytest.approx(float(s.density), rel=1e-4)


#: the largest-pored of the ``core_cifs`` MOFs (784 atoms, pore radius 3.6 Å)
LARGE_PORE = "ABETIN_clean"


def test_the_pore_radius_is_checked_against_the_top_of_the_range_only():
    from aecgcnn.domain import outside
    low, high = np.array([10, 5, 0.5, 0.0]), np.array([100, 50, 3.0, 4.0])
    got = outside(np.array([[5, 20, 1.0, -1.0], [50, 20, 1.0, 6.0], [50, 20, 4.0, 1.0]]), low, high)
    assert got.tolist() == [[True, False, False, False], [False, False, False, True], [False, False, True, False]]


def nacl():
    return Structure.from_spacegroup("Fm-3m", Lattice.cubic(5.64), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])


def bcc_fe():
    return Structure(Lattice.cubic(2.87), ["Fe", "Fe"], [[0, 0, 0], [0.5, 0.5, 0.5]])


@pytest.fixture(scope="module")
def core_model():
    model = aecgcnn.load_model("core2019-co2-0.15bar")
    assert model.has_domain, "the shipped model carries no domain: run `aecgcnn domain` on it"
    return model


def test_a_core_mof_model_flags_rock_salt_and_iron_and_keeps_core_mofs(core_model, core_cifs):
    table = core_model.predict([nacl(), bcc_fe(), *core_cifs.values()])
    assert table["in_domain"].tolist()[:2] == [False, False]
    assert "n_atoms" in table["outside_range"][1] and "density" in table["outside_range"][1]
    mofs = table.iloc[2:]
    assert mofs["in_domain"].all() and (mofs["outside_range"] == "").all() and (mofs["unseen_elements"] == "").all()
    assert (mofs["domain_distance"] <= 1).all()


def test_a_formation_energy_model_flags_a_mof(core_cifs):
    mp = aecgcnn.load_model("mp-megnet-2018")
    assert mp.has_domain
    table = mp.predict([core_cifs[LARGE_PORE], nacl(), bcc_fe()])
    assert table["in_domain"].tolist() == [False, True, True]  # dense solids are its domain


def test_predict_without_a_domain_has_no_domain_columns(core_model, core_cifs):
    assert "in_domain" not in core_model.predict(list(core_cifs.values())[:1], domain=False).columns


def test_screen_keeps_ranks_last_or_drops_what_lies_outside(core_model, core_cifs, tmp_path):
    folder = tmp_path / "cifs"
    folder.mkdir()
    for k, text in enumerate(core_cifs.values()):
        (folder / f"mof{k}.cif").write_text(text)
    for name, s in {"nacl": nacl(), "fe": bcc_fe()}.items():
        (folder / f"{name}.cif").write_text(str(CifWriter(s)))
    ranked = {}
    for mode in ("keep", "last", "drop"):
        out = tmp_path / mode / "ranked.csv"
        assert main(["screen", "core2019-co2-0.15bar", str(folder), "--out", str(out), "--workers", "1",
                     "--domain", mode]) == 0
        ranked[mode] = pd.read_csv(out, keep_default_na=False)
    keep, last, drop = ranked["keep"], ranked["last"], ranked["drop"]
    assert len(keep) == len(core_cifs) + 2 and set(keep["id"]) >= {"nacl", "fe"}
    assert last["id"].tolist()[-2:] == [i for i in keep["id"] if i in ("nacl", "fe")]  # last, in their own order
    assert not last["in_domain"].tolist()[-1] and all(last["in_domain"].tolist()[:-2])
    assert sorted(drop["id"]) == sorted(f"mof{k}" for k in range(len(core_cifs)))
    outside = pd.read_csv(tmp_path / "drop" / "ranked_outside_domain.csv")
    assert sorted(outside["id"].str.extract(r"(\w+)\.cif")[0]) == ["fe", "nacl"]
    assert outside["problem"].str.contains("beyond the training range").all()


def test_a_journal_written_before_domains_resumes(tmp_path):
    from aecgcnn.screen import ROW_FIELDS, ROW_FIELDS_V1, open_journal
    rows = tmp_path / "r.csv.rows.csv"
    with open(rows, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(ROW_FIELDS_V1)
        w.writerow(["a.cif", "a", "1.5", "", "40", ""])
    got = open_journal(rows)
    assert got == [{**dict.fromkeys(ROW_FIELDS, ""), "origin": "a.cif", "id": "a", "prediction": "1.5",
                    "atoms": "40"}]
    assert next(csv.reader(open(rows))) == ROW_FIELDS


def test_screen_refuses_a_domain_mode_for_a_model_without_one(tmp_path, core_cifs):
    from aecgcnn.checkpoint import load_checkpoint
    from aecgcnn.pretrained import find
    from aecgcnn.screen import screen
    net, meta = load_checkpoint(find("core2019-co2-0.15bar"))
    net.domain = None
    (tmp_path / "m.cif").write_text(next(iter(core_cifs.values())))
    with pytest.raises(aecgcnn.InputError, match="no applicability domain"):
        screen(net, meta, [tmp_path], tmp_path / "r.csv", domain="drop")
