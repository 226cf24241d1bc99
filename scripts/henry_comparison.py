"""The CoRE-2019 CO2 Henry-coefficient comparison (issue 15): our finished runs in runs/henry/<preset>-seed<k>/
beside the published MOF-model comparison on about 8,200 CoRE MOFs, written to results/henry_comparison.{md,csv}.

    AECGCNN_DATA=../shared/data aecgcnn train --dataset core2019-co2-henry --preset cgcnn --protocol reference-cgcnn \\
        --epochs 30 --seed 0 --edge-precision fp32 --out runs/henry/cgcnn-seed0   # and --preset ae-cgcnn --out ...
    python scripts/henry_comparison.py [runs/henry]

Only finished runs (metrics.json) are listed; nothing is typed in except the published rows, quoted as given.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
# published comparison (MAE of log K_H, about 8,200 CoRE MOFs; its own split), as quoted in issue 15
PUBLISHED = [("PMTransformer (published)", 0.288), ("MOFTransformer (published)", 0.295),
             ("CGCNN (published)", 0.426), ("descriptor ML (published)", 0.468)]


def main(runs: Path) -> Path:
    sys.path.insert(0, str(ROOT))
    from aecgcnn.reports import write_table
    rows, commands, commits = [], [], set()
    for metrics in sorted(runs.glob("*/metrics.json")):
        m = json.loads(metrics.read_text())
        e, t = m["experiment"], m["test"]
        rows.append({"model": f"{e['preset']} (ours)", "run": metrics.parent.name, "test MAE": t["mae"],
                     "test RMSE": t["rmse"], "test R2": t["r2"], "test SRCC": t["srcc"],
                     "train / val / test": "{train} / {val} / {test}".format(**m["sizes"]),
                     "split": f"{e['split']} seed {e['split_seed'] if e['split_seed'] is not None else e['seed']}",
                     "protocol": f"{e['protocol']}, {m['train_settings']['epochs']} epochs (best {m['best_epoch']})",
                     "device": m["provenance"]["device"], "commit": m["provenance"]["commit"]})
        commands.append(m["provenance"]["command"])
        commits.add(m["provenance"]["commit"])
    rows += [{"model": name, "run": "", "test MAE": mae, "split": "about 8,200 CoRE MOFs, the publication's split"}
             for name, mae in PUBLISHED]
    df = pd.DataFrame(rows).sort_values("test MAE", kind="stable").astype(object).fillna("")
    return write_table(
        df, "henry_comparison",
        "CoRE-2019 CO2 Henry coefficient (logKH_CO2 of the Moosavi et al. labels, 8,571 labelled MOFs with a CIF): "
        "ours on an 80/10/10 random split of all of them, test MAE of log K_H, beside the published comparison "
        "(about 8,200 CoRE MOFs, a split of its own: compare the scale, not the third digit)",
        ROOT / "results", command="; ".join(commands) or "no finished runs", commits=sorted(commits),
        data=["mof/core2019_co2_labels_merged.csv", "mof/CoRE2019_charged_cifs.tar.xz"])


if __name__ == "__main__":
    print(main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "runs" / "henry"))
