"""The command line in process: outputs, honest claim checks, safe run directories, help."""

import csv
import json

import pytest

from jaxmd_rp._study._rundir import RunDirLock
from jaxmd_rp.cli import _fig6
from tests.cli_helpers import run_cli


def test_fig6_small_writes_every_output(tmp_path):
    out = tmp_path / "fig6"
    code, stdout, err = run_cli("fig6", "--paths", 20, "--iters", 40, "--out", out, "--quiet")
    assert code == 0, err[-3000:]
    assert "Paper claim" in stdout
    with open(out / "fig6.csv") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["n"]) for r in rows] == list(range(1, 41))
    for col in ("n", "mean_gap", "std_gap", "max_gap", "frac_zero", "frac_reached_zero",
                "frac_failed", "mean_d2", "mean_welfare_ratio", "min_welfare_ratio",
                "mean_distance_to_optimum"):
        assert col in rows[0]
    assert all(0.0 <= float(r["frac_zero"]) <= 1.0 for r in rows)
    # the true-welfare panel (harness only): a ratio of welfares, at most 1 up to rounding
    assert all(float(r["mean_welfare_ratio"]) <= 1.0 + 1e-9 for r in rows)
    assert "true welfare (harness only; first 20 paths)" in stdout
    assert (out / "fig6.png").stat().st_size > 1000
    summary = json.loads((out / "fig6_summary.json").read_text())
    assert summary["config"]["paths"] == 20 and summary["claim"]["paths"] == 20
    # a second run into the same folder is refused before computing, unless --overwrite
    code, _, err = run_cli("fig6", "--paths", 2, "--iters", 2, "--out", out, "--quiet")
    assert code == 2 and "holds the outputs of a previous run" in err and "--overwrite" in err
    code, _, err = run_cli("fig6", "--paths", 2, "--iters", 2, "--out", out, "--quiet",
                           "--overwrite", "--welfare-paths", 0)
    assert code == 0, err
    assert json.loads((out / "fig6_summary.json").read_text())["config"]["paths"] == 2


def test_fig7_claim_not_met_when_runs_do_not_converge(tmp_path):
    code, stdout, err = run_cli("fig7", "--runs", 2, "--delta", 0, "--max-iterations", 2,
                                "--epsilons", "1", "--quiet", "--out", tmp_path / "f7")
    assert code == 0, err[-2000:]
    assert "NOT MET" in stdout and "stopped at --max-iterations" in stdout


def test_locked_run_directory_is_refused(tmp_path):
    out = tmp_path / "busy"
    with RunDirLock(str(out)):
        for cmd in ("fig6", "fig7"):
            code, _, err = run_cli(cmd, "--quiet", "--out", out)
            assert code == 2 and "is in use by pid" in err, err
    # released with the lock's owner (the small run of the test above: one compilation for both)
    code, _, err = run_cli("fig7", "--runs", 2, "--delta", 0, "--max-iterations", 2,
                           "--epsilons", "1", "--quiet", "--out", out)
    assert code == 0, err


def test_interrupt_says_how_to_resume(tmp_path, monkeypatch):
    out = tmp_path / "run"
    code, _, err = run_cli("fig6", "--paths", 2, "--iters", 2, "--checkpoint-every", 1,
                           "--welfare-paths", 0, "--quiet", "--out", out)
    assert code == 0, err

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(_fig6.fig6, "run_fig6", interrupted)
    code, _, err = run_cli("fig6", "--paths", 2, "--iters", 4, "--checkpoint-every", 1,
                           "--quiet", "--out", out, "--resume")
    assert code == 130
    assert err.strip() == ("jaxmd-rp fig6: interrupted; the last checkpoint holds iteration 2; "
                           "rerun the same command with --resume")
    code, _, err = run_cli("fig6", "--quiet", "--out", tmp_path / "fresh")
    assert code == 130 and "no checkpoint was written (pass --checkpoint-every K" in err


@pytest.mark.parametrize("command", ["fig6", "fig7", "quickstart"])
def test_help_shows_defaults_and_every_flag_has_help(command):
    from jaxmd_rp import cli

    parser = cli.parser()
    sub = next(a for a in parser._actions if a.dest == "command").choices[command]
    for action in sub._actions:
        if action.dest != "help":
            assert action.help, f"{command} {action.option_strings} has no help text"
    text = sub.format_help()
    if command != "quickstart":
        assert "(default: " in text


def test_version_and_top_level_help():
    code, out, _ = run_cli("--version")
    assert code == 0 and out.startswith("jaxmd_rp ")
    code, out, _ = run_cli("--help")
    assert code == 0 and "fig6" in out and "quickstart" in out
