"""aecgcnn.workflow.status: the state of every run folder of a study (finished / training / interrupted), its progress and
the time its remaining epochs need at the recent pace; ``aecgcnn status`` on a real (tiny) run."""
import json
import os
from pathlib import Path

from aecgcnn.workflow.status import estimate_paces, find_runs, parallel_time, run_status, status_table

HEAD = "epoch,train_loss,train_mae,val_loss,val_mae,val_srcc,seconds\n"


def write_run(folder, rows, plan=None, finished=False, lock_pid=None):
    folder.mkdir(parents=True)
    (folder / "history.csv").write_text(HEAD + "".join(f"{e},1,1,1,{v},0.5,{s}\n" for e, v, s in rows))
    if plan is not None:
        (folder / "run.json").write_text(json.dumps(plan))
    if finished:
        (folder / "metrics.json").write_text(json.dumps({"experiment": plan, "test": {"mae": 0.25}}))
    if lock_pid is not None:
        (folder / ".lock").write_text(str(lock_pid))


def test_states_progress_and_time_still_needed(tmp_path):
    plan = {"preset": "ae-cgcnn", "dataset": "toy", "epochs": 10}
    write_run(tmp_path / "a" / "seed0", [(1, 0.5, 10), (2, 0.3, 10)], plan, finished=True)
    # interrupted after 4 of 10 epochs: the pace is the mean of the last 3 epochs (20, 30, 40 s -> 30 s)
    write_run(tmp_path / "a" / "seed1", [(1, 0.6, 100), (2, 0.4, 20), (3, 0.45, 30), (4, 0.5, 40)], plan)
    write_run(tmp_path / "b", [(1, 0.7, 5)], plan, lock_pid=os.getpid())  # a live owner: training
    write_run(tmp_path / "c", [(1, 0.9, 7)], None)  # started before run.json existed: plan unknown
    write_run(tmp_path / "d", [(1, 0.9, 7)], plan, lock_pid=2 ** 22 + 12345)  # lock of a dead process
    runs = find_runs([tmp_path])
    assert [r.relative_to(tmp_path).as_posix() for r in runs] == ["a/seed0", "a/seed1", "b", "c", "d"]
    s = {r.relative_to(tmp_path).as_posix(): run_status(r) for r in runs}
    assert s["a/seed0"]["state"] == "finished" and s["a/seed0"]["test_mae"] == 0.25
    assert s["a/seed0"]["remaining_s"] is None
    assert s["a/seed1"]["state"] == "interrupted" and s["a/seed1"]["epoch"] == 4
    assert (s["a/seed1"]["best_val_mae"], s["a/seed1"]["best_epoch"]) == (0.4, 2)
    assert s["a/seed1"]["epoch_s"] == 30 and s["a/seed1"]["remaining_s"] == 6 * 30
    assert s["b"]["state"] == f"training (pid {os.getpid()})" and s["b"]["remaining_s"] == 9 * 5
    assert s["c"]["epochs"] is None and s["c"]["remaining_s"] is None
    assert s["d"]["state"] == "interrupted"
    lines = status_table(list(s.values()), tmp_path)  # still needed: 180 + 45 + 63 s = 4.8 min
    assert lines[2].startswith("| a/seed0 | ae-cgcnn | finished | 2/10 | 0.3 (2) | 10 |  | 0.25 |")
    assert "| a/seed1 | ae-cgcnn | interrupted | 4/10 | 0.4 (2) | 30 | 3 min |" in lines[3]
    assert lines[-1] == ("1 finished, 3 interrupted, 1 training; 3 unfinished runs with a recorded plan need "
                         "5 min more at the recent pace (1 started before plans were recorded: epochs planned "
                         "unknown)")
    # on 2 processes: b (45 s) keeps its process, a/seed1 (180 s) takes the free one, d (63 s) follows b: 180 s
    assert status_table(list(s.values()), tmp_path, processes=2)[-1].startswith(
        "1 finished, 3 interrupted, 1 training; 3 unfinished runs with a recorded plan need 5 min more at the recent "
        "pace, about 3 min on 2 processes in parallel (1 started")
    one = status_table([s["a/seed1"]], tmp_path)[-1]
    assert one == "1 interrupted; 1 unfinished run with a recorded plan needs 3 min more at the recent pace"


def test_status_command(tmp_path, capsys):
    """``aecgcnn status FOLDER [--open]``; a folder that does not exist is a clear error. (That a run writes its
    run.json when it starts: tests/test_cli.py, test_train_predict_evaluate.)"""
    from aecgcnn.cli import main
    plan = {"preset": "cgcnn", "dataset": "toy", "epochs": 2}
    write_run(tmp_path / "runs" / "tiny", [(1, 0.5, 3), (2, 0.4, 3)], plan, finished=True)
    assert main(["status", str(tmp_path / "runs")]) == 0
    text = capsys.readouterr().out
    assert "| tiny | cgcnn | finished | 2/2 | 0.4 (2) | 3 |  | 0.25 |" in text and text.rstrip().endswith("1 finished")
    fit = tmp_path / "runs" / "descriptors-gb" / "seed0"  # a descriptor fit: no epochs, its model kind names it
    fit.mkdir(parents=True)
    (fit / "metrics.json").write_text(json.dumps({"experiment": {"dataset": "toy", "regressor": "gb"},
                                                  "model_kind": "descriptors-gb", "test": {"mae": 0.5}}))
    assert main(["status", str(tmp_path / "runs")]) == 0
    assert "| descriptors-gb/seed0 | descriptors-gb | finished |  |  |  |  | 0.5 |" in capsys.readouterr().out
    assert main(["status", str(tmp_path / "runs"), "--open"]) == 0
    assert capsys.readouterr().out.rstrip().endswith("no runs")
    assert main(["status", str(tmp_path / "nowhere")]) == 2
    assert "nowhere: no such folder" in capsys.readouterr().err


def test_runs_not_started_take_the_pace_of_the_most_similar_run(tmp_path):
    """A queue records the plan of every run it will train: such a run is *not started*, and its time comes from the
    runs whose plans agree on what an epoch costs (model, data, batch, precision...), the nearest size scaled by
    crystals per epoch (training + a third of validation); an unlike run stays unknown."""
    plan = {"preset": "geocgnn", "dataset": "mp", "epochs": 30, "batch_size": 64, "val_size": 600}
    write_run(tmp_path / "n1000" / "seed0", [(1, 0.5, 12), (2, 0.4, 12)], {**plan, "train_size": 1000})
    write_run(tmp_path / "n3000" / "seed0", [(1, 0.5, 31), (2, 0.4, 33)], {**plan, "train_size": 3000})
    write_run(tmp_path / "n3000" / "seed1", [(1, 0.5, 33), (2, 0.4, 35)], {**plan, "train_size": 3000})
    for name, changes in {"n6000": {"train_size": 6000}, "n1000-b256": {"train_size": 1000, "batch_size": 256},
                          "full": {"train_size": None}}.items():  # "mp" is no dataset we know: matched by name
        (tmp_path / name / "seed0").mkdir(parents=True)
        (tmp_path / name / "seed0" / "run.json").write_text(json.dumps({**plan, **changes}))
    s = {r.relative_to(tmp_path).as_posix(): run_status(r) for r in find_runs([tmp_path])}
    assert s["n6000/seed0"]["state"] == "not started" and s["n6000/seed0"]["epoch_s"] is None
    estimate_paces(list(s.values()))
    # nearest size: the two 3,000 runs (paces 32 s and 34 s at 3,200 crystals per epoch) scaled to 6,200
    assert s["n6000/seed0"]["estimated"] and abs(s["n6000/seed0"]["epoch_s"] - 33 * 6200 / 3200) < 1e-9
    assert abs(s["n6000/seed0"]["remaining_s"] - 30 * 33 * 6200 / 3200) < 1e-6
    assert s["n1000-b256/seed0"]["remaining_s"] is None and s["full/seed0"]["remaining_s"] is None
    assert not s["n3000/seed1"]["estimated"] and s["n3000/seed1"]["epoch_s"] == 34  # measured paces stay
    lines = status_table(list(s.values()), tmp_path)
    assert "| n6000/seed0 | geocgnn | not started | 0/30 |  | ≈ 64 | ≈ 32 min |  |" in lines
    assert "| full/seed0 | geocgnn | not started | 0/30 |  |  | ? |  |" in lines
    # still needed: 28 × 12 + 28 × 32 + 28 × 34 + 30 × 63.9 s = 68.4 min
    assert lines[-1] == ("3 interrupted, 3 not started; 4 unfinished runs with a recorded plan need 1 h 08 min more at "
                         "the recent pace (≈: no epoch yet, the pace of the most similar run scaled to its size) "
                         "(2 with no epoch yet and no similar run to take a pace from: time unknown)")


def test_datasets_with_the_same_structures_share_a_pace(tmp_path):
    """CoRE-2019 at 16 bar reads the same MOFs as at 0.15 bar: a 16 bar run not started takes the 0.15 bar pace;
    MP crystals are other structures and do not."""
    plan = {"preset": "ae-cgcnn", "epochs": 30, "batch_size": 64, "val_size": 500, "train_size": 2000}
    write_run(tmp_path / "low", [(1, 0.5, 150), (2, 0.4, 160)], {**plan, "dataset": "core2019-co2-0.15bar"})
    for name, dataset in (("high", "core2019-co2-16bar"), ("mp", "mp-megnet-2018")):
        (tmp_path / name).mkdir()
        (tmp_path / name / "run.json").write_text(json.dumps({**plan, "dataset": dataset}))
    s = {Path(r["run"]).name: r for r in estimate_paces([run_status(r) for r in find_runs([tmp_path])])}
    assert s["high"]["estimated"] and s["high"]["epoch_s"] == 155 and s["mp"]["epoch_s"] is None


def test_parallel_time_keeps_training_runs_on_their_process_and_hands_out_the_rest_longest_first():
    assert parallel_time([], [], 2) == 0
    assert parallel_time([10, 10, 10], [False] * 3, 2) == 20  # 10 + 10 on one process, 10 on the other
    assert parallel_time([10, 10, 10], [False] * 3, 1) == 30  # one process: one after another
    # the training 100 s run keeps its process; 50, 30 and 20 s go to the other (50 + 30 + 20 = 100)
    assert parallel_time([100, 50, 30, 20], [True, False, False, False], 2) == 100
    assert parallel_time([20, 50], [True, False], 2) == 50
    assert parallel_time([30, 20, 10], [True] * 3, 2) == 30  # more runs training than processes: the 10 s one waits
    assert parallel_time([60, 50, 40, 30, 20], [False] * 5, 3) == 70  # LPT: 60 | 50+20 | 40+30


def test_status_command_gives_the_parallel_time(tmp_path, capsys):
    from aecgcnn.cli import main
    plan = {"preset": "cgcnn", "dataset": "toy", "epochs": 10}
    for i in range(3):  # three interrupted runs, 9 epochs of 60 s left each
        write_run(tmp_path / f"seed{i}", [(1, 0.5, 60)], plan)
    assert main(["status", str(tmp_path)]) == 0
    assert capsys.readouterr().out.rstrip().splitlines()[-2].endswith("need 27 min more at the recent pace")
    assert main(["status", str(tmp_path), "--processes", "2"]) == 0
    assert "need 27 min more at the recent pace, about 18 min on 2 processes in parallel" in capsys.readouterr().out
    assert main(["status", str(tmp_path), "--processes", "0"]) == 2
    assert "--processes 0: give 1 or more" in capsys.readouterr().err
