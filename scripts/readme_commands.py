"""Print a command of the README's "Set up, test, run" block, so that CI runs exactly what users read.

    python scripts/readme_commands.py install|test|main

The block is the first ```bash fence after the heading "## Set up, test, run"; ``install`` is its line with
``pip install``, ``test`` the line with ``pytest``, ``main`` the line with ``aecgcnn train``.
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"
KEYS = {"install": "pip install", "test": "pytest", "main": "aecgcnn train"}


def setup_block(text: str) -> list[str]:
    """Command lines (comments dropped) of the first bash block under '## Set up, test, run'."""
    section = text.split("## Set up, test, run", 1)[1]
    block = re.search(r"```bash\n(.*?)```", section, re.S).group(1)
    return [ln.strip() for ln in block.splitlines() if ln.strip() and not ln.strip().startswith("#")]


def command(kind: str, text: str | None = None) -> str:
    lines = [ln for ln in setup_block(text or README.read_text()) if KEYS[kind] in ln]
    if len(lines) != 1:
        raise SystemExit(f"README: expected one {kind} command ({KEYS[kind]!r}) in the set-up block, found {len(lines)}")
    return lines[0]


if __name__ == "__main__":
    print(command(sys.argv[1]))
