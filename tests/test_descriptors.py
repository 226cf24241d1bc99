"""Descriptor baseline: chemistry descriptors against pymatgen, geometry table from the real data."""
import numpy as np
import pytest
from conftest import rocksalt, triclinic

from aecgcnn.baselines.chemistry import chemistry_descriptors
from aecgcnn.baselines.descriptors import _geometry_table
from aecgcnn.graph import build_graph


def test_chemistry_descriptors_match_pymatgen():
    s = triclinic()
    d = chemistry_descriptors(build_graph(s, charges=np.array([1.0, -0.5, -0.5, 0.0])))
    assert d["frac_O"] == 0.5 and d["frac_Si"] == 0.25 and d["metal_Mg"] == 0.25 and d["metal_fraction"] == 0.25
    assert d["density"] == pytest.approx(s.density, rel=1e-4)
    assert d["volume_per_atom"] == pytest.approx(s.volume / 4, rel=1e-5)
    assert d["q_max"] == 1.0 and d["q_min"] == -0.5
    assert "q_std" not in chemistry_descriptors(build_graph(rocksalt()))  # no charges, no charge stats


def test_geometry_table_has_zeo_descriptors(data_dir):
    table = _geometry_table(data_dir)
    assert len(table) == 9340
    full = [v for v in table.values() if "geo_ASA" in v]
    assert len(full) == 7525 and {"geo_Di", "geo_POAVF", "geo_density"} <= set(full[0])
    assert not any("uptake" in k for v in full[:50] for k in v)  # the label never leaks into the features


def test_baseline_command_fits_tests_and_reuses_a_finished_fit(tmp_path, capsys, monkeypatch):
    """`aecgcnn baseline` on the demo sample: descriptors, a fit on the 70 % and test metrics on the 30 % per seed,
    written to OUT/seed<k>/metrics.json; the same command again reuses the finished fits (no descriptors computed),
    another seed fits anew."""
    import json

    from aecgcnn.baselines import descriptors
    from aecgcnn.cli import main
    monkeypatch.delenv("AECGCNN_DATA", raising=False)
    args = ["baseline", "--dataset", "core2019-co2-0.15bar", "--split", "70-30", "--regressor", "gb", "--out",
            str(tmp_path / "gb")]
    assert main(args + ["--seeds", "0"]) == 0
    first = json.loads((tmp_path / "gb" / "seed0" / "metrics.json").read_text())
    assert first["experiment"] == {"dataset": "core2019-co2-0.15bar", "split": "70-30", "seed": 0, "regressor": "gb",
                                   "use_geometry": True}
    assert first["sizes"]["test"] == first["test"]["n"] > 0 and first["n_features"] == len(first["features"])
    assert 0 < first["test"]["mae"] < 5 and "seed 0: test MAE" in capsys.readouterr().out
    calls = []
    real = descriptors.dataset_descriptors
    monkeypatch.setattr(descriptors, "dataset_descriptors", lambda *a, **k: calls.append(a) or real(*a, **k))
    assert main(args + ["--seeds", "0"]) == 0
    assert "reusing finished baseline" in capsys.readouterr().out and calls == []
    assert json.loads((tmp_path / "gb" / "seed0" / "metrics.json").read_text()) == first
    assert main(args + ["--seeds", "1"]) == 0 and len(calls) == 1


def test_baseline_with_sizes_fits_on_exactly_the_crystals_of_a_network_run(tmp_path, monkeypatch):
    """Train / val / test sizes: the descriptor model fits on the train and val subsets a network run of the same
    split, seed and sizes trains and selects on, and tests on the same test crystals."""
    from aecgcnn import experiment
    from aecgcnn.baselines import descriptors
    from aecgcnn.baselines.descriptors import run_descriptor_baseline
    from aecgcnn.data.datasets import load_entries
    monkeypatch.delenv("AECGCNN_DATA", raising=False)
    seen = []
    real = experiment.nested_subsets
    monkeypatch.setattr(descriptors, "nested_subsets", lambda *a, **k: seen.append(real(*a, **k)) or seen[-1])
    m = run_descriptor_baseline("core2019-co2-0.15bar", "70-30", 1, "gb", train_size=10, val_size=4,
                                test_size=6, out_dir=tmp_path / "gb")
    parts, = seen
    exp = experiment.Experiment(dataset="core2019-co2-0.15bar", split="70-30", seed=1, train_size=10, val_size=4,
                                test_size=6, save_split_file=False)
    run = experiment.prepare_split(exp, load_entries("core2019-co2-0.15bar"))
    assert all(parts[k] == run[k] for k in ("train", "val", "test")) and len(parts["train"]) == 10
    assert m["sizes"] == {"train": 14, "test": 6} and m["test"]["n"] == 6
    assert {k: m["experiment"][k] for k in ("train_size", "val_size", "test_size")} == {"train_size": 10,
                                                                                       "val_size": 4, "test_size": 6}


def test_a_finished_fit_is_reused_from_a_copy_of_its_data_and_not_from_changed_data(tmp_path, monkeypatch):
    """A fit's record keeps the SHA-256 of every file it read (labels, CIFs, geometry table): the same files in
    another folder are the same data (a fit restored from the archive on another machine is reused); a changed
    geometry table is not."""
    import shutil

    from aecgcnn.baselines import descriptors
    from aecgcnn.data.datasets import DEMO_DIR
    copy = tmp_path / "copy"
    shutil.copytree(DEMO_DIR / "mof", copy / "mof")
    m = descriptors.run_descriptor_baseline("core2019-co2-0.15bar", "70-30", 1, "gb", data_dir=DEMO_DIR,
                                            train_size=10, val_size=4, test_size=6, out_dir=tmp_path / "gb")
    assert set(m["data_sha256"]) == {"mof/core2019_co2_labels_merged.csv", "mof/CoRE2019_charged_cifs.tar.xz",
                                     descriptors.GEOMETRY_FILE}
    fits = []
    real = descriptors.make_regressor
    monkeypatch.setattr(descriptors, "make_regressor", lambda *a: fits.append(a) or real(*a))
    again = descriptors.run_descriptor_baseline("core2019-co2-0.15bar", "70-30", 1, "gb", data_dir=copy,
                                                train_size=10, val_size=4, test_size=6, out_dir=tmp_path / "gb")
    assert fits == [] and again["test"]["mae"] == m["test"]["mae"]
    with open(copy / descriptors.GEOMETRY_FILE, "a") as fh:
        fh.write("\n")
    descriptors.run_descriptor_baseline("core2019-co2-0.15bar", "70-30", 1, "gb", data_dir=copy,
                                        train_size=10, val_size=4, test_size=6, out_dir=tmp_path / "gb")
    assert len(fits) == 1


@pytest.mark.parametrize("kind", ["gb", "rf"])
def test_saved_trees_predict_as_scikit_learn_with_missing_values(kind, rng):
    """ŷ = baseline + scale Σ_t leaf_t(x): the arrays of a fitted ensemble, walked in numpy, give scikit-learn's
    predictions (NaN features go where the fit sent them)."""
    from aecgcnn.baselines.descriptors import make_regressor
    from aecgcnn.baselines.trees import export_trees, predict_trees
    X = rng.random((300, 6))
    X[rng.random(X.shape) < 0.15] = np.nan
    y = np.nan_to_num(X[:, 0]) * 2 + np.nan_to_num(X[:, 1], nan=-1.0) + rng.normal(0, 0.05, 300)
    model = make_regressor(kind, 0)
    if kind == "rf":
        model.set_params(n_estimators=20, n_jobs=1)
    model.fit(X, y)
    Xt = rng.random((80, 6))
    Xt[rng.random(Xt.shape) < 0.15] = np.nan
    assert np.abs(predict_trees(export_trees(model), Xt) - model.predict(Xt)).max() < 1e-9


def test_a_portable_fit_is_saved_without_pickle_and_predicts_new_cifs(tmp_path, monkeypatch, core_cifs):
    """`aecgcnn baseline --portable --out D`: D/seed0/descriptor_model.npz loads with allow_pickle=False, holds only
    descriptors a new CIF yields, and `aecgcnn predict D/seed0 CIFS` predicts from the graph and Zeo++ as the
    Python API does."""
    import pandas as pd

    import aecgcnn
    from aecgcnn.baselines.descriptor_model import portable_feature
    from aecgcnn.cli import main
    monkeypatch.delenv("AECGCNN_DATA", raising=False)
    assert main(["baseline", "--dataset", "core2019-co2-0.15bar", "--regressor", "gb", "--portable", "--out",
                 str(tmp_path / "gb")]) == 0
    saved = tmp_path / "gb" / "seed0"
    with np.load(saved / "descriptor_model.npz", allow_pickle=False) as z:
        assert "header" in z.files
    model = aecgcnn.load_model(saved)
    assert all(map(portable_feature, model.meta["features"])) and "geo_Di" in model.meta["features"]
    folder = tmp_path / "new"
    folder.mkdir()
    for k, text in enumerate(sorted(core_cifs.values())[:2]):
        (folder / f"m{k}.cif").write_text(text)
    (folder / "broken.cif").write_text("not a CIF")
    table = model.predict([folder])
    assert table["id"].tolist() == ["m0", "m1"] and np.isfinite(table[model.prediction_column]).all()
    assert [i for i, _ in table.attrs["skipped"]] == ["broken"]
    out = tmp_path / "p.csv"
    assert main(["predict", str(saved), str(folder), "--out", str(out)]) == 0
    cli = pd.read_csv(out)
    assert np.allclose(cli[model.prediction_column], table[model.prediction_column])
    ranked = tmp_path / "ranked.csv"  # screen ranks with it too, the same numbers
    assert main(["screen", str(saved), str(folder), "--out", str(ranked), "--workers", "1"]) == 0
    got = pd.read_csv(ranked).set_index("id").iloc[:, 1]
    assert np.allclose(got.loc[["m0", "m1"]].to_numpy(), table[model.prediction_column].to_numpy())
    assert "broken" in (tmp_path / "ranked_skipped.csv").read_text()
