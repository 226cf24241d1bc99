"""How the shipped models' applicability domains (aecgcnn.domain) sort crystals: the share called in domain on
their own test part and on the other family's crystals, and which check flags them.

For each model: up to N crystals drawn at random (seed 0) from the test part of its own split and of the other
model's, plus rock salt and bcc iron. Prints a Markdown table (share in domain; share flagged by the embedding
distance, by unseen elements and by each bulk range) and its provenance line (save it under benchmarks/results/).

``--choose``: how the bulk range was chosen (:data:`aecgcnn.config.DOMAIN_RANGE`), on validation crystals only:
for each model, the share of its own validation crystals and of the other's that fall outside the range of its
reference crystals, for the min-max range and two percentile ranges.

    python benchmarks/domain.py [--n 500] [--models core2019-co2-0.15bar mp-megnet-2018] [--choose]
"""
from __future__ import annotations

import argparse

import numpy as np
from pymatgen.core import Lattice, Structure

from aecgcnn.api import load_model
from aecgcnn.data.batch import GraphDataset, make_loader
from aecgcnn.config import DOMAIN_REFERENCE
from aecgcnn.domain import BULK, bulk_matrix, capture_embeddings, domain_columns, outside
from aecgcnn.ensemble import predict_values
from aecgcnn.experiment import evaluation_set
from aecgcnn.provenance import command_line, stamp


def flags(model, graphs) -> dict[str, float]:
    """Shares of ``graphs`` in domain and flagged by each check."""
    with capture_embeddings(model.net) as cap:
        for batch in make_loader(GraphDataset(graphs), 64):
            predict_values(model.net, batch)
    cols = domain_columns(model.net, cap.rows(), graphs)
    out = {"in domain": np.mean(cols["in_domain"]), "distance > 1": np.mean(np.array(cols["domain_distance"]) > 1),
           "unseen element": np.mean([bool(u) for u in cols["unseen_elements"]])}
    for name in BULK:
        out[name] = np.mean([name in r for r in cols["outside_range"]])
    return out


def choose(models: dict, n: int) -> None:
    """The range-choice table on validation crystals (see the module docstring)."""
    vals = {}
    for name, m in models.items():
        dataset, val = evaluation_set(m.meta, "val")
        pick = np.random.default_rng(1).choice(len(val), min(n, len(val)), replace=False)
        vals[dataset] = bulk_matrix([val.graphs[i] for i in pick])
    print("| model | range of its reference crystals | " + " | ".join(f"{d} validation outside" for d in vals) + " |")
    print("|---|---|" + "---|" * len(vals))
    for name, m in models.items():
        _, train = evaluation_set(m.meta, "train")
        pick = np.sort(np.random.default_rng(m.meta["extra"]["experiment"]["seed"]).permutation(len(train))
                       [:DOMAIN_REFERENCE])  # the reference crystals fit_domain draws
        ref = bulk_matrix([train.graphs[i] for i in pick])
        for lo, hi in [(0, 100), (0.5, 99.5), (1, 99)]:
            a, b = np.percentile(ref, lo, axis=0), np.percentile(ref, hi, axis=0)
            shares = [np.mean(outside(x, a, b).any(1)) for x in vals.values()]
            print(f"| {name} | percentiles {lo:g}-{hi:g} | " + " | ".join(f"{v:.1%}" for v in shares) + " |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=500)
    ap.add_argument("--models", nargs="+", default=["core2019-co2-0.15bar", "mp-megnet-2018"])
    ap.add_argument("--choose", action="store_true", help="the bulk-range choice on validation crystals instead")
    args = ap.parse_args()
    started = stamp("cpu")  # the commit and time the measurement starts from
    models = {name: load_model(name) for name in args.models}
    if args.choose:
        choose(models, args.n)
        print(f"{command_line()} at {started['commit']}, {started['device']}, {started['utc']}")
        return
    tests = {}
    for name, m in models.items():
        dataset, test = evaluation_set(m.meta, "test")
        pick = np.random.default_rng(0).choice(len(test), min(args.n, len(test)), replace=False)
        tests[dataset] = [test.graphs[i] for i in sorted(pick)]
    from aecgcnn.graph import build_graph
    toys = [build_graph(Structure.from_spacegroup("Fm-3m", Lattice.cubic(5.64), ["Na", "Cl"],
                                                  [[0, 0, 0], [0.5, 0.5, 0.5]])),
            build_graph(Structure(Lattice.cubic(2.87), ["Fe", "Fe"], [[0, 0, 0], [0.5, 0.5, 0.5]]))]
    header = ["model", "crystals", "n", "in domain", "distance > 1", "unseen element", *BULK]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for name, m in models.items():
        for dataset, graphs in [*tests.items(), ("NaCl, bcc Fe", toys)]:
            own = " (own test part)" if dataset == m.meta["dataset"] else ""
            f = flags(m, graphs)
            print(f"| {name} | {dataset}{own} | {len(graphs)} | " + " | ".join(f"{f[k]:.1%}" for k in header[3:]) + " |")
    print(f"{command_line()} at {started['commit']}, {started['device']}, started {started['utc']}")


if __name__ == "__main__":
    main()
