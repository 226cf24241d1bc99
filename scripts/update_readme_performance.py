"""Splice the saved benchmark outputs (benchmarks/results/*.txt) into docs/performance.md.

docs/performance.md marks each block with ``<!-- BENCH:<file> -->`` ... ``<!-- /BENCH:<file> -->``; the lines between are
replaced by the file's text (its description line and Markdown table), so the README shows what the scripts
printed, never numbers typed in. ``--check`` exits 1 when README differs from the files (tests/test_readme.py).

    python scripts/update_readme_performance.py [--check]
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PATTERN = re.compile(r"(<!-- BENCH:(?P<name>[\w.-]+) -->\n)(?P<body>.*?)(<!-- /BENCH:(?P=name) -->)", re.S)


def block(name: str) -> str:
    text = (ROOT / "benchmarks" / "results" / name).read_text().strip()
    lines = [line for line in text.splitlines() if line.strip()]
    desc = [line for line in lines if not line.startswith("|")]
    table = [line for line in lines if line.startswith("|")]
    return (f"`benchmarks/results/{name}`: " + " ".join(desc) + "\n\n" + "\n".join(table) + "\n")


def render(readme: str) -> str:
    return PATTERN.sub(lambda m: m.group(1) + block(m.group("name")) + m.group(4), readme)


def main() -> int:
    path = ROOT / "docs" / "performance.md"
    old = path.read_text()
    new = render(old)
    if "--check" in sys.argv:
        if new != old:
            print("docs/performance.md benchmark blocks differ from benchmarks/results: run "
                  "scripts/update_readme_performance.py")
            return 1
        return 0
    path.write_text(new)
    print(f"{len(PATTERN.findall(old))} benchmark blocks written")
    return 0


if __name__ == "__main__":
    sys.exit(main())
