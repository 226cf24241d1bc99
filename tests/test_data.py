"""Data layer: loaders, bulk builds with bad entries, cache, batching, splits."""
import math

import numpy as np
import pytest
import torch
from conftest import one_atom_fcc, rocksalt, sparse_cubic, triclinic
from pymatgen.io.cif import CifWriter

from aecgcnn import InputError
from aecgcnn.data.batch import GraphDataset, collate, make_loader
from aecgcnn.data.cache import GraphCache, build_graphs, content_hash
from aecgcnn.data.datasets import DATASETS, Entry, load_entries
from aecgcnn.data.splits import load_split, random_split, save_split, split_70_30
from aecgcnn.graph import GraphSettings, build_graph


def cif_text(s):
    return str(CifWriter(s))


def good_entries():
    return [Entry(n, float(i), cif_text(f()), f"{n}.cif") for i, (n, f) in
            enumerate([("tri", triclinic), ("fcc", one_atom_fcc), ("nacl", rocksalt), ("sparse", sparse_cubic)])]


def test_bulk_build_skips_and_reports_bad_entries(tmp_path, capsys):
    from pymatgen.core import Lattice, Structure
    isolated = cif_text(Structure(Lattice.cubic(20.0), ["Ar"], [[0, 0, 0]]))
    entries = good_entries() + [
        Entry("empty", 1.0, "", "empty.cif"),
        Entry("junk", 1.0, "not a cif at all", "junk.cif"),
        Entry("iso", 1.0, isolated, "iso.cif"),
        Entry("nolabel", math.nan, cif_text(triclinic()), "nolabel.cif"),
        Entry("nocif", 1.0, None, "nocif.cif"),
    ]
    report = tmp_path / "skipped.csv"
    r = build_graphs(entries, cache_dir=tmp_path / "cache", report_path=report, workers=1, progress=False)
    assert [e.id for e in r.entries] == ["tri", "fcc", "nacl", "sparse"]
    assert {i for i, _ in r.failures} == {"empty", "junk", "iso", "nolabel", "nocif"}
    text = report.read_text()
    for name, word in [("empty.cif", "empty"), ("junk.cif", "not a CIF"), ("iso.cif", "isolated"),
                       ("nolabel.cif", "NaN or missing"), ("nocif.cif", "no CIF")]:
        assert name in text and word in text
    assert "5 entries skipped" in capsys.readouterr().out


def test_cache_is_reused_and_says_so(tmp_path, capsys):
    entries = good_entries()
    first = build_graphs(entries, cache_dir=tmp_path, workers=2, progress=False)
    assert first.n_built == 4 and first.n_cached == 0, first.failures
    again = build_graphs(entries, cache_dir=tmp_path, progress=False)
    assert again.n_cached == 4 and again.n_built == 0
    assert "4 read from cache, 0 built" in capsys.readouterr().out
    np.testing.assert_array_equal(first.graphs[0].distances, again.graphs[0].distances)
    # a different setting is a different cache entry
    other = build_graphs(entries, GraphSettings(cutoff=6.0), cache_dir=tmp_path, progress=False)
    assert other.n_cached == 0 and other.n_built == 3
    assert [i for i, _ in other.failures] == ["sparse"]  # nothing within 6 Å of the atom in a 7 Å cube
    assert GraphCache(tmp_path, GraphSettings()).path(content_hash(entries[0].cif)).exists()


def test_collate_shifts_neighbour_indices():
    gs = [build_graph(f()) for f in (triclinic, one_atom_fcc, rocksalt)]
    b = collate([(g, float(i), str(i)) for i, g in enumerate(gs)])
    sizes = [g.num_atoms for g in gs]
    assert b.atomic_numbers.shape[0] == sum(sizes)
    assert b.crystal.tolist() == sum([[i] * n for i, n in enumerate(sizes)], [])
    start = sizes[0] + sizes[1]
    assert (b.neighbors[start:] == torch.from_numpy(gs[2].neighbors.astype(np.int64)) + start).all()
    assert b.neighbors.max() < b.atomic_numbers.shape[0]
    assert b.target.tolist() == [0.0, 1.0, 2.0]


def test_loader_yields_batches_on_cpu():
    gs = [build_graph(f()) for f in (triclinic, one_atom_fcc, rocksalt, sparse_cubic)]
    ds = GraphDataset(gs, [1, 2, 3, 4], list("abcd"))
    batches = list(make_loader(ds, batch_size=3, shuffle=True, seed=1))
    assert sorted(sum((b.ids for b in batches), [])) == list("abcd")
    assert batches[0].to("cpu").neighbors.device.type == "cpu"


def test_splits_are_seeded_disjoint_and_saved(tmp_path):
    ids = [f"m{i}" for i in range(1000)]
    a, b = random_split(ids, seed=3), random_split(list(reversed(ids)), seed=3)
    assert a["test"] == b["test"]  # order of the input does not matter
    assert (len(a["train"]), len(a["val"]), len(a["test"])) == (800, 100, 100)
    assert not set(a["train"]) & set(a["test"]) and not set(a["val"]) & set(a["test"])
    assert random_split(ids, seed=4)["test"] != a["test"]
    s = split_70_30(ids, seed=0)
    assert len(s["test"]) == 300 and len(s["train"]) + len(s["val"]) == 700
    path = save_split(a, "toy", "80-10-10-seed3", root=tmp_path)
    assert load_split(path)["test"] == a["test"]


def test_learning_curve_subsets_are_nested_with_fixed_eval_sets():
    """Table III: train_size subsets of one split are nested (100 ⊂ 300 ⊂ 1000) and share val and test."""
    from types import SimpleNamespace

    from aecgcnn.experiment import Experiment, prepare_split
    entries = [SimpleNamespace(id=f"m{i}", target=float(i)) for i in range(2000)]
    splits = {n: prepare_split(Experiment(dataset="toy", train_size=n, save_split_file=False), entries)
              for n in (100, 300, 1000)}
    assert set(splits[100]["train"]) < set(splits[300]["train"]) < set(splits[1000]["train"])
    assert len(splits[300]["train"]) == 300
    assert splits[100]["test"] == splits[1000]["test"] and splits[100]["val"] == splits[1000]["val"]


def test_user_folder_and_table(tmp_path):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "a.cif").write_text(cif_text(triclinic()))
    (folder / "b.cif").write_text(cif_text(rocksalt()))
    (folder / "id_prop.csv").write_text("a,1.5\nb,nan\nc,2.0\n")
    entries = load_entries(str(folder))
    assert [e.id for e in entries] == ["a", "b", "c"] and math.isnan(entries[1].target) and entries[2].cif is None
    table = tmp_path / "t.csv"
    table.write_text("id,cif,target\nx,mine/a.cif,0.5\n")
    (e,) = load_entries(str(table))
    assert e.target == 0.5 and "_cell_length_a" in e.cif
    with pytest.raises(InputError, match="neither a named dataset"):
        load_entries(str(tmp_path / "missing"))


def test_named_datasets_real_counts(data_dir):
    megnet = load_entries("mp-megnet-2018", data_dir)
    assert len(megnet) == 51149
    counts = {k: sum(e.meta["split"] == k for e in megnet) for k in ("train", "val", "test")}
    assert counts == {"train": 44376, "val": 3653, "test": 3120}
    core = load_entries("core2019-co2-0.15bar", data_dir)
    assert sum(not math.isnan(e.target) for e in core) == 9330 and all(e.cif for e in core)
    assert len(load_entries("bwdb-demo", data_dir)) == 246


def test_bw20k_missing_says_where_to_get_it(tmp_path):
    with pytest.raises(InputError, match="materialscloud"):
        DATASETS["bw20k-co2-0.15bar"].loader(tmp_path)


def test_without_data_dir_the_demo_sample_is_used_and_said(monkeypatch, capsys):
    from aecgcnn.data import datasets
    monkeypatch.delenv("AECGCNN_DATA", raising=False)
    monkeypatch.setattr(datasets, "_told_demo", False)
    entries = load_entries("mp-megnet-2018")
    assert "demo sample" in capsys.readouterr().out
    counts = {k: sum(e.meta["split"] == k for e in entries) for k in ("train", "val", "test")}
    assert counts == {"train": 1000, "val": 250, "test": 250} and all(e.cif for e in entries)
    core = load_entries("core2019-co2-0.15bar")
    assert len(core) == 364 and all(e.cif and "_atom_site_charge" in e.cif for e in core)
    with pytest.raises(InputError, match="AECGCNN_DATA"):
        datasets.resolve_data_dir(allow_demo=False)


def test_relative_data_env_is_made_absolute(monkeypatch, tmp_path):
    from aecgcnn.data.datasets import absolutize_data_env
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AECGCNN_DATA", "some/data")
    absolutize_data_env()
    import os
    assert os.environ["AECGCNN_DATA"] == str(tmp_path / "some" / "data")


def test_experiment_splits_only_labelled_entries():
    from aecgcnn.experiment import Experiment, prepare_split, split_labelled
    entries = [Entry(f"m{i}", math.nan if i % 4 == 0 else float(i), "cif", f"m{i}.cif") for i in range(100)]
    good, missing = split_labelled(entries)
    assert len(good) == 75 and len(missing) == 25
    split = prepare_split(Experiment(dataset="toy", save_split_file=False), good)
    assert sum(len(split[k]) for k in ("train", "val", "test")) == 75
    # whoever calls (training filters first, evaluate / explain / ensembles pass every entry): the same split
    assert prepare_split(Experiment(dataset="toy", save_split_file=False), entries) == split


def test_download_verifies_present_files_and_explains_missing(tmp_path, data_dir):
    from aecgcnn.data.rebuild import download
    rel = "mof/bwdb_boyd2019_labels.csv"
    assert download(rel, data_dir) == (data_dir / rel, "verified")  # SHA-256 of the shared copy matches
    # a missing file is rebuilt from upstream; unreachable (an unused local port as the mirror): the URL is named
    with pytest.raises(InputError, match=r"127.0.0.1:9/ml.materialsproject.org/projects/matbench_mp_e_form.json.gz: "
                                         r"download failed"):
        download("mp/matbench_mp_e_form_with_mp2025_cif.jsonl.gz", tmp_path, "http://127.0.0.1:9", progress=False)
