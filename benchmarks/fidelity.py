"""Fidelity benchmark: named model recipes trained on fixed splits over several seeds, test MAE mean ± std
printed beside the reference CGCNN's number on the same kind of split (issue 11's measurements with the
reference code). Runs go to ``runs/fidelity/<case>/seed<k>`` and are reused when finished, and an interrupted
run continues from its last epoch (``--resume``, bit for bit), so the script can be stopped and restarted;
``--only`` picks cases (run two processes on two cores with ``--threads 1``).
With ``--table``, a case that has no finished runs here keeps its row of the table already written there (the
provenance lists such cases), so a new or rerun case joins the measured rows instead of replacing them.

    python benchmarks/fidelity.py [--seeds 0 1 2 3 4] [--only mp-cgcnn-reference ...] [--threads 1]
        [--list] [--table results/fidelity.md]

Cases (the split of a dataset is the same for every case and seed: only the model seed varies):
- MP: MEGNet-2018 train subset of 1,000 crystals, 500 MEGNet-val crystals for model selection, the full
  MEGNet test set (3,120); 50 epochs.
- CoRE: CoRE-2019 CO2 0.15 bar, 80/10/10 split (seed 0), train 1,000 / val 300 of its parts and its whole test part
  (933 MOFs); 30 epochs, batch 64.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

MP = dict(dataset="mp-megnet-2018", split="file", train_size=1000, val_size=500, split_seed=0)
CORE = dict(dataset="core2019-co2-0.15bar", split="80-10-10", train_size=1000, val_size=300, test_size=1000,
            split_seed=0, epochs=30, batch_size=64)
# the acceptance options of issue 11: CGCNN atom features and Softplus, batch 256, no weight decay
MP_REF_OPTS = dict(overrides={"atom_features": "cgcnn", "activation": "softplus"}, batch_size=256, weight_decay=0.0)

#: reference CGCNN (Xie & Grossman's code, Adam 1e-3) on the same kind of split, measured with that code
REFERENCE = {
    "mp": ("reference CGCNN 64/3 conv/128, batch 256, wd 0: 0.179; its formation-energy settings: 0.172 "
           "(mean predictor ≈ 0.85)", 0.179),
    "core": ("reference CGCNN 64/3 conv/128, 30 epochs, batch 64: 0.783 (mean predictor 1.163)", 0.783),
}

PERPART = {"init": "per-part", "readout_preact": False}  # the package defaults before this benchmark
CASES = {
    "mp-cgcnn-paper": dict(MP, preset="cgcnn", protocol="paper"),
    "mp-cgcnn-features-perpart": dict(MP, preset="cgcnn", protocol="paper",
                                      **{**MP_REF_OPTS, "overrides": {**MP_REF_OPTS["overrides"], **PERPART}}),
    "mp-cgcnn-features": dict(MP, preset="cgcnn", protocol="paper", **MP_REF_OPTS),
    "mp-cgcnn-reference": dict(MP, preset="cgcnn", protocol="reference-cgcnn"),
    "mp-ae-cgcnn-features-perpart": dict(MP, preset="ae-cgcnn", protocol="paper", **{
        **MP_REF_OPTS, "overrides": {**MP_REF_OPTS["overrides"], "geo_features": "radial", "attention_norm": "joint",
                                     **PERPART}}),
    "mp-ae-cgcnn-features": dict(MP, preset="ae-cgcnn", protocol="paper", **{
        **MP_REF_OPTS, "overrides": {**MP_REF_OPTS["overrides"], "geo_features": "radial", "attention_norm": "joint"}}),
    "mp-ae-cgcnn-reference": dict(MP, preset="ae-cgcnn", protocol="reference-cgcnn", overrides={"geo_features": "radial"}),
    # why is AE-CGCNN not ahead? one change at a time on the mp-ae-cgcnn-features recipe
    "mp-ae-cgcnn-features-wd": dict(MP, preset="ae-cgcnn", protocol="paper", **{
        **MP_REF_OPTS, "weight_decay": 5e-4,
        "overrides": {**MP_REF_OPTS["overrides"], "geo_features": "radial", "attention_norm": "joint"}}),
    "mp-ae-cgcnn-features-perhead": dict(MP, preset="ae-cgcnn", protocol="paper", **{
        **MP_REF_OPTS, "overrides": {**MP_REF_OPTS["overrides"], "geo_features": "radial", "attention_norm": "per-head"}}),
    "mp-ae-cgcnn-features-perhead-bf16": dict(MP, preset="ae-cgcnn", protocol="paper", edge_precision="bf16", **{
        **MP_REF_OPTS, "overrides": {**MP_REF_OPTS["overrides"], "geo_features": "radial", "attention_norm": "per-head"}}),
    "mp-ae-cgcnn-features-lr": dict(MP, preset="ae-cgcnn", protocol="paper", **{
        **MP_REF_OPTS, "lr": 5e-4,
        "overrides": {**MP_REF_OPTS["overrides"], "geo_features": "radial", "attention_norm": "joint"}}),
    "core-cgcnn-paper": dict(CORE, preset="cgcnn", protocol="paper"),
    "core-cgcnn-reference": dict(CORE, preset="cgcnn", protocol="reference-cgcnn"),
    "core-ae-cgcnn-paper": dict(CORE, preset="ae-cgcnn", protocol="paper", overrides={"attention_norm": "joint"}),
    "core-ae-cgcnn-reference": dict(CORE, preset="ae-cgcnn", protocol="reference-cgcnn",
                                    overrides={"attention_norm": "joint"}),
    "core-ae-cgcnn-reference-bf16": dict(CORE, preset="ae-cgcnn", protocol="reference-cgcnn", edge_precision="bf16",
                                         overrides={"attention_norm": "joint"}),
    "core-ae-cgcnn-reference-perhead": dict(CORE, preset="ae-cgcnn", protocol="reference-cgcnn",
                                            overrides={"attention_norm": "per-head"}),
}
DESCRIPTION = {
    "mp-cgcnn-paper": "`cgcnn` rung, paper protocol (one-hot Z, ReLU, 4 conv, batch 64, wd 5e-4)",
    "mp-cgcnn-features-perpart": "`cgcnn`, CGCNN atom features + Softplus, batch 256, wd 0; old defaults "
                                 "(per-part init, no activation before the head)",
    "mp-cgcnn-features": "`cgcnn`, CGCNN atom features + Softplus, batch 256, wd 0 (issue 11 acceptance command; "
                         "defaults: fused init, activation before the head)",
    "mp-cgcnn-reference": "`cgcnn`, `--protocol reference-cgcnn` (as above with 3 conv layers)",
    "mp-ae-cgcnn-features-perpart": "`ae-cgcnn` (radial geometry), atom features + Softplus, batch 256, wd 0; old defaults",
    "mp-ae-cgcnn-features": "`ae-cgcnn` (radial geometry), atom features + Softplus, batch 256, wd 0, joint softmax of Eq. 7",
    "mp-ae-cgcnn-reference": "`ae-cgcnn` (radial geometry), `--protocol reference-cgcnn`",
    "mp-ae-cgcnn-features-wd": "as mp-ae-cgcnn-features with weight decay 5e-4 (regularisation)",
    "mp-ae-cgcnn-features-perhead": "as mp-ae-cgcnn-features with each head's softmax over the slots alone",
    "mp-ae-cgcnn-features-perhead-bf16": "as mp-ae-cgcnn-features-perhead with the per-edge GEMMs in bf16 "
                                         "(`--edge-precision bf16`)",
    "core-ae-cgcnn-reference-bf16": "as core-ae-cgcnn-reference with the per-edge GEMMs in bf16",
    "mp-ae-cgcnn-features-lr": "as mp-ae-cgcnn-features with learning rate 5e-4",
    "core-cgcnn-paper": "`cgcnn` rung, paper protocol (wd 5e-4), 30 epochs, batch 64",
    "core-cgcnn-reference": "`cgcnn` rung, `--protocol reference-cgcnn`, 30 epochs, batch 64",
    "core-ae-cgcnn-paper": "`ae-cgcnn` (charges, radial + plane waves), paper protocol, 30 epochs, batch 64",
    "core-ae-cgcnn-reference": "`ae-cgcnn`, `--protocol reference-cgcnn` options, joint softmax of Eq. 7, 30 epochs, batch 64",
    "core-ae-cgcnn-reference-perhead": "as core-ae-cgcnn-reference with each head's softmax over the slots alone",
}


def case(name: str) -> dict:
    """The experiment settings of a case: float32 per-edge GEMMs unless the case says otherwise (its runs were made
    before bf16 became the package default)."""
    from aecgcnn.config import LEGACY_EDGE_PRECISION
    return {"edge_precision": LEGACY_EDGE_PRECISION, **CASES[name]}


def _effective(config: dict) -> dict:
    """A saved AE-CGCNN config with the keys its version lacked filled as that version behaved, and
    ``pw_cell`` dropped where there are no plane waves (it changes nothing there)."""
    from dataclasses import asdict

    from aecgcnn.models.aecgcnn import AECGCNNConfig
    try:
        full = asdict(AECGCNNConfig.from_dict(config, legacy=True))
    except (TypeError, ValueError):
        return config
    if "plane" not in full["geo_features"]:
        full.pop("pw_cell")
    return full


def _finished(exp) -> dict | None:
    """The metrics of a finished run in ``exp.out_dir`` that trained exactly this model (saved config) with
    these optimiser settings, sizes and seeds; None otherwise (so a change of package defaults retrains)."""
    from aecgcnn.experiment import LEGACY_VALUES, model_overrides, train_settings
    from aecgcnn.models import model_from_preset
    path = Path(exp.out_dir) / "metrics.json"
    if not path.exists():
        return None
    m = json.loads(path.read_text())
    want = _effective(model_from_preset(exp.preset, **model_overrides(exp)).config_dict())
    keys = ("dataset", "split", "seed", "split_seed", "train_size", "val_size", "test_size", "edge_precision")
    same = (_effective(m.get("model_config", {})) == want and m.get("train_settings") == train_settings(exp)
            and all(m["experiment"].get(k, LEGACY_VALUES.get(k)) == getattr(exp, k) for k in keys))
    return m if same else None


def run_case(name: str, seeds: list[int], runs_dir: Path, data_dir=None, compile_=False) -> list[dict]:
    from aecgcnn.experiment import Experiment, run_experiment
    out = []
    for seed in seeds:
        exp = Experiment(**case(name), seed=seed, data_dir=data_dir, compile=compile_, progress=False,
                         save_split_file=False, resume=True, out_dir=str(runs_dir / name / f"seed{seed}"))
        m = _finished(exp) or run_experiment(exp)
        print(f"{name} seed {seed}: test MAE {m['test']['mae']:.4f} (best epoch {m['best_epoch']}, "
              f"{m['train_seconds']:.0f} s)", flush=True)
        out.append(m)
    return out


def summarize(runs_dir: Path, seeds: list[int]) -> tuple[list[dict], dict]:
    """Rows (case, n seeds, mean ± std test MAE, ...) from finished runs; missing runs are left out."""
    import numpy as np
    rows, prov = [], {}
    for name in CASES:
        from aecgcnn.experiment import Experiment
        ms = [m for s in seeds if (m := _finished(Experiment(**case(name), seed=s,
                                                              out_dir=str(runs_dir / name / f"seed{s}"))))]
        if not ms:
            continue
        mae = np.array([m["test"]["mae"] for m in ms])
        family = name.split("-")[0]
        rows.append({"case": name, "what": DESCRIPTION[name], "seeds": ",".join(str(m["experiment"]["seed"]) for m in ms),
                     "test MAE mean": round(float(mae.mean()), 4), "std": round(float(mae.std(ddof=1)) if len(mae) > 1 else 0.0, 4),
                     "worst seed": round(float(mae.max()), 4), "best epochs": ",".join(str(m["best_epoch"]) for m in ms),
                     "n train/val/test": "/".join(str(ms[0]["sizes"][k]) for k in ("train", "val", "test")),
                     "reference CGCNN": REFERENCE[family][1], "ours / reference": round(float(mae.mean()) / REFERENCE[family][1], 3),
                     "units": ms[0]["units"]})
        prov.setdefault("commits", set()).update(m["provenance"]["commit"] for m in ms)
        prov.setdefault("devices", set()).update(m["provenance"]["device"] for m in ms)
    return rows, {k: sorted(v) for k, v in prov.items()}


def committed_rows(table: Path, have: set[str]) -> tuple[list[dict], dict]:
    """The rows of an earlier ``table`` (its CSV beside it) for the cases not in ``have`` (no finished runs here:
    e.g. runs lost with a machine) and still defined as they were (its provenance's ``cases`` equal to
    :data:`CASES` for that case), with that provenance's ``commits`` and ``devices``; nothing when there is no such
    table. So adding a case or rerunning some keeps the measured rows of the others."""
    import pandas as pd
    csv, prov_path = table.with_suffix(".csv"), table.with_suffix(".provenance.json")
    if not csv.exists() or not prov_path.exists():
        return [], {}
    prov = json.loads(prov_path.read_text())
    defined, now = json.loads(prov.get("cases", "{}")), json.loads(json.dumps(CASES))  # as stamped (JSON)
    rows = pd.read_csv(csv, dtype={"seeds": str, "best epochs": str}).to_dict("records")
    kept = [row for row in rows if row["case"] not in have and row["case"] in now
            and defined.get(row["case"]) == now[row["case"]]]
    return kept, ({k: prov.get(k, []) for k in ("commits", "devices")} if kept else {})


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--only", nargs="+", default=None, choices=list(CASES))
    ap.add_argument("--runs-dir", default=str(ROOT / "runs" / "fidelity"))
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--threads", type=int, default=None, help="torch threads of this process")
    ap.add_argument("--compile", action="store_true")
    ap.add_argument("--summary-only", action="store_true", help="print the table of finished runs, train nothing")
    ap.add_argument("--table", default=None, help="also write the table (Markdown + CSV) under this name")
    ap.add_argument("--list", action="store_true")
    args = ap.parse_args()
    if args.list:
        for name, case in CASES.items():
            print(f"{name}: {DESCRIPTION[name]}  {case}")
        return 0
    import torch
    if args.threads:
        torch.set_num_threads(args.threads)
    runs_dir = Path(args.runs_dir)
    if not args.summary_only:
        for name in args.only or list(CASES):
            run_case(name, args.seeds, runs_dir, args.data_dir, args.compile)
    import pandas as pd
    rows, prov = summarize(runs_dir, args.seeds)
    if args.table:  # cases without runs here keep their rows of the committed table
        kept, earlier = committed_rows(Path(args.table), {row["case"] for row in rows})
        rows = sorted(rows + kept, key=lambda row: list(CASES).index(row["case"]))
        prov = {k: sorted(set(prov.get(k, [])) | set(earlier.get(k, []))) for k in ("commits", "devices")}
        if kept:
            prov["kept_from_the_committed_table"] = [row["case"] for row in kept]
    df = pd.DataFrame(rows)
    print(df.drop(columns=["what"]).to_markdown(index=False) if len(df) else "no finished runs")
    if args.table and len(df):
        from aecgcnn.workflow.reports import write_table
        write_table(df, Path(args.table).stem, "Fidelity: our rungs against the reference CGCNN on the same kind of "
                    "split (test MAE mean ± std over model seeds; reference numbers measured with the reference code)",
                    Path(args.table).parent, command="python benchmarks/fidelity.py " + " ".join(sys.argv[1:]),
                    data="mp-megnet-2018, core2019-co2-0.15bar", cases=json.dumps(CASES), **prov)
    return 0


if __name__ == "__main__":
    sys.exit(main())
