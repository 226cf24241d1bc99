"""README and CI agree: .ci/run runs the README's own install and test commands, and the main-job command
is a valid ``aecgcnn`` invocation."""
import shlex
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
import readme_commands  # noqa: E402


def test_ci_runs_the_readme_commands():
    ci = (ROOT / ".ci" / "run").read_text()
    assert "readme_commands.py install" in ci and "readme_commands.py test" in ci
    assert 'eval "$install"' in ci and 'bash -c "$test"' in ci


def test_ci_stops_with_the_exit_code_of_a_failed_install(tmp_path):
    """.ci/run itself, with a ``pip`` that cannot install a requirement first on PATH: CI ends at the install with
    pip's exit code and says so, without running a test (it used to mask the failure and test whatever was
    installed)."""
    import os
    import subprocess
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "pip").write_text("#!/bin/sh\necho 'ERROR: No matching distribution found for no-such-dependency' >&2\n"
                              "exit 7\n")
    (fake / "pip").chmod(0o755)
    env = {**os.environ, "PATH": f"{fake}:{os.environ['PATH']}"}
    done = subprocess.run(["bash", str(ROOT / ".ci" / "run")], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 7, done.stdout + done.stderr
    assert "install command failed with exit code 7" in done.stderr and "README test command" not in done.stdout


def test_readme_commands_are_found_and_need_no_data_directory():
    install = readme_commands.command("install")
    test = readme_commands.command("test")
    assert "torch==2.13.0" in install and "-e" in install
    assert test.startswith("python -m pytest") and " tests notebooks " in f" {test} " and "AECGCNN_DATA" not in test
    assert "AECGCNN_DATA" not in readme_commands.command("main")  # the demo sample makes it work anywhere


def test_main_job_is_a_valid_command():
    from aecgcnn.cli import build_parser
    argv = shlex.split(readme_commands.command("main"))
    assert argv[0] == "aecgcnn"
    args = build_parser().parse_args(argv[1:])
    assert args.dataset == "core2019-co2-0.15bar" and args.preset == "ae-cgcnn"


def test_extraction_rejects_an_ambiguous_block():
    import pytest
    text = "## Set up, test, run\n\n```bash\npython -m pytest a\npython -m pytest b\n```\n"
    with pytest.raises(SystemExit, match="expected one test command"):
        readme_commands.command("test", text)


def test_readme_benchmark_tables_are_the_saved_outputs():
    """Performance tables in docs/performance.md are spliced from benchmarks/results (no typed-in numbers, no
    drift)."""
    import subprocess
    import sys
    r = subprocess.run([sys.executable, str(ROOT / "scripts" / "update_readme_performance.py"), "--check"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout
    assert "<!-- BENCH:train_throughput_cpu.txt -->" in (ROOT / "docs" / "performance.md").read_text()


def test_readme_is_short_and_its_results_are_generated():
    """A newcomer reads README.md in five minutes: at most 300 lines, with the Python example, and its headline
    table is the generated verdicts table, the same file the generator writes (no typed-in results)."""
    import update_readme_results as up
    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) <= 300 and "aecgcnn.load_model(" in text
    head = text.split(up.HEADLINE[0], 1)[1].split(up.HEADLINE[1], 1)[0]
    assert head.strip() == up.headline().strip()


def test_readme_marks_partial_and_earlier_profile_results():
    """A cpu-profile table is current (the profile's settings), partial (the first of its seeds only) or earlier
    (any other settings, or none stamped): the README must not present a partial or old table as the profile's."""
    import update_readme_results as up
    current = up.current_settings("figures/cpu/attention_by_metal.md")
    assert up.profile_status(current, "attention") == "current"
    assert up.profile_status({**current, "seeds": current["seeds"][:1]}, "attention") == "partial"
    assert up.profile_status({**current, "seeds": current["seeds"][1:2]}, "attention") == "earlier"  # not a prefix
    assert up.profile_status({**current, "epochs": 10, "seeds": current["seeds"][:1]}, "attention") == "earlier"
    assert up.profile_status(None, "attention") == "earlier"
    # a finished-only look at the profile's runs (-p finished_only true), with or without fewer seeds
    assert up.profile_status({**current, "finished_only": True}, "attention") == "partial"
    assert up.profile_status({**current, "finished_only": True, "seeds": current["seeds"][:1]}, "attention") == "partial"
    assert up.profile_status({**current, "finished_only": True, "epochs": 10}, "attention") == "earlier"
    assert "finished so far" in up.partial_what({**current, "finished_only": True})
    # a run that left out the runs another process was training (-p skip_busy true)
    assert up.profile_status({**current, "skip_busy": True}, "attention") == "partial"
    assert up.partial_flag({**current, "skip_busy": True}) == "-p skip_busy true" and up.partial_flag(current) is None
    assert "finished so far" in up.partial_what({**current, "skip_busy": True})


def test_only_earlier_profile_tables_carry_the_old_defaults_note(monkeypatch):
    """The current cpu profile is younger than the fidelity work: its tables (complete or partial) are not marked
    as made with the old defaults; earlier-profile tables and the old results/ tables are."""
    import update_readme_results as up
    current = up.current_settings("figures/cpu/table1_ablation.md")
    for stamped, expected in ((current, True), ({**current, "finished_only": True}, True),
                              ({**current, "epochs": 10}, False), (None, False)):
        monkeypatch.setattr(up, "stamped_settings", lambda table, s=stamped: s)
        assert up.is_current_profile("figures/cpu/table1_ablation.md") is expected
        assert (up.OLD in (up.section("figures/cpu/table1_ablation.md", "intro", []) or up.OLD)) is not expected
    assert not up.is_current_profile("results/mp1000_presets.md")


def test_side_study_tables_carry_their_verdicts_and_no_profile_note(tmp_path, monkeypatch):
    """A notebook run with changed parameters (``figures/cpu/<variant>/``) is a side study: no earlier-profile note
    (its settings differ from the profile's by design), its own verdicts under its table, and a partial note only for
    a finished-only look."""
    import json

    import update_readme_results as up
    from aecgcnn.workflow.verdicts import Verdict, write_verdicts
    table = "figures/cpu/attention_norm=per-head/table3_geocgnn.md"
    (tmp_path / table).parent.mkdir(parents=True)
    (tmp_path / table).write_text("| train size |\n|---|\n| 300 |\n")
    write_verdicts([Verdict(claim="claim X", paper="p", status="undecided", evidence="e", reason="r")],
                   "verdicts_table3", (tmp_path / table).parent)
    monkeypatch.setattr(up, "ROOT", tmp_path)
    assert up.is_side_study(table) and not up.is_side_study("figures/cpu/table3_geocgnn.md")
    for finished_only in (False, True):
        prov = {"settings": {"sizes": [300], "finished_only": True} if finished_only else {"sizes": [300]}}
        (tmp_path / table.replace(".md", ".provenance.json")).write_text(json.dumps(prov))
        text = up.section(table, "intro", [])
        assert "claim X" in text and "| 300 |" in text and "earlier `cpu` profile" not in text
        assert ("finished so far" in text) is finished_only
