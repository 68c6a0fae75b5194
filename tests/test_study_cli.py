"""`jaxmd-rp study`: from a 20-line game file to tables, plots and a summary with 95 % confidence
intervals in one command; the configuration file; resume; Parquet; the guarantees of Figure 6."""

import csv
import dataclasses
import hashlib
import json
import math
import os
import signal
import subprocess
import sys
import textwrap
import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxmd_rp as rp
from jaxmd_rp import cli
from jaxmd_rp._study._rundir import RunDirLock
from jaxmd_rp.cli import _study as study_cli
from jaxmd_rp.experiments import _stats, _toml, fig6, study
from jaxmd_rp.experiments._study_config import KEYS
from jaxmd_rp.experiments.study_tables import ITERATION_COLUMNS, PATH_COLUMNS, TRACE_COLUMNS
from tests.cli_helpers import run_cli

GAME = '''\
"""A capped Cournot duopoly with a per-unit tax, equilibrium in closed form (20 lines)."""
import jax.numpy as jnp

import jaxmd_rp as rp


class CappedDuopoly(rp.AbstractClosedFormGame):
    num_agents, action_dim, theta_dim, probe_dim = 2, None, 1, 2  # x = outputs, theta = [tax]
    demand: float = 10.0
    theta_bounds = property(lambda self: (jnp.full(1, -3.0), jnp.full(1, 5.0)))
    probe_bounds = property(lambda self: (jnp.full(2, 0.5), jnp.full(2, 4.0)))  # output caps

    def utilities(self, theta, x):
        return (self.demand - jnp.sum(x) - 1.0 - theta[0]) * x

    def constraints(self, probe, x):
        return x - probe

    def revealed_constraints(self, probe, x):
        return x / probe - 1.0

    def equilibrium(self, theta, probe):  # Cournot output (demand - 1 - tax) / 3, capped
        return jnp.minimum((self.demand - 1.0 - theta[0]) / 3.0, probe)


def make_game(demand=10.0):
    return CappedDuopoly(demand=demand)
'''
SMALL = ("--paths", 6, "--iters", 4, "--probes", 3, "--chunk", 2, "--a", 5, "--welfare-paths", 0,
         "--quiet")
FILES = ("study_iterations.csv", "study_paths.csv", "study_summary.json", "study.png",
         "study_theta.png", "study.toml", "run.json", "probes.npz")


@pytest.fixture(scope="module")
def game(tmp_path_factory):
    folder = tmp_path_factory.mktemp("user")
    (folder / "duopoly.py").write_text(GAME)
    return f"{folder / 'duopoly.py'}:make_game"


def _rows(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def _ok(*argv):
    code, out, err = run_cli("study", *argv)
    assert code == 0, err[-3000:]
    return out


@pytest.fixture(scope="module")
def finished(tmp_path_factory, game):
    """(run directory, printed summary) of one small study, shared by the tests below."""
    out = tmp_path_factory.mktemp("finished") / "s"
    return out, _ok("--game", game, *SMALL, "--out", out)


def test_a_game_file_to_a_finished_study(finished):
    out, stdout = finished
    for name in FILES:
        assert (out / name).exists(), name
    assert "95 % CIs in brackets" in stdout and "Wilson" in stdout
    it, paths = _rows(out / "study_iterations.csv"), _rows(out / "study_paths.csv")
    assert [int(r["n"]) for r in it] == [1, 2, 3, 4] and len(paths) == 6
    assert {"mean_gap_low", "share_zero_high", "share_reached_zero", "mean_theta_0"} <= set(it[0])
    # missing values are empty, never a sentinel
    firsts = [r["first_zero_n"] for r in paths]
    assert "-1" not in firsts and all(f == "" or int(f) >= 1 for f in firsts)
    for r in paths:
        assert (r["first_zero_n"] == "") == (float(r["min_gap"]) > 1e-9)
    # the documented randomness: p_k = fold_in(PRNGKey(seed), k); theta_1 from fold_in(p_k, 0),
    # the probes from fold_in(p_k, 1), drawn here independently of the study code
    probes = np.load(out / "probes.npz")["0"]
    for k in range(6):
        p_k = jax.random.fold_in(jax.random.PRNGKey(0), k)
        th = jax.random.uniform(jax.random.fold_in(p_k, 0), (1,), minval=-3.0, maxval=5.0)
        assert float(paths[k]["initial_theta_0"]) == float(th[0])
        pr = jax.random.uniform(jax.random.fold_in(p_k, 1), (3, 2), minval=0.5, maxval=4.0)
        np.testing.assert_array_equal(probes[k], pr)
    # the summary's interval for the share at zero, recomputed from the table (Wilson: the
    # roots of (p - k/n)^2 = z^2 p (1 - p) / n)
    summary = json.loads((out / "study_summary.json").read_text())
    share = summary["combinations"][0]["share_zero"]
    k = sum(float(r["final_gap"]) <= 1e-9 for r in paths)
    z, n = 1.959963984540054, 6
    roots = np.sort(np.roots([1 + z * z / n, -(2 * k / n + z * z / n), (k / n) ** 2]).real)
    assert share["estimate"] == k / n and share["method"] == "Wilson score interval"
    np.testing.assert_allclose([share["low"], share["high"]], np.clip(roots, 0, 1), atol=1e-12)


def test_the_run_directory_reproduces_the_study(tmp_path, game, finished):
    out = tmp_path / "s"
    _ok("--game", game, *SMALL, "--out", out)
    assert (out / "study_paths.csv").read_bytes() == (finished[0] / "study_paths.csv").read_bytes()
    _ok("--config", out / "study.toml", "--out", tmp_path / "again", "--quiet")
    for name in ("study_iterations.csv", "study_paths.csv"):
        assert (out / name).read_bytes() == (tmp_path / "again" / name).read_bytes()
    # flags override the file; path k does not depend on the number of paths
    _ok("--config", out / "study.toml", "--paths", 3, "--out", tmp_path / "fewer", "--quiet")
    assert _rows(tmp_path / "fewer" / "study_paths.csv") == _rows(out / "study_paths.csv")[:3]
    assert _toml.loads((tmp_path / "fewer" / "study.toml").read_text())["paths"] == 3
    # a second study into the same folder is refused before computing, unless --overwrite
    code, _, err = run_cli("study", "--game", game, *SMALL, "--out", out)
    assert code == 2 and "holds the outputs of a previous run" in err
    _ok("--game", game, *SMALL, "--out", out, "--overwrite", "--seed", 5)
    assert _toml.loads((out / "study.toml").read_text())["seed"] == 5


def test_resume_extends_the_study_exactly(tmp_path, game):
    out = tmp_path / "r"
    args = ("--game", game, *SMALL, "--checkpoint-every", 2, "--out", out)
    _ok(*args)
    assert rp.latest_checkpoint_step(str(out / "runs" / "0")) == 4
    _ok(*args, "--resume", "--iters", 6)
    _ok("--game", game, *SMALL, "--iters", 6, "--out", tmp_path / "fresh")
    for name in ("study_iterations.csv", "study_paths.csv"):
        assert (out / name).read_bytes() == (tmp_path / "fresh" / name).read_bytes()
    code, _, err = run_cli("study", *args, "--resume", "--seed", 1)
    assert code == 2 and "seed: 0 in the run directory vs 1 now" in err


def test_a_sweep_from_the_command_line(tmp_path, game):
    out = tmp_path / "sw"
    stdout = _ok("--game", game, *SMALL, "--sweep", "a=0.5,20", "--sweep", "seed=0,1",
                    "--out", out)
    assert "4 combinations in 1 compiled program(s)" in stdout
    it = _rows(out / "study_iterations.csv")
    assert {(r["combination"], r["a"], r["seed"]) for r in it} == {
        ("0", "0.5", "0"), ("1", "0.5", "1"), ("2", "20.0", "0"), ("3", "20.0", "1")}
    saved = _toml.loads((out / "study.toml").read_text())
    assert saved["sweep"] == {"a": [0.5, 20.0], "seed": [0, 1]}
    assert "a" not in saved or saved["a"] == 5.0


def test_parquet_tables_and_dataframe(tmp_path, game):
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    out = tmp_path / "pq"
    _ok("--game", game, *SMALL, "--parquet", "--trace", "--out", out)
    paths = pd.read_parquet(out / "study_paths.parquet")
    assert str(paths["first_zero_n"].dtype) == "Int64"  # nullable: missing stays missing
    from_csv = pd.read_csv(out / "study_paths.csv")
    np.testing.assert_array_equal(paths["final_gap"].to_numpy(), from_csv["final_gap"].to_numpy())
    assert paths["first_zero_n"].isna().tolist() == from_csv["first_zero_n"].isna().tolist()
    trace = pd.read_parquet(out / "study_trace.parquet")
    assert list(trace.columns) == ["path", "n", "value", "failed", "theta_0"]
    assert len(trace) == 6 * 4 and len(_rows(out / "study_trace.csv")) == 6 * 4
    # StudyResult.to_dataframe is the same long table
    cfg = study.StudyConfig.from_dict(study.read_config(str(out / "study.toml")))
    res = study.run(cfg, progress=None).results[0]
    pd.testing.assert_frame_equal(res.to_dataframe(), trace)


def test_optional_dependencies_missing(monkeypatch, tmp_path, game):
    res = rp.StudyResult(value=np.zeros((2, 3)), failed=np.zeros((2, 3), bool),
                         theta=np.zeros((3, 3, 1)), state=None, seconds=0.0, compile_seconds=0.0,
                         num_devices=1)
    assert res.tidy()["n"].tolist() == [1, 2, 1, 2, 1, 2]
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(ImportError, match=r"needs pandas, an optional dependency: pip install "
                                          r"'jaxmd_rp\[parquet\]'"):
        res.to_dataframe()
    code, _, err = run_cli("study", "--game", game, *SMALL, "--parquet", "--out", tmp_path / "x")
    assert code == 2 and "--parquet needs pandas" in err
    assert not (tmp_path / "x").exists()  # refused before anything was written


def test_locked_run_directory_and_interrupt(tmp_path, game, monkeypatch):
    out = tmp_path / "busy"
    with RunDirLock(str(out)):
        code, _, err = run_cli("study", "--game", game, *SMALL, "--out", out)
    assert code == 2 and "is in use by pid" in err

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(study_cli.study, "run", interrupted)
    code, _, err = run_cli("study", "--game", game, *SMALL, "--out", tmp_path / "i")
    assert code == 130 and "no checkpoint was written (pass --checkpoint-every K" in err


def test_help_shows_defaults_and_every_flag_has_help():
    sub = next(a for a in cli.parser()._actions if a.dest == "command").choices["study"]
    for action in sub._actions:
        if action.dest != "help":
            assert action.help, f"{action.option_strings} has no help text"
    text = " ".join(sub.format_help().split())
    for shown in ("--paths N Monte-Carlo paths per combination (default: 200)",
                  "(default: spsa)", "(default: 0.001)", "--no-stop", "--sweep KEY=V1,V2,..."):
        assert shown in text, shown


def test_confidence_intervals_against_scipy():
    st = pytest.importorskip("scipy.stats")
    for df in (1, 2, 5, 29, 199, 19999):
        assert math.isclose(_stats.t_quantile(0.975, df), st.t.ppf(0.975, df), rel_tol=1e-10)
    x = np.random.default_rng(0).gamma(0.5, size=40)
    mean, lo, hi, n = _stats.mean_interval(np.concatenate([x, [np.nan]]))
    ref = st.t.interval(0.95, 39, loc=np.mean(x), scale=st.sem(x))
    assert n == 40 and np.allclose([lo, hi], ref, rtol=1e-10)
    for n in (6, 10, 57, 200):  # [x_(l), x_(n-l+1)]: the largest l with P(B <= l-1) <= 0.025
        data = np.arange(n, dtype=float)
        ok = [l for l in range(1, n + 1) if st.binom.cdf(l - 1, n, 0.5) <= 0.025]
        _, lo, hi, _ = _stats.median_interval(data)
        assert (lo, hi) == (data[max(ok) - 1], data[n - max(ok)])
        assert st.binom.cdf(n - max(ok), n, 0.5) - st.binom.cdf(max(ok) - 1, n, 0.5) >= 0.95
    assert np.isnan(_stats.median_interval(np.arange(5.0))[1])  # too few paths for 95 %
    assert _stats.wilson_interval(0, 10)[1:] == (0.0, pytest.approx(0.2775327998628892))
    assert _stats.wilson_interval(200, 200)[2] == 1.0


# ------------------------------------------------------------------------------------------
# slower: the documented example game (equilibria by solve_equilibrium), Figure 6 as a study,
# the Figure 6 checksums, several devices, SIGKILL + resume

DOCS = os.path.join(os.path.dirname(__file__), "..", "docs")
DOCS_GAME = os.path.join(DOCS, "examples", "taxed_duopoly.py")
DOCS_FIG6 = os.path.join(DOCS, "examples", "fig6.toml")


@pytest.mark.slow
def test_the_documented_example(tmp_path):
    out = tmp_path / "docs"
    stdout = _ok("--game", f"{DOCS_GAME}:make_game", "--paths", 8, "--iters", 6,
                    "--sweep", "a=0.5,20", "--welfare-paths", 4, "--quiet", "--out", out)
    assert "2 combinations in 1 compiled program(s)" in stdout and "true welfare" in stdout
    it = _rows(out / "study_iterations.csv")
    ratios = [float(r["mean_welfare_ratio"]) for r in it]
    # the firms' joint profit at the equilibrium never exceeds the planner's optimum
    assert all(0 < r <= 1 + 1e-9 for r in ratios)
    summary = json.loads((out / "study_summary.json").read_text())
    assert summary["combinations"][1]["share_zero"]["estimate"] >= \
        summary["combinations"][0]["share_zero"]["estimate"]


@pytest.mark.slow
def test_figure_6_is_a_study_configuration(tmp_path):
    cfg = fig6.Fig6Config(paths=5, iters=4, chunk=2, stop=False)
    ref = fig6.run_fig6(cfg, progress=False, welfare_paths=0)
    assert study.read_config(DOCS_FIG6) == {**fig6.as_study(fig6.Fig6Config()).to_dict()}
    _ok("--config", DOCS_FIG6, "--paths", 5, "--iters", 4, "--chunk", 2, "--no-stop",
        "--welfare-paths", 0, "--quiet", "--out", tmp_path / "s")
    paths = _rows(tmp_path / "s" / "study_paths.csv")
    assert [float(r["final_gap"]) for r in paths] == ref.values[-1].tolist()
    assert [float(r["final_d2"]) for r in paths] == ref.theta[-1, :, 0].tolist()


@pytest.mark.slow
def test_figure_6_outputs_are_unchanged_at_the_defaults(tmp_path):
    code, _, err = run_cli("fig6", "--out", tmp_path / "f", "--quiet")
    assert code == 0, err[-2000:]
    sha = {n: hashlib.sha256((tmp_path / "f" / n).read_bytes()).hexdigest()
           for n in ("fig6.csv", "fig6_paths.csv")}
    assert sha == {
        "fig6.csv": "85301b89c3505dde2d396279bbb65b6923979daf7153ff7c2c7f1ba0d0b94570",
        "fig6_paths.csv": "f095920d69bbea18b81d0d3b133338886e175ed7765c70952ea3bd8e9274fbeb"}


def _env(**extra):
    env = dict(os.environ)
    env.pop("XLA_FLAGS", None)
    env.update(extra)
    return env


DEVICES = textwrap.dedent(
    """
    import sys
    from jaxmd_rp import cli
    game, out = sys.argv[1:]
    common = ["study", "--game", game, "--paths", "7", "--iters", "5", "--probes", "3", "--a", "5",
              "--sweep", "c=0.3,0.6", "--welfare-paths", "0", "--quiet"]
    for devices, batch in (("1", None), ("4", None), ("4", "2")):
        extra = ["--max-paths-per-batch", batch] if batch else []
        assert cli.main(common + ["--devices", devices, "--out", f"{out}/{devices}_{batch}"] + extra) == 0
    """)


@pytest.mark.slow
def test_one_and_four_devices_give_identical_tables(tmp_path, game):
    script = tmp_path / "devices.py"
    script.write_text(DEVICES)
    r = subprocess.run([sys.executable, str(script), game, str(tmp_path)], capture_output=True,
                       text=True, timeout=280,
                       env=_env(XLA_FLAGS="--xla_force_host_platform_device_count=4"))
    assert r.returncode == 0, r.stderr[-3000:]
    info = json.loads((tmp_path / "4_None" / "runs" / "0" / "run.json").read_text())
    assert info["devices"]["count"] == 4
    for name in ("study_iterations.csv", "study_paths.csv"):
        ref = (tmp_path / "1_None" / name).read_bytes()
        assert (tmp_path / "4_None" / name).read_bytes() == ref
        assert (tmp_path / "4_2" / name).read_bytes() == ref


@pytest.mark.slow
def test_sigkill_then_resume_equals_uninterrupted(tmp_path, game):
    out = tmp_path / "killed"
    cmd = [sys.executable, "-m", "jaxmd_rp.cli", "study", "--game", game, "--paths", 6,
           "--iters", 40, "--probes", 3, "--chunk", 2, "--no-stop", "--welfare-paths", 0,
           "--checkpoint-every", 2, "--quiet", "--out", out]
    cmd = [str(c) for c in cmd]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=_env())
    deadline = time.monotonic() + 200
    while rp.latest_checkpoint_step(str(out / "runs" / "0")) is None:
        assert proc.poll() is None, proc.stderr.read().decode()[-3000:]
        assert time.monotonic() < deadline, "no checkpoint appeared"
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    proc.stderr.close()
    assert not (out / "study_paths.csv").exists()  # it died mid-run
    killed_at = rp.latest_checkpoint_step(str(out / "runs" / "0"))
    assert killed_at < 40
    r = subprocess.run(cmd + ["--resume"], capture_output=True, text=True, timeout=240, env=_env())
    assert r.returncode == 0, r.stderr[-3000:]
    _ok(*cmd[cmd.index("--game"):-2], "--out", tmp_path / "ref")
    for name in ("study_iterations.csv", "study_paths.csv"):
        assert (out / name).read_bytes() == (tmp_path / "ref" / name).read_bytes()
    sessions = json.loads((out / "runs" / "0" / "run.json").read_text())["sessions"]
    assert [s["resumed_from_iteration"] for s in sessions] == [0, killed_at]


def test_the_docs_list_every_setting_and_column():
    with open(os.path.join(DOCS, "studies.md")) as f:
        text = f.read()
    for key in KEYS:
        assert f"`{key.name}`" in text, key.name
    for col in [*ITERATION_COLUMNS, *PATH_COLUMNS, *TRACE_COLUMNS]:
        assert f"`{col}`" in text, col


def test_studyconfig_round_trips_through_toml():
    cfg = dataclasses.replace(fig6.as_study(fig6.Fig6Config()), sweep={"q": [0.001, 0.01]},
                              checkpoint_every=5)
    again = study.StudyConfig.from_dict(_toml.loads(_toml.dumps(cfg.to_dict())))
    assert again == cfg


def test_restarts_change_a_path_only_from_its_first_restart():
    from jaxmd_rp.experiments._restarts import Restarts

    spsa = rp.SPSA(lower=jnp.zeros(2), upper=jnp.ones(2), a=0.01, q=0.0)
    wrapped = Restarts(spsa, jnp.zeros(2), jnp.full(2, 0.5), after=3)

    def fn(theta, args, key):  # zero only near the corner (0.9, 0.9): far from [0, 0.5]^2
        return jnp.maximum(jnp.sum(jnp.abs(theta - 0.9)) - 0.05, 0.0)

    theta0 = jnp.array([[0.1, 0.2], [0.3, 0.1]])
    plain = rp.design_minimise(fn, spsa, theta0, key=jax.random.PRNGKey(0), num_steps=7)
    tr = rp.design_minimise(fn, wrapped, theta0, key=jax.random.PRNGKey(0), num_steps=7)
    np.testing.assert_array_equal(tr.theta[:3], plain.theta[:3])  # identical until the restart
    assert not np.any(tr.theta[3] == plain.theta[3])  # after 3 iterations: a fresh theta_1
    assert np.all((tr.theta[3] >= 0) & (tr.theta[3] <= 0.5))
    assert np.asarray(tr.state.restarts).tolist() == [2, 2]  # after iterations 3 and 6
    np.testing.assert_array_equal(tr.state.inner.n, [2, 2])  # the gains started again
    with pytest.raises(ValueError, match="restarts need a method that stops at zero"):
        Restarts(dataclasses.replace(spsa, stop_tol=None), jnp.zeros(2), jnp.ones(2))
