"""aecgcnn.experiment: run reuse (waiting for a live owner, records of older versions), resuming, seeding."""
import subprocess
import sys


def test_run_or_load_waits_for_the_owner_then_reuses(tmp_path, monkeypatch):
    """A run that another live process is training is waited for and then reused, not trained twice."""
    import json
    import time
    from dataclasses import asdict

    from aecgcnn import experiment, runlock
    monkeypatch.setattr(runlock, "LOCK_POLL_SECONDS", 0.1)
    exp = experiment.Experiment(dataset="toy", preset="cgcnn", out_dir=str(tmp_path))
    (tmp_path / "history.csv").write_text("epoch,val_mae\n1,0.5\n")
    (tmp_path / "metrics.json").write_text(json.dumps({"experiment": asdict(exp), "test": {}}))
    owner = subprocess.Popen([sys.executable, "-c", f"import time, os; time.sleep(1.5); os.remove({str(tmp_path / '.lock')!r})"])
    (tmp_path / ".lock").write_text(str(owner.pid))
    t = time.time()
    try:
        metrics = experiment.run_or_load(exp)  # "toy" is no dataset: training it would raise
    finally:
        owner.wait()
    assert time.time() - t >= 1.0
    assert metrics["history"] == [{"epoch": 1.0, "val_mae": 0.5}]


def test_the_seed_sets_the_initial_weights():
    """Seeds vary the model's initialisation, not only the data order; the same seed gives the same model."""
    import torch

    from aecgcnn.experiment import Experiment, initial_model
    a, b, c = (initial_model(Experiment(dataset="toy", preset="cgcnn", seed=s)) for s in (0, 0, 1))
    wa, wb, wc = (m.convs[0].w_edge.weight for m in (a, b, c))
    assert torch.equal(wa, wb) and not torch.equal(wa, wc)


def test_run_or_load_resumes_an_interrupted_run_and_reuses_old_records(tmp_path, monkeypatch):
    import json

    from aecgcnn import experiment
    from aecgcnn.experiment import Experiment, run_identity, run_or_load, same_experiment
    exp = Experiment(dataset="x", out_dir=str(tmp_path))
    record = {k: v for k, v in json.loads(json.dumps(experiment.asdict(exp))).items() if k != "resume"}
    assert same_experiment(record, exp)  # a record written before the ``resume`` field existed
    assert not same_experiment({**record, "seed": 1}, exp)
    calls = []
    monkeypatch.setattr(experiment, "run_experiment", lambda e, entries=None: calls.append(e.resume) or {})
    import torch
    torch.save({"identity": run_identity(exp)}, tmp_path / "train_state.pt")
    run_or_load(exp, entries=[])
    torch.save({"identity": {**run_identity(exp), "seed": 5}}, tmp_path / "train_state.pt")
    run_or_load(exp, entries=[])
    assert calls == [True, False]


def test_records_older_than_a_key_are_read_with_the_value_they_computed(tmp_path, monkeypatch):
    """A metrics.json or training state written before ``edge_precision`` existed computed in float32: such runs
    are reused and resumed by fp32 experiments only (experiment.LEGACY_VALUES), not by bf16 ones."""
    import json

    import pytest
    import torch

    from aecgcnn import InputError, experiment
    from aecgcnn.experiment import Experiment, run_identity, run_or_load, same_experiment
    fp32 = Experiment(dataset="x", out_dir=str(tmp_path), edge_precision="fp32")
    bf16 = Experiment(dataset="x", out_dir=str(tmp_path), edge_precision="bf16")
    old = {k: v for k, v in json.loads(json.dumps(experiment.asdict(fp32))).items() if k != "edge_precision"}
    assert same_experiment(old, fp32) and not same_experiment(old, bf16)
    assert "edge_precision" not in run_identity(fp32) and run_identity(bf16)["edge_precision"] == "bf16"
    calls = []
    monkeypatch.setattr(experiment, "run_experiment", lambda e, entries=None: calls.append(e.resume) or {})
    old_identity = {k: v for k, v in run_identity(fp32).items()}  # what an older version stored
    torch.save({"identity": old_identity}, tmp_path / "train_state.pt")
    run_or_load(fp32, entries=[])
    run_or_load(bf16, entries=[])
    assert calls == [True, False]
    with pytest.raises(InputError, match="edge_precision"):
        Experiment(dataset="x", edge_precision="fp16")
    # a complete record of an older version (--config metrics.json) trains what it trained; a partial one takes
    # the defaults
    assert experiment.experiment_from_dict(old).edge_precision == "fp32"
    assert experiment.experiment_from_dict({"dataset": "mp-megnet-2018"}).edge_precision == "bf16"


def test_the_default_edge_precision_is_the_one_that_met_the_bar_on_the_dataset_task():
    """bf16 per-edge GEMMs by default on formation energies (MP: within the 2 % bar), float32 on MOF uptakes (CoRE:
    bf16 measured 2.4 % worse) and on a user's own data; an explicit choice always wins."""
    from aecgcnn.experiment import Experiment
    assert Experiment(dataset="mp-megnet-2018").edge_precision == "bf16"
    for name in ("core2019-co2-0.15bar", "core2019-co2-16bar", "core2019-co2-henry", "my/folder"):
        assert Experiment(dataset=name).edge_precision == "fp32"
    assert Experiment(dataset="core2019-co2-16bar", edge_precision="bf16").edge_precision == "bf16"


def test_geocgnn_runs_of_the_protocol_weight_decay_are_neither_reused_nor_resumed_under_its_own(tmp_path, monkeypatch):
    """Runs recorded before GeoCGNN had its own recipe (weight decay 0, aecgcnn.protocols.MODEL_TRAIN) trained with
    the protocol's 5e-4: the default GeoCGNN experiment neither reuses nor resumes them and refuses to train over
    them; an explicit ``weight_decay=5e-4`` reuses them (the settings are compared as resolved), and an AE-CGCNN
    state of before still resumes."""
    import json

    import pytest
    import torch

    from aecgcnn import InputError, experiment
    from aecgcnn.experiment import Experiment, run_identity, run_or_load, same_experiment
    geo = Experiment(dataset="x", preset="geocgnn", out_dir=str(tmp_path))
    old_record = json.loads(json.dumps(experiment.asdict(geo)))  # weight_decay None, resolved by the protocol
    old_train = {"epochs": 50, "lr": 1e-3, "weight_decay": 5e-4, "batch_size": 64}
    assert not same_experiment(old_record, geo, old_train) and not same_experiment(old_record, geo)
    assert same_experiment({**old_record, "out_dir": "elsewhere"}, Experiment(**{**old_record, "weight_decay": 5e-4}),
                           old_train)
    assert experiment.experiment_differences(old_record, geo, old_train) == {"weight_decay": (5e-4, 0.0)}
    # a state written before: the identity then had no resolved settings
    old_identity = {k: v for k, v in run_identity(geo).items() if k != "train_settings"}
    assert run_identity(geo)["train_settings"]["weight_decay"] == 0.0
    ae = Experiment(dataset="x", out_dir=str(tmp_path / "ae"))
    assert "train_settings" not in run_identity(ae)  # unchanged recipe: the identity of before
    calls = []
    monkeypatch.setattr(experiment, "run_experiment", lambda e, entries=None: calls.append(e.resume) or {})
    torch.save({"identity": old_identity}, tmp_path / "train_state.pt")
    run_or_load(geo, entries=[])
    assert calls == [False]  # trained afresh, not resumed with weight decay 5e-4 in the optimiser state
    (tmp_path / "metrics.json").write_text(json.dumps({"experiment": old_record, "train_settings": old_train}))
    (tmp_path / "history.csv").write_text("epoch\n")
    with pytest.raises(InputError, match=r"weight_decay: 0.0005 there, 0.0 here"):
        run_or_load(geo, entries=[])
    # `aecgcnn train --config metrics.json` redoes such a run as it trained, not with today's recipe
    redo = experiment.experiment_from_dict({"experiment": old_record, "train_settings": old_train})
    assert redo.weight_decay == 5e-4 and same_experiment(old_record, redo, old_train)


def test_a_run_configuration_round_trips_and_unknown_keys_are_refused(tmp_path):
    """``aecgcnn train --config`` takes an Experiment record (run.json or a run's metrics.json); typos are errors."""
    import json
    from dataclasses import asdict

    import pytest

    from aecgcnn import InputError
    from aecgcnn.cli import _experiment_from_args, build_parser
    from aecgcnn.experiment import Experiment, experiment_from_dict
    exp = Experiment(dataset="core2019-co2-16bar", preset="atten2", epochs=7, overrides={"n_heads": 4}, seed=3)
    assert experiment_from_dict(json.loads(json.dumps(asdict(exp)))) == exp
    assert experiment_from_dict({"experiment": asdict(exp), "test": {}}) == exp  # a metrics.json
    with pytest.raises(InputError, match=r"run.json: unknown keys \['epoch'\]"):
        experiment_from_dict({"dataset": "x", "epoch": 3}, "run.json")
    (tmp_path / "run.json").write_text(json.dumps(asdict(exp)))
    args = build_parser().parse_args(["train", "--config", str(tmp_path / "run.json"), "--resume"])
    assert _experiment_from_args(args) == Experiment(**{**asdict(exp), "resume": True})
    with pytest.raises(InputError, match="needs --dataset"):
        _experiment_from_args(build_parser().parse_args(["train"]))


def test_run_seeds_finished_only_collects_finished_runs_and_trains_none(tmp_path, monkeypatch):
    """``finished_only``: the seeds whose runs finished are collected, interrupted or absent ones are skipped, and
    nothing trains; the spread is the sample standard deviation (ddof 1)."""
    import json
    from dataclasses import asdict

    from aecgcnn import experiment
    from aecgcnn.experiment import Experiment, run_seeds, seed_experiment
    exp = Experiment(dataset="toy", preset="cgcnn", out_dir=str(tmp_path))
    for seed, mae in ((0, 0.5), (2, 0.7)):
        sub = seed_experiment(exp, seed)
        out = tmp_path / f"seed{seed}"
        out.mkdir()
        (out / "history.csv").write_text("epoch,val_mae\n1,0.5\n")
        (out / "metrics.json").write_text(json.dumps({"experiment": asdict(sub), "data_root": "user",
                                                       "test": {"mae": mae}, "train": {"mae": 0.1}}))
    (tmp_path / "seed1").mkdir()
    (tmp_path / "seed1" / "history.csv").write_text("epoch,val_mae\n1,0.5\n")  # interrupted: no metrics.json
    monkeypatch.setattr(experiment, "run_experiment", lambda *a, **k: (_ for _ in ()).throw(AssertionError("trained")))
    r = run_seeds(exp, [0, 1, 2], finished_only=True)
    assert r["seeds"] == [0, 2] and [m["test"]["mae"] for m in r["runs"]] == [0.5, 0.7]
    assert r["test"]["mae"][0] == 0.6 and abs(r["test"]["mae"][1] - (0.02 / 1) ** 0.5) < 1e-12  # ddof 1
    assert run_seeds(exp, [5], finished_only=True) == {"runs": [], "seeds": [], "test": {}, "train": {}}


def test_run_study_does_the_other_runs_first_while_another_process_trains_one(tmp_path, monkeypatch):
    """Two processes running the same study share it: a run another live process is training is put off until the
    rest of the queue is done, then waited for and reused, not trained twice."""
    import json
    from dataclasses import asdict

    from aecgcnn import experiment, runlock
    from aecgcnn.experiment import Experiment, run_study, seed_experiment
    monkeypatch.setattr(runlock, "LOCK_POLL_SECONDS", 0.1)
    exp = Experiment(dataset="toy", preset="cgcnn", out_dir=str(tmp_path / "a"))
    other = Experiment(dataset="toy", preset="edge", out_dir=str(tmp_path / "b"))
    busy = seed_experiment(exp, 0)
    out = tmp_path / "a" / "seed0"
    out.mkdir(parents=True)
    record = json.dumps({"experiment": asdict(busy), "test": {"mae": 0.5}, "train": {"mae": 0.2}})
    script = (f"import time, os, pathlib; time.sleep(1.0); d = pathlib.Path({str(out)!r}); "
              f"(d / 'history.csv').write_text('epoch,val_mae\\n1,0.5\\n'); (d / 'metrics.json').write_text({record!r}); "
              f"os.remove(d / '.lock')")
    owner = subprocess.Popen([sys.executable, "-c", script])
    (out / ".lock").write_text(str(owner.pid))
    trained = []

    plans_at_first_run = []

    def fake_run(e, entries=None):
        if not trained:  # every queued run has its plan before the first trains; the busy one keeps its owner's
            plans_at_first_run.extend(sorted(f.parent.relative_to(tmp_path).as_posix()
                                             for f in tmp_path.rglob("run.json")))
        trained.append((e.preset, e.seed))
        return {"test": {"mae": 0.1 * (e.seed + 1)}, "train": {"mae": 0.0}}
    monkeypatch.setattr(experiment, "run_experiment", fake_run)
    try:
        res = run_study({"a": (exp, [0, 1]), "b": (other, [0])}, entries=[])
    finally:
        owner.wait()
    assert plans_at_first_run == ["a/seed1", "b/seed0"]
    assert json.loads((tmp_path / "b" / "seed0" / "run.json").read_text()) == asdict(seed_experiment(other, 0))
    assert trained == [("cgcnn", 1), ("edge", 0)]  # the busy run was neither trained nor waited for first
    assert res["a"]["seeds"] == [0, 1] and [r["test"]["mae"] for r in res["a"]["runs"]] == [0.5, 0.2]
    assert res["b"]["test"]["mae"] == (0.1, 0.0)


def test_run_study_with_skip_busy_leaves_another_process_s_run_out_instead_of_waiting(tmp_path, monkeypatch):
    """``skip_busy``: the queue's own runs are trained, a run another live process is still training is left out of
    the result at once (no wait), and one that process finished meanwhile is collected."""
    import json
    from dataclasses import asdict

    from aecgcnn import experiment
    from aecgcnn.experiment import Experiment, run_study, seed_experiment
    exp = Experiment(dataset="toy", preset="cgcnn", out_dir=str(tmp_path))
    owner = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])  # trains seeds 0 and 1, never ends
    for seed in (0, 1):
        (tmp_path / f"seed{seed}").mkdir()
        (tmp_path / f"seed{seed}" / ".lock").write_text(str(owner.pid))
    trained = []

    def fake_run(e, entries=None):  # while this process trains seed 2, the owner finishes seed 1
        trained.append(e.seed)
        done = tmp_path / "seed1"
        (done / "history.csv").write_text("epoch,val_mae\n1,0.5\n")
        (done / "metrics.json").write_text(json.dumps({"experiment": asdict(seed_experiment(exp, 1)),
                                                       "test": {"mae": 0.4}, "train": {"mae": 0.1}}))
        (done / ".lock").unlink()
        return {"test": {"mae": 0.3}, "train": {"mae": 0.0}}
    monkeypatch.setattr(experiment, "run_experiment", fake_run)
    try:
        res = run_study({"a": (exp, [0, 1, 2])}, entries=[], skip_busy=True)
        assert (tmp_path / "seed0" / ".lock").exists() and owner.poll() is None  # returned while seed 0 trains
    finally:
        owner.kill()
        owner.wait()
    assert trained == [2]
    assert res["a"]["seeds"] == [1, 2] and [r["test"]["mae"] for r in res["a"]["runs"]] == [0.4, 0.3]


def test_run_study_gives_each_group_the_entries_of_its_own_dataset(tmp_path, monkeypatch):
    """One queue over several datasets (Table II: both pressures, both splits): ``entries`` as a dict gives each run
    its dataset's entries; a dataset missing from it is loaded once, when its first run needs it."""
    from aecgcnn import experiment
    from aecgcnn.experiment import Experiment, run_study
    loads, seen = [], []
    monkeypatch.setattr(experiment, "load_entries", lambda name, data_dir=None: loads.append(name) or [f"{name}-loaded"])
    monkeypatch.setattr(experiment, "run_experiment",
                        lambda e, entries=None: seen.append((e.dataset, e.split, e.seed, entries)) or
                        {"test": {"mae": 0.1}, "train": {"mae": 0.0}})
    groups = {(ds, split): (Experiment(dataset=ds, preset="ae-cgcnn", split=split, out_dir=str(tmp_path / ds / split)), [0, 1])
              for ds in ("p1", "p2", "p3") for split in ("70-30", "80-10-10")}
    res = run_study(groups, entries={"p1": ["a"], "p2": ["b"]})
    assert loads == ["p3"]  # only the dataset not given, once for its four runs
    assert seen == [(ds, split, seed, {"p1": ["a"], "p2": ["b"]}.get(ds, ["p3-loaded"]))
                    for ds in ("p1", "p2", "p3") for split in ("70-30", "80-10-10") for seed in (0, 1)]
    assert set(res) == set(groups) and all(r["seeds"] == [0, 1] for r in res.values())


def test_a_finished_run_of_another_experiment_is_never_trained_over(tmp_path, monkeypatch):
    """A folder that holds a finished run of other settings (or other data) is refused with the differences named;
    settings a run may be continued with (more epochs: --resume extends it) are not a difference."""
    import json
    from dataclasses import asdict, replace

    import pytest

    from aecgcnn import InputError, experiment
    from aecgcnn.experiment import Experiment, run_or_load
    exp = Experiment(dataset="x", epochs=3, out_dir=str(tmp_path))
    (tmp_path / "metrics.json").write_text(json.dumps({"experiment": asdict(exp), "data_root": "/data/a"}))
    monkeypatch.setattr(experiment, "_data_root", lambda e: "/data/a")
    calls = []
    monkeypatch.setattr(experiment, "run_experiment", lambda e, entries=None: calls.append(e.epochs) or {})
    with pytest.raises(InputError, match=r"holds a finished run of another experiment \(lr: 0.001 there, 0.01 here\); "
                                         r"it is not overwritten"):
        run_or_load(replace(exp, lr=0.01), entries=[])
    monkeypatch.setattr(experiment, "_data_root", lambda e: "demo")
    with pytest.raises(InputError, match=r"data: '/data/a' there, 'demo' here"):
        run_or_load(replace(exp, epochs=5), entries=[])
    monkeypatch.setattr(experiment, "_data_root", lambda e: "/data/a")
    run_or_load(replace(exp, epochs=5), entries=[])  # extending the same run is allowed
    assert calls == [5] and json.loads((tmp_path / "metrics.json").read_text())["experiment"]["epochs"] == 3
