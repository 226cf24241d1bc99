"""The CLI end to end on a tiny CGCNN-layout folder: train, predict (with a bad CIF), evaluate."""
import json

import pandas as pd
from conftest import one_atom_fcc, rocksalt, triclinic
from pymatgen.io.cif import CifWriter

from aecgcnn.cli import main


def make_folder(tmp_path):
    folder = tmp_path / "mine"
    folder.mkdir()
    lines = []
    for k in range(24):
        s = [triclinic, rocksalt, one_atom_fcc][k % 3]()
        s.scale_lattice(s.volume * (1 + 0.02 * k))
        (folder / f"c{k}.cif").write_text(str(CifWriter(s)))
        lines.append(f"c{k},{0.1 * k}")
    (folder / "id_prop.csv").write_text("\n".join(lines) + "\n")
    return folder


def test_train_predict_evaluate(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("AECGCNN_CACHE", str(tmp_path / "cache"))
    folder = make_folder(tmp_path)
    out = tmp_path / "run"
    assert main(["train", "--dataset", str(folder), "--preset", "cgcnn", "--epochs", "2", "--batch-size", "8",
                 "--out", str(out)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["sizes"]["train"] + metrics["sizes"]["val"] + metrics["sizes"]["test"] == 24
    assert len(pd.read_csv(out / "history.csv")) == 2
    new = tmp_path / "new"
    new.mkdir()
    (new / "good.cif").write_text((folder / "c1.cif").read_text())
    (new / "bad.cif").write_text("this is not a CIF")
    preds = tmp_path / "preds.csv"
    assert main(["predict", str(out / "checkpoint.pt"), str(new), "--out", str(preds),
                 "--attention", str(tmp_path / "atoms.csv")]) == 0
    table = pd.read_csv(preds)
    assert table["id"].tolist() == ["good"]
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


def test_bad_dataset_is_a_clear_error(capsys):
    assert main(["train", "--dataset", "no-such-thing", "--epochs", "1"]) == 2
    assert "neither a named dataset" in capsys.readouterr().err


def test_python_dash_m_runs_the_same_command_line():
    import subprocess
    import sys
    r = subprocess.run([sys.executable, "-m", "aecgcnn", "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "train" in r.stdout
