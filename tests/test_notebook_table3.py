"""Notebook 04 (Table III) with parameters the nbval run leaves at their defaults: run through papermill, as
`aecgcnn reproduce` runs it, on the demo sample with the quick profile."""
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]


def test_train_side_trains_the_geocgnn_side_column_at_every_size(tmp_path, monkeypatch):
    """`train_side=True` queues GeoCGNN with the protocol's weight decay (5e-4) after the table's own runs, in the
    side column's folders, and the table shows it beside GeoCGNN with its own weight decay (0): a different model
    run, so its numbers differ from the column beside it."""
    import json

    import papermill as pm
    monkeypatch.delenv("AECGCNN_DATA", raising=False)  # the demo sample
    pm.execute_notebook(str(ROOT / "notebooks" / "04_table3_geocgnn.ipynb"), str(tmp_path / "executed.ipynb"),
                        parameters={"profile": "quick", "out_dir": str(tmp_path), "train_side": True},
                        cwd=str(ROOT / "notebooks"), progress_bar=False)
    table = pd.read_csv(tmp_path / "data=demo" / "table3_geocgnn.csv")
    side = "GeoCGNN, wd 0.0005 (ours)"
    assert list(table["train size"]) == [100, 200] and table[side].notna().all()
    by_size = table.set_index("train size")[side]
    for n in (100, 200):
        run = tmp_path / "runs/mp-megnet-2018/learning-curve/geocgnn/data=demo,weight_decay=0.0005" / f"n{n}/seed0"
        metrics = json.loads((run / "metrics.json").read_text())
        assert metrics["train_settings"]["weight_decay"] == 0.0005 and abs(metrics["test"]["mae"] - by_size[n]) < 1e-4
    assert (table[side] != table["GeoCGNN (ours)"]).all()
