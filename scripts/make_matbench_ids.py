"""Write ``aecgcnn/data/matbench_mp_ids.txt.gz``: the mbid -> mp-id pairs of the matbench ``mp_e_form`` entries our
MP data file keeps (one ``<mbid> <mp-id>`` per line, matbench order), taken from that data file.

    python scripts/make_matbench_ids.py [--data-dir ../shared/data]

Matbench v0.1 publishes no mp-ids; the pairs were recovered once (by formation energy and formula) when the data file
was built, and are shipped so that ``aecgcnn data download mp-matbench`` can rebuild it from the public matbench file
and the public Materials Project 2025 CIFs (aecgcnn/data/rebuild.py).
"""
import argparse
import gzip
import json
from pathlib import Path

from aecgcnn.data.datasets import resolve_data_dir
from aecgcnn.data.rebuild import MATBENCH_IDS

ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
ap.add_argument("--data-dir", default=None)
args = ap.parse_args()
source = Path(resolve_data_dir(args.data_dir)) / "mp/matbench_mp_e_form_with_mp2025_cif.jsonl.gz"
with gzip.open(source, "rt") as fh:
    pairs = [(row["mbid"], row["mp_id"]) for row in map(json.loads, fh)]
with open(MATBENCH_IDS, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as out:
    out.write("".join(f"{m} {p}\n" for m, p in pairs).encode())
print(f"{len(pairs):,} pairs -> {MATBENCH_IDS} ({MATBENCH_IDS.stat().st_size / 1e6:.2f} MB)")
