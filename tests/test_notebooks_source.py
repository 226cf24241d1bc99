"""The notebooks are source files people edit: one parameters cell first, carrying the run configuration,
no stored outputs (clean diffs), figures shown inline (no non-interactive backend), and every notebook
reachable through ``aecgcnn reproduce``."""
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("0*.ipynb"))
RUN_CONFIG = ("profile", "dataset", "epochs", "seeds", "batch_size", "protocol", "model_options", "lr",
              "weight_decay", "device", "data_dir", "out_dir")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_clean_editable_source(path):
    nb = json.loads(path.read_text())
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    tags = [c.get("metadata", {}).get("tags") or [] for c in code]
    assert "parameters" in tags[0] and sum("parameters" in t for t in tags) == 1
    params = "".join(code[0]["source"])
    for key in RUN_CONFIG:
        assert f"\n{key} = " in "\n" + params, key
    for c in code:
        assert not c.get("outputs") and c.get("execution_count") is None, "clear outputs before committing"
        assert 'matplotlib.use("Agg")' not in "".join(c["source"])


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_papermill_reads_every_parameter_and_every_cell_has_an_id(path, caplog):
    """`papermill --help-notebook` and nbformat must read the notebook without warnings: a parameter line
    papermill cannot parse (e.g. a second '=' in its comment) is left out of its help, a cell without an id will
    become an error in nbformat."""
    import logging

    import nbformat
    from papermill.translators import PythonTranslator
    nb = json.loads(path.read_text())
    assert all(c.get("id") for c in nb["cells"]), "every cell needs an id"
    cell = next(c for c in nbformat.reads(path.read_text(), 4).cells if "parameters" in c.metadata.get("tags", []))
    with caplog.at_level(logging.WARNING, logger="papermill"):
        params = PythonTranslator.inspect(cell)
    assert not caplog.records, [r.getMessage() for r in caplog.records]
    names = [p.name for p in params]
    assert set(RUN_CONFIG) <= set(names) and len(names) == len(cell.source.strip().splitlines())


def test_every_notebook_has_a_reproduce_name():
    from aecgcnn.cli import NOTEBOOKS as NAMES
    assert sorted(NAMES.values()) == [p.stem for p in NOTEBOOKS]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_loop_rebinds_a_name_of_the_parameters_or_setup_cell(path):
    """A `for` loop in a later cell must not reuse a name the parameters or setup cell binds: the loop leaves its
    last value behind, and a caption or title further down then names that instead (Table III's figure was titled
    with a model name instead of the profile). Comprehension variables do not leak and are allowed."""
    import ast
    nb = json.loads(path.read_text())
    code = ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code"]
    code = [src for src in code if not src.lstrip().startswith(("%", "!"))]
    bound = set()
    for src in code[:2]:
        for node in ast.walk(ast.parse(src)):
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                bound.add(node.id)
    for src in code[2:]:
        for node in ast.walk(ast.parse(src)):
            if isinstance(node, (ast.For, ast.AsyncFor)):
                targets = {n.id for n in ast.walk(node.target) if isinstance(n, ast.Name)}
                assert not targets & bound, f"a loop rebinds {sorted(targets & bound)}: {ast.unparse(node.target)}"
