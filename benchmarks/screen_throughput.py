"""``aecgcnn screen`` end to end on CoRE-2019 CIFs (graph building included): structures/s and peak memory, on
the first N CIFs of the archive and on all of it, to show that memory does not grow with the collection.

    python benchmarks/screen_throughput.py [--preset ae-cgcnn] [--small 1000] [--data-dir ../shared/data]

Target (issue 14): ≥ 20 MOFs/s end to end on 2 cores, peak memory independent of the collection size. The
model is freshly initialised (speed does not depend on the weights). Peak memory: the largest resident set of
the command's processes (main and graph-building workers), from getrusage of the waited-for children.
"""
from __future__ import annotations

import argparse
import sys
import tarfile
import tempfile
from pathlib import Path

from _measure import measured_run, print_table

ARCHIVE = "mof/CoRE2019_charged_cifs.tar.xz"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="ae-cgcnn")
    ap.add_argument("--small", type=int, default=1000)
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--workers", type=int, default=None)
    args = ap.parse_args()
    from aecgcnn.checkpoint import save_checkpoint
    from aecgcnn.data.datasets import resolve_data_dir
    from aecgcnn.graph import GraphSettings
    from aecgcnn.models import model_from_preset
    from aecgcnn.provenance import stamp
    archive = resolve_data_dir(args.data_dir) / ARCHIVE
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        save_checkpoint(tmp / "model.pt", model_from_preset(args.preset), GraphSettings(), "core2019-co2-0.15bar")
        small = tmp / "small.tar"
        with tarfile.open(archive, "r|*") as src, tarfile.open(small, "w") as dst:
            n = 0
            for m in src:
                if m.isfile() and m.name.endswith(".cif") and n < args.small:
                    dst.addfile(m, src.extractfile(m))
                    n += 1
                if n >= args.small:
                    break
        extra = ["--workers", str(args.workers)] if args.workers else []
        for name, source in ((f"first {args.small} CIFs (.tar)", small), ("all CoRE-2019 CIFs (.tar.xz)", archive)):
            out = tmp / f"{source.stem}.csv"
            dt, peak, log = measured_run([sys.executable, "-m", "aecgcnn", "screen", str(tmp / "model.pt"), str(source),
                                 "--out", str(out)] + extra)
            n_rows = sum(1 for _ in open(out)) - 1
            skipped = out.with_name(out.stem + "_skipped.csv")
            n_skip = sum(1 for _ in open(skipped)) - 1 if skipped.exists() else 0
            rows.append((name, n_rows, n_skip, dt, (n_rows + n_skip) / dt, peak))
    prov = stamp("cpu")
    print(f"\naecgcnn screen, {args.preset} (fresh weights), graph building included; commit {prov['commit']}; "
          f"{prov['device']}; allocator: {prov['allocator']}; kernels: {prov['kernels']}")
    print_table(["collection", "ranked", "skipped", "wall s", "CIFs/s end to end", "peak RSS (MiB)"],
                [(name, f"{n_rows:,}", f"{n_skip:,}", f"{dt:.0f}", f"{rate:.1f}", f"{peak:,.0f}")
                 for name, n_rows, n_skip, dt, rate, peak in rows])


if __name__ == "__main__":
    main()
