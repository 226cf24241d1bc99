"""Fidelity of our GeoCGNN: the published GeoCGNN code trained on exactly the split and with the recipe of one of
our finished GeoCGNN runs, its test MAE printed beside ours (and beside the spread of our seeds of that experiment).

    python benchmarks/reference_geocgnn.py --reference-geocgnn PATH --run RUN_DIR [RUN_DIR ...] [--seeds 0]
        [--threads 1] [--work /tmp/geocgnn_ref_work] [--table results/geocgnn_reference.md]

``PATH``: a clone of https://github.com/Tinystormjojo/geo-CGNN (Cheng, Zhang & Dong's code; nothing of it is copied
here). ``RUN_DIR``: a finished run of ours (``metrics.json`` with its experiment record), e.g.
``runs/cpu/mp-megnet-2018/learning-curve/geocgnn/n1000/seed0``; several runs (e.g. two recipes) give two rows each.
The split is rebuilt from that record with our own ``prepare_split`` (and checked against the run's ``test_predictions.csv``); the CIFs go through the reference code's
own graph builder (``AtomGraph.process``: 12 nearest neighbours within the cutoff, as its README's command) and its
own basis functions (``data_utils.AtomGraph``), then its ``geo_CGNN`` model (the published command's sizes: 5 blocks,
width 192, 64 Gaussians, 4³ plane waves) trains in its own ``Model.train`` loop (MSE on the raw targets, the best
validation-MAE epoch restored) with our run's optimiser settings (Adam, learning rate, weight decay, batch size,
epochs; no learning-rate step within them), and its ``Model.evaluate`` predicts the test crystals. The two shims the
code needs on today's libraries are applied at import (SciPy 1.17 no longer has ``sph_harm``, used only by a
spherical basis this model does not call; ``pydash`` is needed only for chunking file lists).

Results per reference seed are written to ``WORK/<key>-seed<k>.json`` as they finish (``key``: a hash of the
recipe and the split, :func:`result_key`) and reused when the script is run again, so it can be stopped and
restarted.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
import types
from functools import lru_cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _import_reference(path: Path):
    """The reference modules (AtomGraph, data_utils, models) with the two import shims."""
    import scipy.special
    if not hasattr(scipy.special, "sph_harm"):  # removed in SciPy 1.17; only a_SBF uses it, and geo_CGNN does not
        scipy.special.sph_harm = lambda *a, **k: (_ for _ in ()).throw(NotImplementedError("sph_harm"))
    sys.modules.setdefault("pydash", types.SimpleNamespace(py_=types.SimpleNamespace(chunk=None)))
    sys.path.insert(0, str(path))
    import AtomGraph  # noqa: N813
    import data_utils
    import models
    return AtomGraph, data_utils, models


def reference_graphs(path: Path, entries, work: Path, cutoff: float, max_nbr: int) -> dict:
    """{id: the reference code's graph tuple} for our entries, built by its ``AtomGraph.process`` from their CIFs
    (one-hot config: the code's own MP config when it covers every element, else one built the way it builds one)."""
    import numpy as np
    AtomGraph, _, _ = _import_reference(path)
    cif_dir = work / "cif"
    cif_dir.mkdir(parents=True, exist_ok=True)
    config = json.loads((path / "database" / "mp_config_onehot.json").read_text())
    from pymatgen.core import Structure
    zs = set()
    for e in entries:
        (cif_dir / f"{e.id}.cif").write_text(e.cif)
        zs.update(Structure.from_str(e.cif, "cif").atomic_numbers)
    if not zs <= set(config["atomic_numbers"]):
        unique = sorted(zs)
        config = {"atomic_numbers": unique, "node_vectors": np.eye(len(unique)).tolist()}
    graphs = {}
    from tqdm import tqdm
    for e in tqdm(entries, desc="reference graphs"):
        _, lattice, atom_fea, nbr_idx, nbr_dist, nbr_vec, volume = AtomGraph.process(
            config, str(cif_dir / f"{e.id}.cif"), cutoff, max_nbr)
        graphs[e.id] = (lattice, atom_fea, (nbr_idx, nbr_dist, nbr_vec), volume)
    return graphs


def train_reference(path: Path, graphs: dict, split: dict, targets: dict, recipe: dict, seed: int, work: Path,
                    cutoff: float, max_nbr: int) -> dict:
    """Train the reference geo_CGNN on ``split`` with ``recipe`` (epochs, lr, weight_decay, batch_size) in the
    reference ``Model`` loop; returns test predictions and the time taken."""
    import torch
    from torch.utils.data import DataLoader
    _, data_utils, models = _import_reference(path)
    torch.manual_seed(seed)
    params = dict(N_shbf=6, N_srbf=6, n_grid_K=4, n_Gaussian=64)
    sets = {part: [(data_utils.AtomGraph(graphs[i], cutoff, **params), targets[i]) for i in split[part]]
            for part in ("train", "val", "test")}
    n_node_feat = sets["train"][0][0].nodes.shape[1]
    model = models.geo_CGNN(n_node_feat, n_hidden_feat=192, n_GCN_feat=192, conv_bias=False, N_block=5,
                            node_activation="Sigmoid", MLP_activation="Elu", use_node_batch_norm=True,
                            use_edge_batch_norm=True, cutoff=cutoff, max_nei=max_nbr, n_MLP_LR=3, **params)
    opt = torch.optim.Adam(model.parameters(), lr=recipe["lr"], weight_decay=recipe["weight_decay"])
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=[10 ** 6], gamma=0.1)  # no step within the run
    runner = models.Model(torch.device("cpu"), model, f"reference-seed{seed}", opt, sched)
    loader = lambda part, shuffle: DataLoader(sets[part], batch_size=recipe["batch_size"], shuffle=shuffle,  # noqa
                                              collate_fn=data_utils.Atomgraph_collate)
    (work / "data").mkdir(parents=True, exist_ok=True)  # Model.train writes data/history_<name>.csv
    (work / "model").mkdir(parents=True, exist_ok=True)
    cwd = os.getcwd()
    os.chdir(work)
    try:
        t = time.time()
        runner.train(loader("train", True), loader("val", False), recipe["epochs"])
        seconds = time.time() - t
        outputs, tgt, _ = runner.evaluate(loader("test", False))
    finally:
        os.chdir(cwd)
    return {"seed": seed, "predictions": [float(x) for x in outputs], "targets": [float(x) for x in tgt],
            "seconds": seconds}


def result_key(recipe: dict, split: dict) -> str:
    """What a reference result depends on besides its seed: the optimiser recipe and the split's crystals."""
    import hashlib
    what = {"recipe": recipe, "split": {part: sorted(split[part]) for part in ("train", "val", "test")}}
    return hashlib.sha1(json.dumps(what, sort_keys=True).encode()).hexdigest()[:12]


@lru_cache(maxsize=None)
def _entries(dataset: str, data_dir: str | None):
    """The dataset's entries, loaded once for all the runs compared on it."""
    from aecgcnn.data.datasets import load_entries
    return load_entries(dataset, data_dir)


def compare(a, run: Path) -> tuple[list[dict], str, str]:
    """The two rows (published code, ours) of one of our runs, a line describing its split and recipe, and its
    dataset."""
    import numpy as np
    import pandas as pd

    from aecgcnn.experiment import experiment_from_dict, prepare_split
    from aecgcnn.metrics import aggregate, regression_metrics
    from aecgcnn.workflow.reports import fmt

    ours = json.loads((run / "metrics.json").read_text())
    exp = experiment_from_dict({**ours["experiment"], "save_split_file": False})
    if exp.preset != "geocgnn":
        raise SystemExit(f"{run}: a {exp.preset} run; pass a GeoCGNN run")
    recipe = ours["train_settings"]  # what the run trained with (not today's resolution of its protocol)
    entries = _entries(exp.dataset, exp.data_dir)
    split = prepare_split(exp, entries)
    test_ids = pd.read_csv(run / "test_predictions.csv")["id"].astype(str).tolist()
    if sorted(test_ids) != sorted(split["test"]):
        raise SystemExit(f"{run}: the rebuilt split's test crystals are not the run's")
    wanted = set(split["train"]) | set(split["val"]) | set(split["test"])
    chosen = [e for e in entries if e.id in wanted]
    targets = {e.id: float(e.target) for e in chosen}
    cutoff, max_nbr = float(ours["model_config"]["cutoff"]), int(exp.max_neighbors)
    a.work.mkdir(parents=True, exist_ok=True)
    graphs = None
    results = []
    key = result_key(recipe, split)
    for seed in a.seeds:
        done = a.work / f"{key}-seed{seed}.json"
        if not done.exists():
            graphs = graphs or reference_graphs(a.reference_geocgnn, chosen, a.work, cutoff, max_nbr)
            res = train_reference(a.reference_geocgnn, graphs, split, targets, recipe, seed, a.work, cutoff, max_nbr)
            done.write_text(json.dumps({**res, "recipe": recipe, "run": str(run)}))
        res = json.loads(done.read_text())
        results.append(regression_metrics(np.array(res["targets"]), np.array(res["predictions"])) |
                       {"seconds": res["seconds"]})
    # our seeds of the same experiment: sibling seed folders with a finished run of it
    siblings = [json.loads((d / "metrics.json").read_text()) for d in sorted(run.parent.glob("seed*"))
                if (d / "metrics.json").exists()]
    agg_ref, agg_ours = aggregate(results), aggregate([m["test"] for m in siblings])
    recipe_text = f"Adam lr {recipe['lr']}, weight decay {recipe['weight_decay']}, batch {recipe['batch_size']}, " \
                  f"{recipe['epochs']} epochs"
    rows = [{"model": model, "run": str(run), "weight decay": recipe["weight_decay"], "seeds": seeds,
             **{f"test {k.upper()}": fmt(*agg[k], digits=4) for k in ("mae", "rmse", "srcc")}}
            for model, seeds, agg in (("GeoCGNN, published code", ", ".join(map(str, a.seeds)), agg_ref),
                                      ("GeoCGNN, ours", ", ".join(str(m["experiment"]["seed"]) for m in siblings),
                                       agg_ours))]
    return rows, (f"{run}: {len(split['train'])} train / {len(split['val'])} val / {len(split['test'])} test "
                  f"{exp.dataset} crystals, {recipe_text}"), exp.dataset


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reference-geocgnn", required=True, type=Path)
    ap.add_argument("--run", required=True, type=Path, nargs="+", help="finished GeoCGNN runs of ours")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--work", type=Path, default=Path("/tmp/geocgnn_ref_work"))
    ap.add_argument("--table", type=Path, default=ROOT / "results" / "geocgnn_reference.md")
    a = ap.parse_args()
    import pandas as pd
    import torch
    torch.set_num_threads(a.threads)
    from aecgcnn.provenance import command_line
    from aecgcnn.workflow.reports import write_table

    rows, described, datasets = [], [], set()
    for run in a.run:
        r, d, dataset = compare(a, run)
        rows += r
        described.append(d)
        datasets.add(dataset)
    df = pd.DataFrame(rows)
    write_table(df, a.table.stem, "GeoCGNN fidelity: the published code against ours on the split and with the recipe "
                f"of our runs ({'; '.join(described)}; best validation MAE tested)", a.table.parent,
                command=command_line(sys.argv), runs=[str(r) for r in a.run],
                data=", ".join(sorted(datasets)),
                reference="https://github.com/Tinystormjojo/geo-CGNN")
    print(df.to_string(index=False))


if __name__ == "__main__":
    main()
