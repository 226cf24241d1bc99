"""``aecgcnn predict`` end to end on CoRE-2019 CIF files: MOFs/s of the whole command (start-up, reading the
CIFs, graph cache look-up, model) with the graph cache cold and warm, and its peak memory; plus the largest
CoRE-2019 MOF (by atom count) alone: one training step (batch of 1) and one prediction, with their peak memory.

    python benchmarks/predict_throughput.py [--n 1000] [--preset ae-cgcnn] [--data-dir ../shared/data]
        [--edge-precision fp32 bf16]

``--edge-precision``: the warm-cache prediction once per precision of the per-edge GEMMs (same run, alternating).

Targets (issue 12): predict on 1,000 CoRE MOFs with cached graphs ≥ 150 MOFs/s; the largest MOF trains and
predicts in ≤ 4 GB. The model is freshly initialised (speed does not depend on the weights); each measurement runs
in its own process so that peak RSS is its own.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from _measure import measured_run

DATASET = "core2019-co2-0.15bar"


def _atom_rows(cif: str) -> int:
    """Rows of a CIF that look like atom sites (label, type, three fractional coordinates, ...)."""
    n = 0
    for line in cif.splitlines():
        t = line.split()
        if len(t) >= 5:
            try:
                float(t[2]), float(t[3]), float(t[4])
                n += 1
            except ValueError:
                pass
    return n


def _largest(args, workdir: Path, env: dict):
    """Train one step (target 0) and predict on the largest MOF of the CoRE-2019 archive (labelled or not), each
    in a fresh process: {mode: (id, atoms, peak MiB)}."""
    from aecgcnn.data.datasets import resolve_data_dir
    from aecgcnn.screen import iter_cifs
    archive = resolve_data_dir(args.data_dir) / "mof/CoRE2019_charged_cifs.tar.xz"
    size, cid, text = max((_atom_rows(t or ""), i, t) for _, i, t, _ in iter_cifs([archive]))  # P1: rows = atoms
    (workdir / "largest.cif").write_text(text)
    code = f"""
import resource, sys, torch
from aecgcnn.checkpoint import load_checkpoint
from aecgcnn.data.batch import collate
from aecgcnn.data.cache import graph_from_cif
from aecgcnn.graph import GraphSettings
g = graph_from_cif(open({str(workdir / 'largest.cif')!r}).read(), {cid!r}, GraphSettings())
b = collate([(g, 0.0, {cid!r})])
model, _ = load_checkpoint({str(workdir / 'model.pt')!r})
if sys.argv[1] == "train":
    model.train()
    torch.nn.functional.mse_loss(model(b), b.target).backward()
else:
    with torch.no_grad():
        model.predict(b)
print(b.atomic_numbers.shape[0], resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
"""
    out = {}
    for mode in ("train", "predict"):
        r = subprocess.run([sys.executable, "-c", code, mode], capture_output=True, text=True, env=env)
        if r.returncode:
            raise SystemExit(r.stderr)
        atoms, mib = r.stdout.split()[-2:]
        out[mode] = (cid, int(atoms), float(mib))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--preset", default="ae-cgcnn")
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--edge-precision", nargs="+", choices=["fp32", "bf16"], default=["fp32"])
    args = ap.parse_args()
    from aecgcnn.checkpoint import save_checkpoint
    from aecgcnn.data.datasets import load_entries, resolve_data_dir
    from aecgcnn.graph import GraphSettings
    from aecgcnn.models import model_from_preset
    from aecgcnn.provenance import stamp
    args.data_dir = str(resolve_data_dir(args.data_dir))
    entries = load_entries(DATASET, args.data_dir)[: args.n]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        cifs = tmp / "cifs"
        cifs.mkdir()
        for e in entries:
            (cifs / f"{e.id}.cif").write_text(e.cif)
        save_checkpoint(tmp / "model.pt", model_from_preset(args.preset), GraphSettings(), DATASET)
        env = {**os.environ, "AECGCNN_CACHE": str(tmp / "cache")}
        if args.threads:
            env["OMP_NUM_THREADS"] = str(args.threads)
        cmd = [sys.executable, "-m", "aecgcnn", "predict", str(tmp / "model.pt"), str(cifs), "--out",
               str(tmp / "pred.csv")]
        cold, _, _ = measured_run(cmd + ["--edge-precision", args.edge_precision[0]], env)
        warm = {p: measured_run(cmd + ["--edge-precision", p], env)[:2] for p in args.edge_precision}
        largest = _largest(args, tmp, env)
    prov = stamp("cpu")
    print(f"\naecgcnn predict, {args.preset} (fresh weights), {len(entries)} CoRE-2019 CIFs; commit {prov['commit']}; "
          f"{prov['device']}; allocator: {prov['allocator']}; kernels: {prov['kernels']}")
    print("| measurement | value | target |")
    print("|---|---|---|")
    print(f"| predict, graph cache cold (graphs built), {args.edge_precision[0]} | {len(entries) / cold:.1f} MOFs/s ({cold:.0f} s) | - |")
    for p, (seconds, peak) in warm.items():
        print(f"| predict, graph cache warm, {p} per-edge GEMMs | {len(entries) / seconds:.1f} MOFs/s ({seconds:.1f} s), "
              f"peak RSS {peak:,.0f} MiB | ≥ 150 MOFs/s |")
    for mode, (mof, atoms, mib) in largest.items():
        what = "one training step (batch of 1)" if mode == "train" else "prediction"
        print(f"| largest CoRE-2019 MOF ({mof}, {atoms:,} atoms): {what} | peak RSS {mib:,.0f} MiB | ≤ 4,096 MiB |")


if __name__ == "__main__":
    main()
