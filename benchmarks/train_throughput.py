"""Training throughput of every preset: forward + backward + Adam crystals/s and atoms/s on MP and CoRE MOF
batches in the package's default mode (allocator tuned at import, fast conv path), peak memory, the kernel's
share (sys seconds, minor page faults during the timed steps) and the cost relative to ``cgcnn``. Each preset
runs in a fresh child process so peak memory (CPU: max RSS; CUDA: max allocated) is its own; ``--warmup``
steps (allocation of the working set, compilation of the chunk kernels, which a training run does after its
first 10,000 chunk calls: here at once) are not timed.

    python benchmarks/train_throughput.py [--batch-size 64] [--steps 3] [--warmup 2] [--compile] [--plain]
        [--threads N] [--presets cgcnn ae-cgcnn] [--datasets mp-megnet-2018 core2019-co2-0.15bar]
        [--reference-cgcnn PATH] [--allocator tuned|default] [--edge-precision fp32 bf16]

``--reference-cgcnn PATH``: also time the reference CGCNN (a clone of https://github.com/txie-93/cgcnn; its
``cgcnn/model.py`` with its defaults: 64 features, 3 conv layers, 128 hidden) on the same batches, fed the same
inputs (CGCNN atom features, 41 Gaussians of the same 12 neighbours; its own collate and CIF parsing are not
timed, as ours are not). ``--allocator default``: glibc as it comes (AECGCNN_MALLOC=default) for every row.
``--edge-precision fp32 bf16``: every AE-CGCNN rung also with its per-edge GEMMs in bf16 (rows "PRESET [bf16]";
``aecgcnn train --edge-precision bf16``).
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import resource
import time


def _measure(args, preset, dataset, queue):
    import torch
    from aecgcnn.data.batch import GraphDataset, make_loader
    from aecgcnn.data.cache import build_graphs
    from aecgcnn.data.datasets import load_entries
    from aecgcnn.models import model_from_preset
    from aecgcnn.train import resolve_device
    device = resolve_device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.plain:
        from aecgcnn.models.aecgcnn import ConvLayer
        ConvLayer.fast = False
    from aecgcnn.models import fused
    preset, _, precision = preset.partition(" [")
    fused.EDGE_DTYPE = fused.EDGE_PRECISIONS[precision.rstrip("]") or "fp32"]  # this process's whole life
    fused.COMPILE_AFTER = 0  # compiled from the first call, as a training run (the default, set explicitly)
    n_batches = args.steps + args.warmup
    entries = load_entries(dataset, args.data_dir)[: args.batch_size * n_batches]
    built = build_graphs(entries, progress=False, verbose=False)
    ds = GraphDataset(built.graphs, [e.target for e in built.entries])
    batches = [b.to(device) for b in make_loader(ds, args.batch_size)][:n_batches]
    if preset.startswith("reference-cgcnn"):
        model, forward = _reference_cgcnn(args.reference_cgcnn, device)
    else:
        model = model_from_preset(preset).to(device).train()
        from aecgcnn.train import compile_for_training
        compile_for_training(model, device, args.compile)  # as a training run (GeoCGNN compiles by default)
        forward = model
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    def step(b):
        opt.zero_grad()
        torch.nn.functional.mse_loss(forward(b), b.target).backward()
        opt.step()

    t0 = time.perf_counter()
    for b in batches[:args.warmup]:  # allocation of the working set (and compilation)
        step(b)
    warm = time.perf_counter() - t0
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    t = time.perf_counter()
    for b in batches[args.warmup:]:
        step(b)
    if device.type == "cuda":
        torch.cuda.synchronize()
    dt = time.perf_counter() - t
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    timed = batches[args.warmup:]
    crystals = sum(b.num_crystals for b in timed)
    atoms = sum(int(b.atomic_numbers.shape[0]) for b in timed)
    if device.type == "cuda":
        peak = torch.cuda.max_memory_allocated() / 2**20
    else:
        peak = r1.ru_maxrss / 1024
    queue.put((crystals / dt, atoms / dt, peak, r1.ru_stime - r0.ru_stime, r1.ru_minflt - r0.ru_minflt, warm,
               str(device)))


#: the reference CGCNN in a process whose allocator is glibc as it comes (what a user of the reference code gets)
AS_IT_COMES = "reference-cgcnn (glibc as it comes)"


def _reference_cgcnn(path, device):
    """The reference CGCNN model from a clone at ``path`` and a function batch → its predictions [B] computed
    from the same inputs as our ``cgcnn`` rung (atom-feature table rows, 41 Gaussians, the 12 neighbour slots)."""
    import sys

    import torch
    from aecgcnn.features import atom_feature_table, gaussian_expansion
    sys.path.insert(0, str(path))
    from cgcnn.model import CrystalGraphConvNet  # the reference implementation, not part of this package
    table = atom_feature_table("cgcnn").to(device)
    model = CrystalGraphConvNet(table.shape[1], 41).to(device).train()

    def forward(b):
        starts = torch.cumsum(b.num_atoms, 0) - b.num_atoms
        idx = [torch.arange(int(s), int(s + n), device=device) for s, n in zip(starts, b.num_atoms)]
        return model(table[b.atomic_numbers - 1], gaussian_expansion(b.distances), b.neighbors, idx).squeeze(-1)
    return model, forward


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--repeat", type=int, default=1, help="measure every preset R times (interleaved), keep the best")
    ap.add_argument("--plain", action="store_true", help="the op-by-op conv layer instead of the fast path")
    ap.add_argument("--compile", action="store_true")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--presets", nargs="+", default=None)
    ap.add_argument("--datasets", nargs="+", default=["mp-megnet-2018", "core2019-co2-0.15bar"])
    ap.add_argument("--reference-cgcnn", default=None, metavar="PATH",
                    help="a clone of github.com/txie-93/cgcnn: add its model as a row")
    ap.add_argument("--allocator", choices=["tuned", "default"], default="tuned",
                    help="default: glibc as it comes (AECGCNN_MALLOC=default) in every measuring process")
    ap.add_argument("--edge-precision", nargs="+", choices=["fp32", "bf16"], default=["fp32"],
                    help="precisions of the per-edge GEMMs to measure the AE-CGCNN rungs in")
    args = ap.parse_args()
    if args.allocator == "default":
        os.environ["AECGCNN_MALLOC"] = "default"  # before aecgcnn is imported (and so before mallopt)
    from aecgcnn.models import LADDER
    presets = [f"{p} [{q}]" if q != "fp32" else p for p in (args.presets or LADDER + ["geocgnn"])
               for q in args.edge_precision if q == "fp32" or p in LADDER] + (
        ["reference-cgcnn", AS_IT_COMES] if args.reference_cgcnn and args.allocator == "tuned" else
        ["reference-cgcnn"] if args.reference_cgcnn else [])
    ctx = mp.get_context("fork")
    best = {}
    for _ in range(args.repeat):  # interleaved, so that a noisy spell of the machine hits every preset alike
        for dataset in args.datasets:
            for preset in presets:
                if preset == AS_IT_COMES:  # a fresh interpreter that never tunes the allocator
                    os.environ["AECGCNN_MALLOC"] = "default"
                    c = mp.get_context("spawn")
                else:
                    c = ctx
                q = c.Queue()
                p = c.Process(target=_measure, args=(args, preset, dataset, q))
                p.start()
                p.join()  # the result is a small tuple: the child's queue flushes it before exiting
                if p.exitcode != 0:  # e.g. killed by the kernel's out-of-memory killer: say so, keep measuring
                    print(f"{dataset} {preset}: the measuring process failed (exit code {p.exitcode}"
                          + (", killed: out of memory?" if p.exitcode == -9 else "") + ")", flush=True)
                    continue
                result = q.get()
                if preset == AS_IT_COMES and args.allocator == "tuned":
                    os.environ.pop("AECGCNN_MALLOC", None)
                if (dataset, preset) not in best or result[0] > best[(dataset, preset)][0]:
                    best[(dataset, preset)] = result
    rows = [(dataset, preset, *best[(dataset, preset)]) for dataset in args.datasets for preset in presets
            if (dataset, preset) in best]
    import torch
    from aecgcnn.provenance import stamp
    prov = stamp("cpu")
    mode = ("whole conv layers compiled" if args.compile else "layers eager") + (
        ", plain conv path" if args.plain else f", fast conv path (chunk kernels {prov['kernels']})")
    print(f"\nforward+backward+Adam step, batch {args.batch_size}, {args.warmup} warm-up + {args.steps} timed steps, "
          f"best of {args.repeat}, "
          f"{mode}, {args.threads or torch.get_num_threads()} threads; commit {prov['commit']}; allocator: {prov['allocator']}")
    print("| dataset | preset | crystals/s | atoms/s | peak RSS (MiB) | sys s (timed) | minor faults (timed) | "
          "warm-up s | time vs cgcnn | speed vs reference CGCNN (tuned allocator / as it comes) | device |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for dataset, preset, cps, aps, peak, sys_s, faults, warm, device in rows:
        ref = next(r[2] for r in rows if r[0] == dataset and r[1] == (presets[0] if "cgcnn" not in presets else "cgcnn"))
        anchors = [next((r[2] for r in rows if r[0] == dataset and r[1] == a), None)
                   for a in ("reference-cgcnn", AS_IT_COMES)]
        vs = " / ".join(f"{cps / a:.2f}x" for a in anchors if a) or "-"
        print(f"| {dataset} | {preset} | {cps:.1f} | {aps:,.0f} | {peak:,.0f} | {sys_s:.1f} | {faults:,} | {warm:.0f} | "
              f"{ref / cps:.2f}x | {vs} | {device} |")


if __name__ == "__main__":
    main()
