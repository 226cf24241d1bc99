"""aecgcnn.workflow.archive: run records copied to a committed folder and back are reused as if trained here, an archived
training state resumes on a fresh machine, and restoring never overwrites a run that is further along or busy."""
import json
import re
import shutil
import subprocess
import sys
from dataclasses import replace

import pytest

from aecgcnn import experiment
from aecgcnn.workflow.archive import restore_runs, save_runs
from aecgcnn.cli import main
from aecgcnn.experiment import Experiment, finished_run, run_experiment, run_or_load


DATASET = "core2019-co2-0.15bar"


def tiny(out, data_dir, epochs=2, seed=0) -> Experiment:
    """A real (tiny) run: 32 CoRE MOFs."""
    return Experiment(dataset=DATASET, preset="cgcnn", train_size=32, val_size=16, test_size=16, epochs=epochs,
                      batch_size=16, seed=seed, data_dir=str(data_dir), out_dir=str(out), progress=False,
                      save_split_file=False)


def copy_data(source, target):
    """The files of the test dataset copied from data folder ``source`` into ``target``: a data folder of its own."""
    from aecgcnn.data.datasets import DATASETS
    for f in DATASETS[DATASET].files:
        (target / f).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(source / f, target / f)
    return target


def never_train(monkeypatch):
    monkeypatch.setattr(experiment, "run_experiment", lambda *a, **k: (_ for _ in ()).throw(AssertionError("trained")))


@pytest.fixture(scope="module")
def data(tmp_path_factory, any_data_dir):
    """A data folder that is not the demo sample (runs on the demo sample are not archived): a copy of its files."""
    return copy_data(any_data_dir, tmp_path_factory.mktemp("data"))


@pytest.fixture(scope="module")
def machine(tmp_path_factory, data):
    """A machine's runs/: one finished run, one interrupted after its first of two epochs (its records removed as a
    kill before the end leaves them), one planned and not started."""
    runs = tmp_path_factory.mktemp("runs")
    run_experiment(tiny(runs / "study" / "done", data))
    run_experiment(tiny(runs / "study" / "half", data, epochs=1, seed=1))
    for name in ("metrics.json", "checkpoint.pt", "test_predictions.csv"):
        (runs / "study" / "half" / name).unlink()
    experiment.record_plan(tiny(runs / "study" / "planned", data, seed=2))
    return runs


def test_a_restored_finished_run_is_reused_without_training(machine, data, tmp_path, monkeypatch):
    archive = tmp_path / "archive"
    report = save_runs(machine, archive)
    assert report.finished == ["study/done"] and report.states == []
    assert report.skipped == {"study/half": "unfinished (no --states)", "study/planned": "not started"}
    assert sorted(p.name for p in (archive / "study" / "done").iterdir()) == \
        ["history.csv", "metrics.json", "run.json", "test_predictions.csv"]  # no checkpoint without models
    assert save_runs(machine, archive).skipped["study/done"] == "up to date"

    fresh = tmp_path / "fresh"  # another machine: no runs at all
    assert restore_runs(archive, fresh).finished == ["study/done"]
    never_train(monkeypatch)
    exp = tiny(fresh / "study" / "done", data)
    restored, original = finished_run(exp), json.loads((machine / "study" / "done" / "metrics.json").read_text())
    assert restored is not None and restored["test"] == original["test"]
    assert run_or_load(exp)["history"] == experiment.read_run(machine / "study" / "done")["history"]
    assert finished_run(replace(exp, seed=5)) is None  # a record is only reused for its own experiment


def test_an_archived_training_state_resumes_on_a_fresh_machine(machine, data, tmp_path, monkeypatch):
    archive = tmp_path / "archive"
    report = save_runs(machine, archive, states=True, models=True)
    assert report.states == ["study/half"] and (archive / "study" / "done" / "checkpoint.pt").exists()
    fresh = tmp_path / "fresh"
    assert restore_runs(archive, fresh).states == ["study/half"]
    decisions = []
    monkeypatch.setattr(experiment, "run_experiment", lambda e, entries=None: decisions.append(e.resume) or {})
    run_or_load(tiny(fresh / "study" / "half", data, epochs=2, seed=1))
    assert decisions == [True]  # continued from epoch 1, not trained afresh

    # the run went on here (two epochs): the archive's one-epoch state does not overwrite it, and saving it back
    # replaces the archived state
    shutil.copy(fresh / "study" / "half" / "train_state.pt", tmp_path / "one_epoch.pt")
    monkeypatch.undo()
    run_experiment(replace(tiny(fresh / "study" / "half", data, epochs=2, seed=1), resume=True))
    assert restore_runs(archive, fresh).skipped["study/half"] == "finished here"
    assert save_runs(fresh, archive).finished == ["study/half"]
    assert not (archive / "study" / "half" / "train_state.pt").exists()  # a finished run keeps no state


def test_restore_leaves_a_run_that_is_further_along_or_busy(machine, tmp_path):
    archive = tmp_path / "archive"
    save_runs(machine, archive, states=True)
    local = tmp_path / "local"
    shutil.copytree(machine / "study" / "half", local / "study" / "half")
    assert restore_runs(archive, local).skipped["study/half"] == "as far along here"
    owner = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        busy = tmp_path / "busy"
        (busy / "study" / "done").mkdir(parents=True)
        (busy / "study" / "done" / ".lock").write_text(str(owner.pid))
        report = restore_runs(archive, busy)
        assert report.skipped["study/done"] == "busy (a live process trains it)" and report.finished == []
    finally:
        owner.kill()
        owner.wait()


def test_the_archive_command_saves_restores_and_names_a_missing_folder(machine, tmp_path, capsys):
    archive, fresh = tmp_path / "archive", tmp_path / "fresh"
    assert main(["archive", "save", "--runs", str(machine), "--archive", str(archive), "--states"]) == 0
    out = capsys.readouterr().out
    assert "saved 1 finished runs and 1 training states; left 1 (1 not started)" in out
    assert re.search(r"training state: study/half \(\d+\.\d MB\)", out)
    assert main(["archive", "restore", "--runs", str(fresh), "--archive", str(archive)]) == 0
    assert "restored 1 finished runs and 1 training states" in capsys.readouterr().out
    assert main(["archive", "restore", "--runs", str(fresh), "--archive", str(tmp_path / "nowhere")]) == 2
    assert "nowhere: no such archive folder" in capsys.readouterr().err


def test_a_restored_run_is_the_same_data_wherever_the_data_folder_lies(machine, data, tmp_path, monkeypatch):
    """Records keep the SHA-256 of each data file: a copy of the same files in another folder (another machine) is the
    same data; a changed file is not, and the finished run is then neither reused nor trained over."""
    from aecgcnn import InputError
    from aecgcnn.data.datasets import DATASETS
    archive, fresh = tmp_path / "archive", tmp_path / "fresh"
    save_runs(machine, archive)
    restore_runs(archive, fresh)
    never_train(monkeypatch)
    elsewhere = copy_data(data, tmp_path / "data elsewhere")
    exp = tiny(fresh / "study" / "done", elsewhere)
    recorded = json.loads((fresh / "study" / "done" / "metrics.json").read_text())
    assert recorded["data_root"] != str(elsewhere.resolve()) and set(recorded["data_sha256"]) == set(
        DATASETS[DATASET].files)
    assert finished_run(exp) is not None
    labels = next(elsewhere / f for f in DATASETS[DATASET].files if f.endswith(".csv"))
    labels.write_text(labels.read_text() + "\n")
    assert finished_run(exp) is None
    with pytest.raises(InputError, match="data: .* there, .* here"):
        run_or_load(exp)
    in_place = tiny(fresh / "study" / "done", fresh_data := copy_data(data, tmp_path / "in place"))
    restored = json.loads((fresh / "study" / "done" / "metrics.json").read_text())
    restored["data_root"] = str(fresh_data.resolve())  # as if trained from this folder, whose files then changed
    (fresh / "study" / "done" / "metrics.json").write_text(json.dumps(restored))
    labels = next(fresh_data / f for f in DATASETS[DATASET].files if f.endswith(".csv"))
    labels.write_text(labels.read_text() + "\n")
    with pytest.raises(InputError, match=r"\(recorded SHA-256\)' there, 'the same folder, files changed' here"):
        run_or_load(in_place)


def test_runs_on_the_demo_sample_are_not_archived(tmp_path):
    """The demo sample's runs (the notebook tests' quick profile) are rerun by anyone in minutes: save leaves them."""
    from aecgcnn.data.datasets import DEMO_DIR
    runs = tmp_path / "runs"
    run_experiment(tiny(runs / "demo", DEMO_DIR, epochs=1))
    report = save_runs(runs, tmp_path / "archive")
    assert report.skipped == {"demo": "demo data"} and not (tmp_path / "archive").exists()


def test_reproduce_names_the_archived_runs_a_restore_would_bring_in(machine, tmp_path, monkeypatch):
    """Before a notebook trains in the repository's runs/<profile>, `reproduce` says how many archived runs of that
    profile are missing there (a dry run: nothing is copied)."""
    from aecgcnn.workflow import archive
    repo = tmp_path / "repo"
    monkeypatch.setattr(archive, "REPOSITORY_ARCHIVE", repo / "results" / "runs")
    save_runs(machine, repo / "results" / "runs" / "cpu", states=True)
    hint = archive.restore_hint(repo / "runs" / "cpu")
    assert "holds 1 finished runs and 1 training states" in hint and "aecgcnn archive restore" in hint
    assert not (repo / "runs").exists()
    assert archive.restore_hint(repo / "runs" / "quick") is None and archive.restore_hint(tmp_path / "x" / "cpu") is None
    restore_runs(repo / "results" / "runs" / "cpu", repo / "runs" / "cpu")
    assert archive.restore_hint(repo / "runs" / "cpu") is None


def test_every_committed_record_is_read_by_this_version():
    """The archive committed with the code (results/runs) stays readable as the code changes: every run's
    configuration and recorded experiment is a valid experiment here (unknown or renamed keys would be an error), and
    every finished run has its per-epoch history."""
    from aecgcnn.workflow.archive import REPOSITORY_ARCHIVE
    from aecgcnn.experiment import experiment_from_dict
    from aecgcnn.workflow.status import find_runs
    runs = find_runs([REPOSITORY_ARCHIVE]) if REPOSITORY_ARCHIVE.is_dir() else []
    for run in runs:
        if (run / "run.json").exists():
            experiment_from_dict(json.loads((run / "run.json").read_text()), str(run / "run.json"))
        if (run / "metrics.json").exists():
            metrics = json.loads((run / "metrics.json").read_text())
            if "preset" in metrics.get("experiment", {}) or "model_config" in metrics:  # a network run, not a fit
                experiment_from_dict(metrics, str(run / "metrics.json"))
                assert experiment.read_run(run)["history"], run
