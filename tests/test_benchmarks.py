"""The device check runs end to end at its small size (the same code as on an accelerator)."""

import json
import math
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_device_check_small(tmp_path):
    r = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "device_check.py"), "--small",
                        "--repeat", "1", "--out", str(tmp_path)], capture_output=True, text=True,
                       timeout=280, cwd=ROOT, check=False)
    assert r.returncode == 0, r.stderr[-3000:]
    res = json.loads((tmp_path / "device_check.json").read_text())
    assert res["small"] and res["device"]["backend"] == "cpu"
    assert [g["T"] for g in res["gap"]] == [10, 50, 200]
    assert all(g["us_per_data_set"] > 0 for g in res["gap"])
    assert res["river"]["failed"] == 0 and res["river"]["max_residual"] <= 1e-10
    assert res["single_call"]["solve_equilibrium_ratio"] >= 1.0
    assert {(f["paths"], f["iters"]) for f in res["fig6"]} == {(50, 10), (200, 5), (50, 5)}
    assert all(math.isfinite(f["loop_s"]) for f in res["fig6"])
    assert "cold_s" in res["start"] and "cold_error" not in res["start"]
    assert "| Pareto gap |" in (tmp_path / "device_check.md").read_text()
