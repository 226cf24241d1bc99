"""Pretrained models (aecgcnn.pretrained): a finished run packaged with its model card, found by model or dataset
name by every command that takes a checkpoint, and every model shipped with the package loading and predicting."""
import csv
import json

import numpy as np
import pytest

from aecgcnn import InputError, pretrained
from aecgcnn.cli import main


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """A real (tiny) run on the demo sample: 48 CoRE MOFs, 2 epochs."""
    from aecgcnn.experiment import Experiment, run_experiment
    out = tmp_path_factory.mktemp("run")
    run_experiment(Experiment(dataset="core2019-co2-0.15bar", preset="cgcnn", train_size=48, val_size=16,
                              test_size=16, epochs=2, batch_size=16, out_dir=str(out), progress=False,
                              save_split_file=False))
    return out


def test_a_packaged_run_is_found_by_name_and_dataset_and_predicts(tiny_run, tmp_path, monkeypatch, core_cifs):
    root = tmp_path / "zoo"
    card_path = pretrained.package_run(tiny_run, "core-tiny-cgcnn", root)
    card = json.loads(card_path.read_text())
    metrics = json.loads((tiny_run / "metrics.json").read_text())
    assert card["test"] == metrics["test"] and card["split"]["train"] == 48 and card["units"] == "mol/kg"
    assert card["trained_with"]["commit"] == metrics["provenance"]["commit"]
    assert card["experiment"] == metrics["experiment"]  # every setting of the run, for reproducing it
    # a run started from a notebook records the kernel as its command: the reproducing command must be given
    kernel = tmp_path / "kernel_run"
    kernel.mkdir()
    (kernel / "checkpoint.pt").write_bytes((tiny_run / "checkpoint.pt").read_bytes())
    nb = {**metrics, "provenance": {**metrics["provenance"], "command": "/usr/bin/python -m ipykernel_launcher -f k.json"}}
    (kernel / "metrics.json").write_text(json.dumps(nb))
    with pytest.raises(ValueError, match="trained in a notebook kernel"):
        pretrained.package_run(kernel, "nb", tmp_path / "zoo2")
    nb_card = json.loads(pretrained.package_run(kernel, "nb", tmp_path / "zoo2",
                                                command="aecgcnn reproduce table1 --profile cpu").read_text())
    assert nb_card["trained_with"]["command"] == "aecgcnn reproduce table1 --profile cpu"
    assert pretrained.find("core-tiny-cgcnn", root) == pretrained.find("core2019-co2-0.15bar", root)
    # a newer default of the same dataset takes over, and the dataset name has one default only
    pretrained.package_run(tiny_run, "core-tiny-v2", root)
    assert pretrained.find("core2019-co2-0.15bar", root) == root / "core-tiny-v2" / "checkpoint.pt"
    assert [c["name"] for c in pretrained.cards(root) if c["default_for_dataset"]] == ["core-tiny-v2"]
    pretrained.package_run(tiny_run, "core-tiny-cgcnn", root)  # back, as the rest of the test expects
    assert [c["name"] for c in pretrained.cards(root) if c["default_for_dataset"]] == ["core-tiny-cgcnn"]
    with pytest.raises(InputError, match=r"nope: no pretrained model .*core-tiny-cgcnn"):
        pretrained.resolve("nope", root)
    monkeypatch.setattr(pretrained, "PRETRAINED_DIR", root)
    cifs = tmp_path / "cifs"
    cifs.mkdir()
    for name, text in core_cifs.items():
        (cifs / f"{name}.cif").write_text(text)
    outs = {}
    for how, argv in {"path": [str(tiny_run / "checkpoint.pt"), str(cifs)],
                      "name": ["core-tiny-cgcnn", str(cifs)],
                      "flag": ["--pretrained", "core2019-co2-0.15bar", str(cifs)],
                      "dataset": ["core2019-co2-0.15bar", str(cifs)]}.items():
        outs[how] = tmp_path / f"{how}.csv"
        assert main(["predict", *argv, "--out", str(outs[how]), "--device", "cpu"]) == 0
    rows = {how: list(csv.reader(open(p)))[1:] for how, p in outs.items()}
    assert len(rows["path"]) == len(core_cifs) and rows["path"] == rows["name"] == rows["flag"] == rows["dataset"]
    assert main(["predict", str(cifs), "--out", str(tmp_path / "x.csv")]) == 2  # no model: a clear error


def test_every_shipped_model_loads_and_predicts(core_cifs):
    import aecgcnn
    shipped = pretrained.cards()
    assert shipped, "no pretrained model is shipped"
    for card in shipped:
        loaded = aecgcnn.load_model(card["name"])
        model, meta = loaded.net, loaded.meta
        assert (meta["dataset"], meta["units"], meta["kind"]) == (card["dataset"], card["units"], card["model_kind"])
        assert sum(p.numel() for p in model.parameters()) == card["n_parameters"]
        assert {"mae", "rmse", "r2", "srcc", "n"} <= set(card["test"]) and card["trained_with"]["command"]
        assert "ipykernel" not in card["trained_with"]["command"]
        import tempfile
        from pathlib import Path
        with tempfile.TemporaryDirectory() as tmp:
            for name, text in core_cifs.items():
                (Path(tmp) / f"{name}.cif").write_text(text)
            pred = loaded.predict([tmp])
        assert len(pred) == len(core_cifs) and np.isfinite(pred[loaded.prediction_column]).all()


#: shipped models whose runs were trained on machines that are gone, before runs were archived: their cards keep the
#: run's record, not its history; they are the models the retraining of every shipped model replaces (issue 39)
UNARCHIVED = {"core2019-co2-16bar-ae-cgcnn", "core2019-co2-henry-ae-cgcnn", "mp-megnet-2018-ae-cgcnn"}


def test_a_shipped_model_of_a_profile_run_is_that_runs_archived_record():
    """Every shipped model (but the :data:`UNARCHIVED` ones) must be a run the committed archive (``results/runs``)
    records: same test metrics, best epoch and commit. A rerun that changed the record
    (new code, new numerics) leaves the shipped model stale until it is packaged again
    (``scripts/package_pretrained.py``)."""
    from pathlib import PurePosixPath

    from aecgcnn.workflow.archive import REPOSITORY_ARCHIVE
    checked = 0
    for card in pretrained.cards():
        parts = PurePosixPath(card["experiment"]["out_dir"]).parts
        record = REPOSITORY_ARCHIVE.joinpath(*parts[parts.index("runs") + 1:], "metrics.json") if "runs" in parts \
            else None
        if card["name"] in UNARCHIVED:
            assert record is None or not record.is_file(), f"{card['name']} is archived now: drop it from UNARCHIVED"
            continue
        assert record is not None and record.is_file(), \
            f"{card['name']}: its run {card['experiment']['out_dir']} has no record in {REPOSITORY_ARCHIVE}"
        m = json.loads(record.read_text())
        assert (card["test"], card["best_epoch"], card["trained_with"]["commit"]) == (
            m["test"], m["best_epoch"], m["provenance"]["commit"]), \
            f"{card['name']}: shipped model differs from the archived run {record}; package that run again"
        checked += 1
    assert checked, "no shipped model names an archived profile run"


def test_henry_comparison_takes_a_model_without_a_run_from_its_shipped_card(tiny_run, tmp_path):
    """scripts/henry_comparison.py: a finished run gives its model's row; a model with no run there is read from the
    card of its shipped model, and that row equals the one its run gives (the card keeps the run's record); cards of
    other datasets, and of a model that has a run, are not read."""
    import shutil
    import sys
    from pathlib import Path
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
    import henry_comparison as hc
    card = json.loads(pretrained.package_run(tiny_run, "henry-tiny-cgcnn", tmp_path / "zoo").read_text())
    henry_card = {**card, "dataset": hc.DATASET}
    runs = tmp_path / "henry"
    runs.mkdir()
    rows, commands, commits = hc.our_rows(runs, [card, henry_card])
    assert [r["run"] for r in rows] == ["shipped model henry-tiny-cgcnn"]
    metrics = json.loads((tiny_run / "metrics.json").read_text())
    assert rows[0]["test MAE"] == metrics["test"]["mae"] and rows[0]["train / val / test"] == "48 / 16 / 16"
    assert commands == [metrics["provenance"]["command"]] and commits == {metrics["provenance"]["commit"]}
    shutil.copytree(tiny_run, runs / "cgcnn-seed0")
    from_run, _, _ = hc.our_rows(runs, [henry_card])
    assert [r["run"] for r in from_run] == ["cgcnn-seed0"]
    assert {**from_run[0], "run": ""} == {**rows[0], "run": ""}
