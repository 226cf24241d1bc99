"""Training throughput of every preset: forward + backward + Adam crystals/s and atoms/s on MP and CoRE MOF
batches in the package's default mode (allocator tuned at import, fast conv path), peak memory, the kernel's
share (sys seconds, minor page faults during the timed steps) and the cost relative to ``cgcnn``. Each preset
runs in a fresh child process so peak memory (CPU: max RSS; CUDA: max allocated) is its own; ``--warmup``
steps (allocation of the working set, compilation) are not timed.

    python benchmarks/train_throughput.py [--batch-size 64] [--steps 3] [--warmup 2] [--compile] [--plain]
        [--threads N] [--presets cgcnn ae-cgcnn] [--datasets mp-megnet-2018 core2019-co2-0.15bar]
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
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
    n_batches = args.steps + args.warmup
    entries = load_entries(dataset, args.data_dir)[: args.batch_size * n_batches]
    built = build_graphs(entries, progress=False, verbose=False)
    ds = GraphDataset(built.graphs, [e.target for e in built.entries])
    batches = [b.to(device) for b in make_loader(ds, args.batch_size)][:n_batches]
    model = model_from_preset(preset).to(device).train()
    if args.compile and hasattr(model, "compile_layers"):
        model.compile_layers()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    def step(b):
        opt.zero_grad()
        torch.nn.functional.mse_loss(model(b), b.target).backward()
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


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--plain", action="store_true", help="the op-by-op conv layer instead of the fast path")
    ap.add_argument("--compile", action="store_true")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--presets", nargs="+", default=None)
    ap.add_argument("--datasets", nargs="+", default=["mp-megnet-2018", "core2019-co2-0.15bar"])
    args = ap.parse_args()
    from aecgcnn.models import LADDER
    presets = args.presets or LADDER + ["geocgnn"]
    ctx = mp.get_context("fork")
    rows = []
    for dataset in args.datasets:
        for preset in presets:
            q = ctx.Queue()
            p = ctx.Process(target=_measure, args=(args, preset, dataset, q))
            p.start()
            result = q.get()
            p.join()
            rows.append((dataset, preset, *result))
    import torch
    from aecgcnn.provenance import stamp
    mode = ("compiled conv layers" if args.compile else "eager") + (", plain conv path" if args.plain else ", fast conv path")
    prov = stamp("cpu")
    print(f"\nforward+backward+Adam step, batch {args.batch_size}, {args.warmup} warm-up + {args.steps} timed steps, "
          f"{mode}, {args.threads or torch.get_num_threads()} threads; commit {prov['commit']}; allocator: {prov['allocator']}")
    print("| dataset | preset | crystals/s | atoms/s | peak RSS (MiB) | sys s (timed) | minor faults (timed) | "
          "warm-up s | time vs cgcnn | device |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for dataset, preset, cps, aps, peak, sys_s, faults, warm, device in rows:
        ref = next(r[2] for r in rows if r[0] == dataset and r[1] == (presets[0] if "cgcnn" not in presets else "cgcnn"))
        print(f"| {dataset} | {preset} | {cps:.1f} | {aps:,.0f} | {peak:,.0f} | {sys_s:.1f} | {faults:,} | {warm:.0f} | "
              f"{ref / cps:.2f}x | {device} |")


if __name__ == "__main__":
    main()
