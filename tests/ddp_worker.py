"""Run by tests/test_distributed.py under ``torchrun --nproc-per-node 2`` (gloo): one training step of a real
rung on each rank's atom-balanced share of a global batch, then rank 0 saves the averaged gradients.
Usage: python -m torch.distributed.run --standalone --nproc-per-node 2 tests/ddp_worker.py OUT.pt PRESET"""
import sys

import torch

from aecgcnn import distributed
from aecgcnn.data.batch import balance_by_atoms, collate
from aecgcnn.models import model_from_preset
from aecgcnn.train import train_step

sys.path.insert(0, str(__import__("pathlib").Path(__file__).parent))
from test_distributed import global_batch_items  # noqa: E402


def main(out: str, preset: str) -> None:
    ctx = distributed.init_from_env("cpu")
    grads = step(preset, ctx)  # the DDP wrapper lives and dies inside: the group outlives it
    if ctx.is_main:
        torch.save(grads, out)
    distributed.shutdown()


def step(preset: str, ctx) -> dict:
    items = global_batch_items()
    share = balance_by_atoms(list(range(len(items))), [g.num_atoms for g, _, _ in items], ctx.world_size, 2)[ctx.rank]
    torch.manual_seed(0)
    model = model_from_preset(preset, node_dim=16, n_conv=2, fc_hidden=16)
    model.normalizer.fit(torch.tensor([t for _, t, _ in items]))
    model.eval()  # batch norm from running statistics: the one part of a step that differs per rank in training
    net = distributed.wrap_model(model, torch.device("cpu"))
    opt = torch.optim.SGD(model.parameters(), lr=0.0)
    train_step(net, model, opt, collate([items[i] for i in share]), len(items), ctx.world_size)
    return {n: p.grad for n, p in model.named_parameters()}


if __name__ == "__main__":
    main(*sys.argv[1:])
