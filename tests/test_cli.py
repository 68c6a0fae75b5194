"""Command-line input validation and honest claim checks."""

import subprocess
import sys

import pytest


def _cli(*args, timeout=280):
    return subprocess.run([sys.executable, "-m", "jaxmd_rp.cli", *map(str, args)],
                          capture_output=True, text=True, timeout=timeout, check=False)


@pytest.mark.parametrize("args, message", [
    (("fig6", "--scale", "-100"), "--scale must be > 0"),
    (("fig6", "--scale", "0"), "--scale must be > 0"),
    (("fig6", "--paths", "0"), "--paths must be >= 1"),
    (("fig6", "--iters", "0"), "--iters must be >= 1"),
    (("fig6", "--probes", "0"), "--probes must be >= 1"),
    (("fig6", "--chunk", "0"), "--chunk must be >= 1"),
    (("fig7", "--runs", "0"), "--runs must be >= 1"),
    (("fig7", "--epsilons=-1"), "--epsilons must be"),
    (("fig7", "--num-samples", "0"), "--num-samples must be >= 1"),
])
def test_bad_values_refused(tmp_path, args, message):
    r = _cli(*args, "--quiet", "--out", tmp_path / "out")
    assert r.returncode == 2
    assert message in r.stderr
    assert "Traceback" not in r.stderr


def test_fig7_claim_not_met_when_runs_do_not_converge(tmp_path):
    r = _cli("fig7", "--runs", 2, "--delta", 0, "--max-iterations", 2, "--epsilons", "1",
             "--quiet", "--out", tmp_path / "f7")
    assert r.returncode == 0, r.stderr[-2000:]
    assert "NOT MET" in r.stdout and "stopped at --max-iterations" in r.stdout
