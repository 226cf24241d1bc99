"""The README's test command as a new user meets it: cold graph, compile and user caches, the demo data, measured
with ``/usr/bin/time -v``. Prints the description line and a Markdown table (save it as
benchmarks/results/readme_test_cpu.txt; the target is at most 5 minutes wall).

Run it from the clone, in the environment the README's install made, with both cores otherwise idle:

    python benchmarks/readme_test.py > benchmarks/results/readme_test_cpu.txt
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
from readme_commands import command  # noqa: E402  (the README's own command, as CI takes it)

from aecgcnn.provenance import git_commit  # noqa: E402


def main() -> None:
    test = command("test")
    commit = git_commit()
    with tempfile.TemporaryDirectory() as cold:
        env = {k: v for k, v in os.environ.items() if k != "AECGCNN_DATA"}
        env.update(AECGCNN_CACHE=f"{cold}/graphs", TORCHINDUCTOR_CACHE_DIR=f"{cold}/inductor",
                   XDG_CACHE_HOME=f"{cold}/xdg")
        run = subprocess.run(["/usr/bin/time", "-v", "bash", "-c", test], cwd=ROOT, env=env, capture_output=True,
                             text=True)
    out, err = run.stdout, run.stderr

    def field(name: str) -> str:
        m = re.search(rf"{re.escape(name)}: (.+)", err)
        return m.group(1).strip() if m else "?"
    summary = (out.strip().splitlines() or ["?"])[-1].strip("= ")
    print(f"The README test command with cold graph, compile and user caches (AECGCNN_CACHE, TORCHINDUCTOR_CACHE_DIR, "
          f"XDG_CACHE_HOME fresh temporary folders; AECGCNN_DATA unset), at commit {commit}, measured with "
          f"/usr/bin/time -v by python benchmarks/readme_test.py (exit code {run.returncode}):")
    print()
    print("| command | tests | wall | user s | sys s | peak RSS (largest process) | minor faults |")
    print("|---|---|---|---|---|---|---|")
    rss = field("Maximum resident set size (kbytes)")
    rss = f"{int(rss) // 1024} MiB" if rss.isdigit() else rss
    print(f"| `{test}` | {summary} | {field('Elapsed (wall clock) time (h:mm:ss or m:ss)')} | "
          f"{field('User time (seconds)')} | {field('System time (seconds)')} | {rss} | "
          f"{field('Minor (reclaiming a frame) page faults')} |")


if __name__ == "__main__":
    main()
