"""The training loop: a run killed between epochs resumes bit for bit, and a state of another run is refused."""
import numpy as np
import pytest
import torch
from conftest import rocksalt, sparse_cubic, triclinic

from aecgcnn import InputError
from aecgcnn.data.batch import GraphDataset
from aecgcnn.graph import build_graph
from aecgcnn.models import model_from_preset
from aecgcnn.train import TrainConfig, train_model


def datasets():
    rng = np.random.default_rng(0)
    graphs, targets = [], []
    for i in range(12):
        s = [triclinic, rocksalt, sparse_cubic][i % 3]()
        for j in range(len(s)):
            s.translate_sites([j], rng.normal(scale=0.05, size=3), frac_coords=False)
        s.scale_lattice(s.volume * float(rng.uniform(0.9, 1.1)))
        graphs.append(build_graph(s, charges=rng.normal(size=len(s))))
        targets.append(float(rng.normal()))
    return GraphDataset(graphs[:9], targets[:9]), GraphDataset(graphs[9:], targets[9:])


def run(epochs, tmp_path, resume=False, identity=None, **options):
    torch.manual_seed(0)
    model = model_from_preset("ae-cgcnn", node_dim=16, n_conv=2, fc_hidden=16)
    cfg = TrainConfig(epochs=epochs, batch_size=4, seed=3, device="cpu", progress=False,
                      log_path=str(tmp_path / "history.csv"), state_path=str(tmp_path / "state.pt"), resume=resume,
                      **options)
    result = train_model(model, *datasets(), cfg, identity=identity or {"run": "a"})
    return model, result


def test_a_killed_run_resumes_bit_for_bit(tmp_path):
    (tmp_path / "straight").mkdir()
    straight, r_straight = run(4, tmp_path / "straight")
    (tmp_path / "killed").mkdir()
    run(2, tmp_path / "killed")  # the state after epoch 2 is what a run killed during epoch 3 leaves
    with open(tmp_path / "killed" / "history.csv", "a") as fh:  # a row of the epoch that never finished
        fh.write("3,9,9,9,9,9,9\n")
    resumed, r_resumed = run(4, tmp_path / "killed", resume=True)
    keys = ["epoch", "train_loss", "train_mae", "val_loss", "val_mae", "val_srcc"]
    assert [[row[k] for k in keys] for row in r_resumed.history] == [[row[k] for k in keys] for row in r_straight.history]
    assert r_resumed.best_epoch == r_straight.best_epoch
    for (name, a), b in zip(straight.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), name
    lines = (tmp_path / "killed" / "history.csv").read_text().splitlines()
    assert [line.split(",")[0] for line in lines] == ["epoch", "1", "2", "3", "4"]


def test_the_state_of_another_run_is_refused(tmp_path):
    run(1, tmp_path)
    with pytest.raises(InputError, match="another run"):
        run(2, tmp_path, resume=True, identity={"run": "b"})


def test_lr_factor_is_the_written_schedule():
    """Warm-up e/w; cosine f + (1 − f)(1 + cos(π t))/2, t = (e − w − 1)/(E − w − 1); plateau: halved after 5
    epochs without a better validation MAE, the count restarting after each cut."""
    import math

    from aecgcnn.train import lr_factor
    assert [lr_factor("constant", e, 10) for e in (1, 5, 10)] == [1.0, 1.0, 1.0]
    assert [lr_factor("cosine", e, 10, warmup=2) for e in (1, 2)] == [0.5, 1.0]
    for e in range(3, 11):
        t = (e - 3) / 7
        assert lr_factor("cosine", e, 10, warmup=2) == pytest.approx(0.01 + 0.99 * (1 + math.cos(math.pi * t)) / 2)
    assert lr_factor("cosine", 10, 10) == pytest.approx(0.01)
    maes = [1.0, 0.9, 0.95, 0.95, 0.95, 0.95, 0.95, 0.8, 0.85, 0.85, 0.85, 0.85, 0.85]
    # epoch e sees the MAEs of epochs 1..e-1: no better one after epoch 2 for epochs 3-7 (5 epochs) -> a cut
    assert [lr_factor("plateau", e, 20, val_maes=maes) for e in (7, 8, 9)] == [1.0, 0.5, 0.5]
    assert lr_factor("plateau", 14, 20, val_maes=maes) == 0.25
    with pytest.raises(InputError, match="one of"):
        lr_factor("linear", 1, 10)


def test_a_killed_cosine_run_resumes_bit_for_bit_and_early_stopping_stays_stopped(tmp_path, monkeypatch):
    import aecgcnn.train as train
    (tmp_path / "straight").mkdir()
    _, r_straight = run(3, tmp_path / "straight", lr_schedule="cosine", warmup_epochs=1)
    (tmp_path / "killed").mkdir()
    calls, real = [], train.train_step
    def dying(*a, **k):  # noqa: E306  killed in the first batch of epoch 2 (3 batches per epoch)
        calls.append(1)
        if len(calls) == 4:
            raise KeyboardInterrupt
        return real(*a, **k)
    monkeypatch.setattr(train, "train_step", dying)
    with pytest.raises(KeyboardInterrupt):
        run(3, tmp_path / "killed", lr_schedule="cosine", warmup_epochs=1)
    monkeypatch.setattr(train, "train_step", real)
    _, r_resumed = run(3, tmp_path / "killed", resume=True, lr_schedule="cosine", warmup_epochs=1)
    assert [r["val_mae"] for r in r_resumed.history] == [r["val_mae"] for r in r_straight.history]
    # patience 1: the run ends at the first epoch that does not beat the best so far, and a resume trains no more
    (tmp_path / "stop").mkdir()
    _, r = run(6, tmp_path / "stop", patience=1, lr=0.05)
    maes = [row["val_mae"] for row in r.history]
    first_miss = next(e for e in range(2, 7) if maes[e - 1] >= min(maes[:e - 1]))
    assert len(maes) == first_miss < 6 and r.best_epoch == int(np.argmin(maes)) + 1
    _, again = run(6, tmp_path / "stop", resume=True, patience=1, lr=0.05)
    assert len(again.history) == first_miss
