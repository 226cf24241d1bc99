"""Render executed notebooks (``aecgcnn reproduce NAME --profile cpu`` writes them under runs/cpu/notebooks/) as
Markdown pages with their figures into docs/notebooks/, so the results can be read without running anything while
the source notebooks in notebooks/ stay output-free for nbval.

    python scripts/render_notebooks.py EXECUTED.ipynb [...] [--out docs/notebooks]

Each page is named after the source notebook (``03_table2_splits.md``) and starts with the parameters it ran with.
"""
from __future__ import annotations

import argparse
import base64
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _text(value) -> str:
    return "".join(value) if isinstance(value, list) else str(value)


def render(executed: Path, out_dir: Path) -> Path:
    """Write ``out_dir/<stem>.md`` (and its PNG figures in ``out_dir/<stem>_files/``) from one executed notebook."""
    nb = json.loads(executed.read_text())
    stem = executed.stem.split(",")[0]  # reproduce names executed copies "<stem>,<param>=<value>..."
    files = out_dir / f"{stem}_files"
    lines = [f"<!-- rendered by scripts/render_notebooks.py from {executed.name}; edit notebooks/{stem}.ipynb -->", ""]
    figure = 0
    for cell in nb["cells"]:
        source = _text(cell.get("source", ""))
        if cell["cell_type"] == "markdown":
            lines += [source, ""]
            continue
        if cell["cell_type"] != "code":
            continue
        lines += ["```python", source, "```", ""]
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream":
                lines += ["```text", _text(output["text"]).rstrip("\n"), "```", ""]
            elif output.get("output_type") == "error":
                lines += ["```text", f"{output.get('ename')}: {output.get('evalue')}", "```", ""]
            elif "data" in output:
                data = output["data"]
                if "image/png" in data:
                    files.mkdir(parents=True, exist_ok=True)
                    figure += 1
                    name = f"figure{figure}.png"
                    (files / name).write_bytes(base64.b64decode(_text(data["image/png"])))
                    lines += [f"![figure {figure}]({files.name}/{name})", ""]
                elif "text/markdown" in data:
                    lines += [_text(data["text/markdown"]), ""]
                elif "text/plain" in data:
                    lines += ["```text", _text(data["text/plain"]).rstrip("\n"), "```", ""]
    out = out_dir / f"{stem}.md"
    out.write_text("\n".join(lines).rstrip("\n") + "\n")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("executed", nargs="+", type=Path)
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "notebooks")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for path in args.executed:
        print(f"{path} -> {render(path, args.out)}")


if __name__ == "__main__":
    main()
