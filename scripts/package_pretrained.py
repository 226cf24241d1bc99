"""Ship a finished run as a pretrained model: its checkpoint and a model card built from its metrics.json go to
aecgcnn/pretrained_models/<name>/ (see aecgcnn.pretrained; listed by ``aecgcnn models``).

    python scripts/package_pretrained.py RUN_DIR NAME [--not-default] [--note TEXT] [--command TEXT]
"""
import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from aecgcnn.pretrained import describe, package_run  # noqa: E402

if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run_dir")
    ap.add_argument("name")
    ap.add_argument("--not-default", action="store_true", help="not the default model of its dataset")
    ap.add_argument("--note", default="")
    ap.add_argument("--command", default=None, help="the command that trained the run (required for notebook runs)")
    a = ap.parse_args()
    card = package_run(a.run_dir, a.name, default_for_dataset=not a.not_default, note=a.note, command=a.command)
    import json
    print(f"{card}\n{describe(json.loads(card.read_text()))}")
