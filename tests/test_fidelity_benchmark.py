"""benchmarks/fidelity.py: a case with no finished runs keeps its row of the committed table, only while the case
is defined as it was when that row was measured."""
import json
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))


def test_cases_without_runs_keep_their_committed_rows_while_their_definition_holds(tmp_path):
    import fidelity
    names = list(fidelity.CASES)[:3]
    rows = [{"case": n, "what": "w", "seeds": "0,1", "test MAE mean": 0.1 * (k + 1), "best epochs": "4,5"}
            for k, n in enumerate(names)]
    pd.DataFrame(rows).to_csv(tmp_path / "fidelity.csv", index=False)
    stamped = {**fidelity.CASES, names[1]: {**fidelity.CASES[names[1]], "epochs": 1}}  # measured as another recipe
    (tmp_path / "fidelity.provenance.json").write_text(json.dumps(
        {"cases": json.dumps(stamped), "commits": ["abc"], "devices": ["cpu"]}))
    kept, prov = fidelity.committed_rows(tmp_path / "fidelity.md", have={names[2]})  # names[2] has runs here
    assert [r["case"] for r in kept] == [names[0]]  # names[1] changed since, names[2] is measured again
    assert kept[0]["seeds"] == "0,1" and kept[0]["test MAE mean"] == 0.1 and prov == {"commits": ["abc"], "devices": ["cpu"]}
    assert fidelity.committed_rows(tmp_path / "other.md", have=set()) == ([], {})  # no earlier table
