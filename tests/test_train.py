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


def run(epochs, tmp_path, resume=False, identity=None):
    torch.manual_seed(0)
    model = model_from_preset("ae-cgcnn", node_dim=16, n_conv=2, fc_hidden=16)
    cfg = TrainConfig(epochs=epochs, batch_size=4, seed=3, device="cpu", progress=False,
                      log_path=str(tmp_path / "history.csv"), state_path=str(tmp_path / "state.pt"), resume=resume)
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
