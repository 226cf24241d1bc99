"""Tables and figures written by the notebooks (`aecgcnn.workflow.reports`)."""
import math

import pandas as pd

from aecgcnn.workflow.reports import write_table


def test_write_table_leaves_missing_values_empty_and_formats_numbers_as_before(tmp_path):
    """A size the paper has no row for (Table III at 44,376) is an empty cell, not "nan", in the Markdown table
    and in the CSV; present numbers keep the 4 significant digits."""
    df = pd.DataFrame({"train size": [6956, 44376], "ours": ["0.1131 ± 0.0013", "0.0540"],
                       "paper": [0.079, math.nan], "note": ["", None]})
    md = write_table(df, "t", "caption", tmp_path).read_text()
    rows = [line for line in md.splitlines() if line.startswith("|")]
    assert not any("nan" in line or "None" in line for line in rows)
    assert [c.strip() for c in rows[-1].strip("|").split("|")] == ["44376", "0.0540", "", ""]
    assert [c.strip() for c in rows[-2].strip("|").split("|")] == ["6956", "0.1131 ± 0.0013", "0.079", ""]
    back = pd.read_csv(tmp_path / "t.csv")
    assert math.isnan(back["paper"][1]) and back["paper"][0] == 0.079
