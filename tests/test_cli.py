"""The CLI end to end on a tiny CGCNN-layout folder: train, predict (with a bad CIF), evaluate."""
import json
import re

import pandas as pd
import pytest
import torch
from conftest import one_atom_fcc, rocksalt, triclinic
from pymatgen.io.cif import CifWriter

import aecgcnn
from aecgcnn import InputError
from aecgcnn.cli import main


def make_folder(tmp_path, n: int = 24, unlabelled=()):
    """n small crystals c0..c{n-1} with label 0.1 k (NaN for the indices in ``unlabelled``)."""
    folder = tmp_path / "mine"
    folder.mkdir()
    lines = []
    for k in range(n):
        s = [triclinic, rocksalt, one_atom_fcc][k % 3]()
        s.scale_lattice(s.volume * (1 + 0.02 * k))
        (folder / f"c{k}.cif").write_text(str(CifWriter(s)))
        lines.append(f"c{k},{'nan' if k in unlabelled else 0.1 * k}")
    (folder / "id_prop.csv").write_text("\n".join(lines) + "\n")
    return folder


def train_tiny(tmp_path, monkeypatch, out, *extra, preset="cgcnn", epochs=2):
    """The tiny folder of :func:`make_folder` (graph cache in tmp_path) trained into ``out``: the folder."""
    monkeypatch.setenv("AECGCNN_CACHE", str(tmp_path / "cache"))
    folder = make_folder(tmp_path)
    assert main(["train", "--dataset", str(folder), "--preset", preset, "--epochs", str(epochs), "--batch-size", "8",
                 *extra, "--out", str(out)]) == 0
    return folder


def test_train_predict_evaluate(tmp_path, capsys, monkeypatch):
    out = tmp_path / "run"
    folder = train_tiny(tmp_path, monkeypatch, out)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["sizes"]["train"] + metrics["sizes"]["val"] + metrics["sizes"]["test"] == 24
    assert len(pd.read_csv(out / "history.csv")) == 2
    assert json.loads((out / "run.json").read_text()) == metrics["experiment"]  # the plan, written at the start
    new = tmp_path / "new"
    new.mkdir()
    (new / "good.cif").write_text((folder / "c1.cif").read_text())
    (new / "bad.cif").write_text("this is not a CIF")
    preds = tmp_path / "preds.csv"
    assert main(["predict", str(out / "checkpoint.pt"), str(new), "--out", str(preds),
                 "--attention", str(tmp_path / "atoms.csv")]) == 0
    table = pd.read_csv(preds)
    assert table["id"].tolist() == ["good"] and table["domain_distance"].notna().all()  # every run fits a domain
    assert metrics["domain"]["n_train"] == metrics["sizes"]["train"] and metrics["domain"]["threshold"] > 0
    assert "bad.cif" in capsys.readouterr().err
    assert "bad" in (tmp_path / "preds_skipped.csv").read_text()
    atoms = pd.read_csv(tmp_path / "atoms.csv")
    assert abs(atoms["importance"].sum() - 1) < 1e-5  # mean pooling: 1/n per atom of the one crystal
    assert main(["evaluate", str(out / "checkpoint.pt"), "--dataset", str(folder), "--split", "all"]) == 0
    assert '"n": 24' in capsys.readouterr().out
    ex = tmp_path / "explain"
    assert main(["explain", str(out / "checkpoint.pt"), str(new), "--out", str(ex)]) == 0
    assert (ex / "structures" / "good.xyz").exists() and (ex / "figures" / "fig3_good.png").exists()
    assert abs(pd.read_csv(ex / "atoms.csv")["importance"].sum() - 1) < 1e-5
    assert (ex / "importance_by_motif.csv").exists()
    # `aecgcnn domain` refits a checkpoint's domain from its recorded split: the one the run fitted
    trained = torch.load(out / "checkpoint.pt", weights_only=True)["domain"]
    torch.save({**torch.load(out / "checkpoint.pt", weights_only=True), "domain": None}, tmp_path / "old.pt")
    assert not aecgcnn.load_model(tmp_path / "old.pt").has_domain
    assert main(["domain", str(tmp_path / "old.pt")]) == 0
    refit = torch.load(tmp_path / "old.pt", weights_only=True)["domain"]
    assert refit["threshold"] == pytest.approx(trained["threshold"], rel=1e-5)
    assert torch.equal(refit["elements"], trained["elements"]) and torch.equal(refit["bulk_max"], trained["bulk_max"])


def test_evaluate_and_explain_rebuild_the_runs_own_test_split_when_some_entries_are_unlabelled(tmp_path, capsys,
                                                                                                monkeypatch):
    """Training leaves unlabelled entries out before drawing the split; ``evaluate`` and ``explain_test_set``
    rebuild the split from the checkpoint and must draw it over the same entries (they once drew it over all of
    them, which shifted every id: another test part, partly made of training crystals)."""
    from aecgcnn.data.datasets import load_entries
    from aecgcnn.explain import explain_test_set
    monkeypatch.setenv("AECGCNN_CACHE", str(tmp_path / "cache"))
    folder = make_folder(tmp_path, n=40, unlabelled={0, 3, 7, 12, 20})
    out = tmp_path / "run"
    assert main(["train", "--dataset", str(folder), "--preset", "cgcnn", "--epochs", "1", "--batch-size", "8",
                 "--out", str(out)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["unlabelled_entries"] == 5
    run_ids = sorted(pd.read_csv(out / "test_predictions.csv", dtype={"id": str})["id"])
    capsys.readouterr()
    assert main(["evaluate", str(out / "checkpoint.pt"), "--split", "test"]) == 0
    report = capsys.readouterr().out
    report = json.loads(report[report.index("{\n"):])
    assert report["n"] == len(run_ids) and abs(report["mae"] - metrics["test"]["mae"]) < 1e-5
    _, _, graphs = explain_test_set(out, load_entries(str(folder)))
    assert sorted(graphs) == run_ids
    (out / "test_predictions.csv").write_text("id,target,prediction\nc1,0.1,0.2\n")  # not this split: refused
    with pytest.raises(InputError, match="dataset changed since the run"):
        explain_test_set(out, load_entries(str(folder)))


def test_bad_dataset_is_a_clear_error(capsys):
    assert main(["train", "--dataset", "no-such-thing", "--epochs", "1"]) == 2
    assert "neither a named dataset" in capsys.readouterr().err


def test_python_dash_m_runs_the_same_command_line():
    import subprocess
    import sys
    r = subprocess.run([sys.executable, "-m", "aecgcnn", "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "train" in r.stdout


def test_an_ensemble_trains_on_one_split_and_predicts_mean_and_std(tmp_path, capsys, monkeypatch):
    ens = tmp_path / "ens"
    folder = train_tiny(tmp_path, monkeypatch, ens, "--seeds", "0", "1", "2")
    assert "within ±1σ" in capsys.readouterr().out
    metrics = json.loads((ens / "metrics.json").read_text())
    tests = [json.loads((ens / f"seed{s}" / "metrics.json").read_text())["split_meta"] for s in (0, 1, 2)]
    assert tests[0] == tests[1] == tests[2]  # one shared split
    member_ids = pd.read_csv(ens / "seed0" / "test_predictions.csv")["id"].tolist()
    table = pd.read_csv(ens / "test_predictions.csv")
    assert table["id"].tolist() == member_ids and (table["std"] >= 0).all() and (table["std"] > 0).any()
    members = [pd.read_csv(ens / f"seed{s}" / "test_predictions.csv")["prediction"] for s in (0, 1, 2)]
    assert abs(table["prediction"] - sum(members) / 3).max() < 1e-4  # the members' mean
    assert 0 <= metrics["calibration"]["within_1sigma"] <= metrics["calibration"]["within_2sigma"] <= 1
    scale = json.loads((ens / "ensemble.json").read_text())["sigma_scale"]  # fitted on the validation part
    assert scale > 0 and metrics["sigma_scale"] == scale and "calibration_raw" in metrics
    assert abs(metrics["calibration"]["mean_sigma"] - scale * metrics["calibration_raw"]["mean_sigma"]) < 1e-6
    assert set(metrics["calibration"]["coverage"]) == {"0.5", "1", "1.5", "2", "2.5", "3"}
    preds = tmp_path / "preds.csv"
    assert main(["predict", str(ens), str(folder), "--out", str(preds)]) == 0
    p = pd.read_csv(preds).set_index("id")
    assert "3 members" in p.columns[2] and p["in_domain"].dtype == bool  # members' domains, averaged
    for row in table.itertuples():
        assert abs(p.loc[row.id].iloc[1] - row.prediction) < 1e-4
        assert abs(p.loc[row.id].iloc[2] - row.std) < 1e-4  # predict gives the calibrated σ
    assert main(["explain", str(ens), str(folder), "--out", str(tmp_path / "x")]) == 2  # one model needed
    capsys.readouterr()
    assert main(["evaluate", str(ens), "--split", "test"]) == 0  # the members' shared test split, rebuilt
    out = capsys.readouterr().out
    report = json.loads(out[out.index("{\n"):])
    assert abs(report["mae"] - metrics["test"]["mae"]) < 1e-5 and "within_1sigma" in report["calibration"]


def test_calibration_of_gaussian_errors():
    import numpy as np

    from aecgcnn.metrics import calibration
    rng = np.random.default_rng(0)
    sigma = rng.uniform(0.5, 2.0, 20000)
    y = rng.normal(0.0, sigma)
    c = calibration(y, np.zeros_like(y), sigma)
    assert abs(c["within_1sigma"] - 0.683) < 0.01 and abs(c["within_2sigma"] - 0.954) < 0.01
    assert c["spearman_abs_error_sigma"] > 0.2


def test_screen_streams_archives_skips_bad_files_and_resumes(tmp_path, capsys, monkeypatch):
    import tarfile
    import zipfile
    out = tmp_path / "run"
    folder = train_tiny(tmp_path, monkeypatch, out, epochs=1)
    cifs = sorted(folder.glob("*.cif"))
    (folder / "broken.cif").write_text("data_x\n_cell_length_a 3\n")
    with tarfile.open(tmp_path / "part.tar.xz", "w:xz") as tf:
        for f in cifs[:10] + [folder / "broken.cif"]:
            tf.add(f, arcname=f"mofs/{f.name}")
    with zipfile.ZipFile(tmp_path / "part.zip", "w") as zf:
        for f in cifs[10:]:
            zf.write(f, arcname=f.name)
    ranked = tmp_path / "ranked.csv"
    args = ["screen", str(out), str(tmp_path / "part.tar.xz"), "--out", str(ranked), "--workers", "2",
            "--batch-size", "4"]
    assert main(args[:3] + ["--out", str(ranked), "--workers", "2", "--batch-size", "4"]) == 0  # the archive alone
    first = pd.read_csv(ranked)
    assert len(first) == 10 and "broken" in (tmp_path / "ranked_skipped.csv").read_text()
    assert main(args[:3] + [str(tmp_path / "part.zip")] + args[3:] + ["--top-attention", "3"]) == 0  # resumed
    assert "11 done before" in capsys.readouterr().out  # 10 predicted + 1 skipped
    table = pd.read_csv(ranked)
    assert len(table) == 24 and table["rank"].tolist() == list(range(1, 25))
    assert table.iloc[:, 2].is_monotonic_decreasing
    direct = tmp_path / "direct.csv"
    assert main(["predict", str(out), str(folder), "--out", str(direct)]) == 0
    d = pd.read_csv(direct).set_index("id").iloc[:, 1]
    for row in table.itertuples():
        assert abs(d[row.id] - row[3]) < 1e-5  # the same numbers as predict
    atoms = pd.read_csv(tmp_path / "ranked_top3_atoms.csv")
    assert atoms["id"].unique().tolist() == table["id"][:3].tolist()


def test_the_graph_cutoff_reaches_graphs_model_and_checkpoint(tmp_path, monkeypatch):
    import torch
    out = tmp_path / "run6"
    train_tiny(tmp_path, monkeypatch, out, "--cutoff", "6", "--max-neighbors", "8", preset="edge", epochs=1)
    ckpt = torch.load(out / "checkpoint.pt", weights_only=False)
    assert ckpt["graph_settings"]["cutoff"] == 6.0 and ckpt["graph_settings"]["max_neighbors"] == 8
    assert ckpt["config"]["cutoff"] == 6.0  # the Gaussian grid spans the graph radius: 31 Gaussians
    assert ckpt["state_dict"]["edge_embed.weight"].shape[1] == 31


def test_edge_precision_is_recorded_and_followed_by_predict(tmp_path, monkeypatch):
    """``train --edge-precision bf16`` records the choice in metrics.json and the checkpoint; ``predict`` and
    ``evaluate`` use it unless ``--edge-precision`` says otherwise (bf16 predictions differ from fp32 ones, within bf16 rounding)."""
    from aecgcnn.checkpoint import load_checkpoint, trained_edge_precision
    from aecgcnn.models import fused
    out = tmp_path / "run"
    folder = train_tiny(tmp_path, monkeypatch, out, "--edge-precision", "bf16", preset="ae-cgcnn", epochs=1)
    assert json.loads((out / "metrics.json").read_text())["experiment"]["edge_precision"] == "bf16"
    assert trained_edge_precision(load_checkpoint(out)[1]) == "bf16"
    seen = []
    original = fused.edge_precision
    monkeypatch.setattr(fused, "edge_precision", lambda name: seen.append(name) or original(name))
    import aecgcnn.api
    monkeypatch.setattr(aecgcnn.api, "edge_precision", fused.edge_precision)
    preds = {}
    for flag in ([], ["--edge-precision", "fp32"]):
        path = tmp_path / f"p{len(flag)}.csv"
        assert main(["predict", str(out), str(folder), "--out", str(path), *flag]) == 0
        preds[len(flag)] = pd.read_csv(path).iloc[:, 2].to_numpy()
    assert seen == ["bf16", "fp32"]
    assert main(["evaluate", str(out), "--dataset", str(folder), "--split", "all"]) == 0  # tested as it was trained
    assert seen[2:] == ["bf16"]
    assert not (preds[0] == preds[2]).all()
    assert abs(preds[0] - preds[2]).max() < 0.05 * abs(preds[2]).max() + 1e-3


def test_reproduce_hands_the_notebook_absolute_paths_and_says_where_to_follow_its_runs(tmp_path, capsys,
                                                                                       monkeypatch):
    """`aecgcnn reproduce` runs the notebook in notebooks/, so relative path parameters are the caller's and are
    passed on absolute; it prints where the executed copy goes and the `status` command for the notebook's runs."""
    import papermill
    calls = []
    monkeypatch.setattr(papermill, "execute_notebook", lambda src, dst, **kw: calls.append((src, dst, kw)))
    monkeypatch.chdir(tmp_path)
    assert main(["reproduce", "table2", "--profile", "quick", "--out-dir", "executed", "-p", "out_dir", "mine",
                 "-p", "data_dir", "data", "-p", "seeds", "[0, 1]"]) == 0
    (src, dst, kw), = calls
    assert src.endswith("notebooks/03_table2_splits.ipynb") and dst.startswith("executed/03_table2_splits,")
    assert kw["parameters"] == {"profile": "quick", "out_dir": str(tmp_path / "mine"),
                                "data_dir": str(tmp_path / "data"), "seeds": [0, 1]}
    assert kw["cwd"].endswith("notebooks")
    assert "aecgcnn status mine/runs --open" in capsys.readouterr().out


def test_reproduce_names_the_executed_copy_after_its_parameters(tmp_path, monkeypatch):
    """A finished-only look or a side study started beside a running notebook must not overwrite that notebook's
    executed copy: only the profile alone gives the plain name."""
    import papermill
    calls = []
    monkeypatch.setattr(papermill, "execute_notebook", lambda src, dst, **kw: calls.append(dst.rsplit("/", 1)[-1]))
    for extra in ([], ["-p", "finished_only", "true"], ["-p", "sizes", "[300, 1000]"]):
        assert main(["reproduce", "table3", "--profile", "cpu", "--out-dir", str(tmp_path), *extra]) == 0
    assert calls == ["04_table3_geocgnn.ipynb", "04_table3_geocgnn,finished_only=true.ipynb",
                     calls[2]] and calls[2].startswith("04_table3_geocgnn,sizes=") and len(set(calls)) == 3


def test_reproduce_refuses_a_parameter_the_notebook_does_not_have(tmp_path, monkeypatch, capsys):
    """papermill injects any `-p` into the notebook, where an unknown name (a typo: `-p seed [1]`) is never read and
    the notebook silently runs its defaults: refuse it before anything runs, naming the notebook's parameters."""
    import papermill
    calls = []
    monkeypatch.setattr(papermill, "execute_notebook", lambda src, dst, **kw: calls.append(dst))
    assert main(["reproduce", "table3", "--profile", "cpu", "--out-dir", str(tmp_path), "-p", "seed", "[1]"]) == 2
    assert calls == []
    assert re.search(r"04_table3_geocgnn.ipynb has no parameter seed; its parameters: .*seeds", capsys.readouterr().err)
    # `all`: every notebook is checked before the first runs (only Table III has `sizes`)
    assert main(["reproduce", "all", "--profile", "cpu", "--out-dir", str(tmp_path), "-p", "sizes", "[300]"]) == 2
    assert calls == [] and "00_quickstart.ipynb has no parameter sizes" in capsys.readouterr().err
    assert main(["reproduce", "table3", "--profile", "cpu", "--out-dir", str(tmp_path), "-p", "train_side", "true"]) == 0
    assert len(calls) == 1


def test_init_from_starts_from_a_trained_models_weights_and_records_it(tmp_path, monkeypatch):
    """``train --init-from RUN`` (fine-tuning): the run starts from that model's weights and options (with learning
    rate 0 the weights stay the source's; batch-norm statistics and the refitted target normaliser aside) and its
    record names the starting model; an ensemble or other graph settings are refused."""
    import torch
    src = tmp_path / "src"
    folder = train_tiny(tmp_path, monkeypatch, src, preset="ae-cgcnn", epochs=1)
    tuned = tmp_path / "tuned"
    assert main(["train", "--dataset", str(folder), "--init-from", str(src), "--epochs", "1", "--lr", "0",
                 "--batch-size", "8", "--out", str(tuned)]) == 0
    assert json.loads((tuned / "metrics.json").read_text())["experiment"]["init_from"] == str(src)
    a = torch.load(src / "checkpoint.pt", weights_only=True)["state_dict"]
    b = torch.load(tuned / "checkpoint.pt", weights_only=True)["state_dict"]
    skip = ("running_", "num_batches", "normalizer")
    assert all(torch.equal(a[k], b[k]) for k in a if not any(s in k for s in skip))
    assert main(["train", "--dataset", str(folder), "--init-from", str(src), "--cutoff", "6", "--epochs", "1",
                 "--out", str(tmp_path / "other")]) == 2
    # --freeze convs: the embeddings and convolutions stay the source's at a learning rate that moves the rest
    frozen = tmp_path / "frozen"
    assert main(["train", "--dataset", str(folder), "--init-from", str(src), "--freeze", "convs", "--epochs", "2",
                 "--lr", "0.01", "--batch-size", "8", "--out", str(frozen)]) == 0
    c = torch.load(frozen / "checkpoint.pt", weights_only=True)["state_dict"]
    kept = [k for k in a if k.startswith(("embed.", "edge_embed.", "convs.")) and not any(s in k for s in skip)]
    assert kept and all(torch.equal(a[k], c[k]) for k in kept)
    assert not torch.equal(a["readout.0.weight"], c["readout.0.weight"])
    assert json.loads((frozen / "metrics.json").read_text())["experiment"]["freeze"] == "convs"
    assert main(["train", "--dataset", str(folder), "--freeze", "convs", "--out", str(tmp_path / "nofrom")]) == 2


def test_sigma_scale_is_the_gaussian_maximum_likelihood_factor():
    """s² = mean(((y − μ)/σ)²): errors drawn with standard deviation 2σ give s ≈ 2; the coverage curve of s·σ is
    then close to the Gaussian one (erf(k/√2): 0.383, 0.683, 0.866, 0.954, 0.988, 0.997)."""
    import math

    import numpy as np

    from aecgcnn.metrics import calibration, sigma_scale
    rng = np.random.default_rng(0)
    sigma = rng.uniform(0.5, 2.0, 20000)
    y = 2 * sigma * rng.standard_normal(20000)
    s = sigma_scale(y, np.zeros_like(y), sigma)
    assert abs(s - 2) < 0.05
    cov = calibration(y, np.zeros_like(y), s * sigma)["coverage"]
    for k, got in cov.items():
        assert abs(got - math.erf(float(k) / math.sqrt(2))) < 0.02
