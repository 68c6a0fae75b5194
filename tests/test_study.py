"""Large studies (`run_study`): device-count independence on 8 simulated CPU devices, memory
batching, SIGKILL + resume, refused checkpoints, run directory records."""

import csv
import dataclasses
import glob
import json
import os
import shutil
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
from jaxmd_rp import report
from jaxmd_rp._study._checkpoint import _seal
from jaxmd_rp.experiments import fig6

# shared by the in-process tests below, so that they reuse one compilation
SMALL = fig6.Fig6Config(paths=5, iters=4, chunk=2, stop=False)

EIGHT_DEVICES = textwrap.dedent(
    """
    import json, sys
    import jax, jax.numpy as jnp, numpy as np
    jax.config.update("jax_enable_x64", True)
    import jaxmd_rp as rp
    from jaxmd_rp.experiments import fig6

    out = sys.argv[1]
    assert jax.device_count() == 8, jax.devices()
    # every device count, with and without memory batches (each pair is one compilation)
    QUAD = ((1, None), (2, None), (4, 3), (8, None), (8, 3))
    GRAD = ((2, None), (8, 3))
    RIVER = ((1, None), (4, None), (8, None))
    res = {}
    # a cheap noisy quadratic: 10 paths, so 4 and 8 devices need padding
    spsa = rp.SPSA(lower=-jnp.ones(3), upper=jnp.ones(3), q=0.01, stop_tol=None)
    fn = lambda th, args, key: jnp.sum((th - args) ** 2) + 0.01 * jax.random.normal(key)
    th0 = jax.random.uniform(jax.random.PRNGKey(1), (10, 3))
    targets = jax.random.uniform(jax.random.PRNGKey(2), (10, 3))
    keys = rp.path_keys(jax.random.PRNGKey(0), 10)
    tr = rp.spsa_minimise(fn, spsa, th0, targets, key=jax.random.PRNGKey(0), num_steps=9)
    res["quad_ref_theta"], res["quad_ref_value"] = np.asarray(tr.theta), np.asarray(tr.value)
    for nd, b in QUAD:
        r = rp.run_study(fn, spsa, th0, targets, keys=keys, num_steps=9, chunk=4, devices=nd,
                         max_paths_per_batch=b)
        res[f"quad_{nd}_{b}_theta"], res[f"quad_{nd}_{b}_value"] = r.theta, r.value
    # gradient-based design through the same runner (an optimiser state in every path's state)
    gd = rp.GradientDesign(-jnp.ones(3), jnp.ones(3), learning_rate=0.05, stop_tol=None)
    tr = rp.design_minimise(fn, gd, th0, targets, key=jax.random.PRNGKey(0), num_steps=9)
    res["grad_ref_theta"], res["grad_ref_value"] = np.asarray(tr.theta), np.asarray(tr.value)
    for nd, b in GRAD:
        r = rp.run_study(fn, gd, th0, targets, keys=keys, num_steps=9, chunk=4, devices=nd,
                         max_paths_per_batch=b)
        res[f"grad_{nd}_{b}_theta"], res[f"grad_{nd}_{b}_value"] = r.theta, r.value
    # the river game (Figure 6)
    cfg = fig6.Fig6Config(paths=10, iters=3, chunk=3, stop=False)
    for nd, b in RIVER:
        kw = {"run_dir": out + "/run8"} if (nd, b) == (8, None) else {}
        r = fig6.run_fig6(cfg, progress=False, devices=nd, max_paths_per_batch=b, **kw)
        assert r.devices == nd
        for name in ("theta", "values", "failed"):
            res[f"river_{nd}_{b}_{name}"] = getattr(r, name)
    np.savez(out + "/eight.npz", **res)
    """
)


def _env(**extra):
    env = dict(os.environ)
    env.pop("XLA_FLAGS", None)
    env.update(extra)
    return env


@pytest.mark.slow
def test_one_two_four_eight_devices_identical(tmp_path):
    script = tmp_path / "eight.py"
    script.write_text(EIGHT_DEVICES)
    r = subprocess.run([sys.executable, str(script), str(tmp_path)], capture_output=True, text=True,
                       timeout=280, env=_env(XLA_FLAGS="--xla_force_host_platform_device_count=8"))
    assert r.returncode == 0, r.stderr[-3000:]
    res = np.load(tmp_path / "eight.npz")
    for fam, pairs in (("quad", ("1_None", "2_None", "4_3", "8_None", "8_3")),
                       ("grad", ("2_None", "8_3"))):
        for nb in pairs:
            np.testing.assert_array_equal(res[f"{fam}_{nb}_theta"], res[f"{fam}_ref_theta"])
            np.testing.assert_array_equal(res[f"{fam}_{nb}_value"], res[f"{fam}_ref_value"])
    ref = {name: res[f"river_1_None_{name}"] for name in ("theta", "values", "failed")}
    assert ref["theta"].shape == (4, 10, 7) and ref["values"].shape == (3, 10)
    assert np.all(np.isfinite(ref["values"]))
    for nd, b in ((4, None), (8, None)):
        for name in ("theta", "values", "failed"):
            np.testing.assert_array_equal(res[f"river_{nd}_{b}_{name}"], ref[name])  # bit-identical
    info = json.loads((tmp_path / "run8" / "run.json").read_text())
    assert info["devices"]["count"] == 8 and info["devices"]["all_devices"] == 8
    assert info["devices"]["kind"] == ["cpu"]


def test_memory_batches_match_unbatched():
    full = fig6.run_fig6(SMALL, progress=False, track_welfare=False)
    for b in (2,):
        part = fig6.run_fig6(SMALL, progress=False, max_paths_per_batch=b, track_welfare=False)
        np.testing.assert_array_equal(part.theta, full.theta)
        np.testing.assert_array_equal(part.values, full.values)
        np.testing.assert_array_equal(part.failed, full.failed)
    # and the runner agrees with plain `spsa_steps` (one vmap over all paths)
    _, objective, spsa, theta0, probes, keys = fig6.build(SMALL)
    states = jax.vmap(spsa.init)(theta0)
    _, infos, thetas = rp.spsa_steps(spsa, objective, states, probes, keys, SMALL.iters)
    np.testing.assert_array_equal(full.values, infos.value)
    np.testing.assert_array_equal(full.theta[1:], thetas)


def _heavy(theta, args, key):
    """A cheap objective whose working memory per evaluation is visible: a (96, 96) matrix."""
    m = jnp.outer(jnp.tile(theta, 48), jnp.tile(theta, 48)) + jax.random.normal(key, (96, 96))
    return jnp.sum(jnp.tanh(m) ** 2) * 1e-4 + jnp.sum((theta - args) ** 2)


def test_memory_budget_bounds_the_batch():
    P = 64
    spsa = rp.SPSA(lower=jnp.zeros(2), upper=jnp.ones(2), stop_tol=None)
    th0 = jax.random.uniform(jax.random.PRNGKey(0), (P, 2))
    targets = jax.random.uniform(jax.random.PRNGKey(1), (P, 2))
    keys = rp.path_keys(jax.random.PRNGKey(2), P)
    full = rp.study_memory(_heavy, spsa, th0, targets, keys=keys)
    part = rp.study_memory(_heavy, spsa, th0, targets, keys=keys, max_paths_per_batch=8)
    assert part["temp_bytes"] < full["temp_bytes"] / 4  # working memory follows the batch
    budget = full["argument_bytes"] + full["output_bytes"] + full["temp_bytes"] / 5
    res = rp.run_study(_heavy, spsa, th0, targets, keys=keys, num_steps=3, chunk=3,
                       memory_budget=budget)
    assert res.max_paths_per_batch is not None and res.max_paths_per_batch <= P // 5 + 1
    chosen = rp.study_memory(_heavy, spsa, th0, targets, keys=keys,
                             max_paths_per_batch=res.max_paths_per_batch)
    assert chosen["total_bytes"] <= budget
    ref = rp.run_study(_heavy, spsa, th0, targets, keys=keys, num_steps=3, chunk=3)
    assert ref.max_paths_per_batch is None
    np.testing.assert_array_equal(res.theta, ref.theta)
    np.testing.assert_array_equal(res.value, ref.value)


def test_memory_budget_with_memory_not_linear_in_the_batch(monkeypatch):
    """The enumeration holds every pattern of every system in small batches and one pattern in
    large ones, so the working memory per path is larger for small batches: the batch chosen
    from the unbatched program's memory is checked and shrunk until it fits the budget."""
    from jaxmd_rp._study import _runner

    def fake(*args, max_paths_per_batch=None, **kw):  # 100 paths; 1 byte per path from 50 on
        b = 100 if max_paths_per_batch is None else min(max_paths_per_batch, 100)
        temp = b if b >= 50 else 5 * b
        calls.append(b)
        return {"total_bytes": 1000 + temp, "temp_bytes": temp, "paths_per_device": 100}

    calls = []
    monkeypatch.setattr(_runner, "study_memory", fake)
    batch = _runner._batch_from_budget(None, None, None, None, None, 1, 1, True, 1000 + 80)
    assert fake(max_paths_per_batch=batch)["total_bytes"] <= 1080
    assert (batch, calls[:3]) == (80, [100, 80, 80])
    calls.clear()
    batch = _runner._batch_from_budget(None, None, None, None, None, 1, 1, True, 1000 + 40)
    assert batch == 8 and fake(max_paths_per_batch=batch)["total_bytes"] <= 1040
    assert calls[:3] == [100, 40, 8]


def test_runner_errors():
    spsa = rp.SPSA(lower=jnp.zeros(2), upper=jnp.ones(2), stop_tol=None)
    fn = lambda th, args, key: jnp.sum(th**2)  # noqa: E731
    keys = rp.path_keys(jax.random.PRNGKey(0), 3)
    with pytest.raises(ValueError, match="devices"):
        rp.run_study(fn, spsa, jnp.zeros((3, 2)), keys=keys, num_steps=2, devices=0)
    with pytest.raises(ValueError, match="devices are visible"):
        rp.run_study(fn, spsa, jnp.zeros((3, 2)), keys=keys, num_steps=2, devices=jax.device_count() + 1)
    with pytest.raises(ValueError, match="run_dir"):
        rp.run_study(fn, spsa, jnp.zeros((3, 2)), keys=keys, num_steps=2, checkpoint_every=1)
    with pytest.raises(ValueError, match="one key per path"):
        rp.run_study(fn, spsa, jnp.zeros((3, 2)), keys=keys[:2], num_steps=2)


def _cli(*args):
    return [sys.executable, "-m", "jaxmd_rp.cli", "fig6", *map(str, args)]


@pytest.mark.slow
def test_sigkill_then_resume_equals_uninterrupted(tmp_path):
    out = tmp_path / "killed"
    cfg = dataclasses.replace(SMALL, iters=40)
    cmd = _cli("--paths", cfg.paths, "--iters", cfg.iters, "--chunk", cfg.chunk, "--no-stop",
               "--checkpoint-every", 4, "--welfare-paths", 0, "--quiet", "--out", out)
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=_env())
    ckpt = out / "checkpoints"
    deadline = time.monotonic() + 200
    while not (ckpt.is_dir() and any((p / "jaxmd_rp_files.json").exists() for p in ckpt.iterdir())):
        assert proc.poll() is None, proc.stderr.read().decode()[-3000:]
        assert time.monotonic() < deadline, "no checkpoint appeared"
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    assert not (out / "fig6.csv").exists()  # it really died mid-run
    killed_at = rp.latest_checkpoint_step(str(out))
    assert 4 <= killed_at < cfg.iters

    r = subprocess.run(cmd + ["--resume"], capture_output=True, text=True, timeout=240, env=_env())
    assert r.returncode == 0, r.stderr[-3000:]
    info = json.loads((out / "run.json").read_text())
    assert [s["resumed_from_iteration"] for s in info["sessions"]] == [0, killed_at]

    ref = fig6.run_fig6(cfg, progress=False, welfare_paths=0)  # uninterrupted, in this process
    arrays, meta = rp.load_checkpoint(str(out))
    assert int(arrays["done"]) == cfg.iters == meta["step"]
    np.testing.assert_array_equal(arrays["value"], ref.values)
    np.testing.assert_array_equal(arrays["failed"], ref.failed)
    np.testing.assert_array_equal(arrays["theta_history"], ref.theta)
    np.testing.assert_array_equal(arrays["theta"], ref.theta[-1])
    assert not np.array_equal(ref.theta[killed_at], ref.theta[-1])  # the paths kept moving
    report.write_fig6_outputs(ref, str(tmp_path / "ref"))
    for name in ("fig6.csv", "fig6_paths.csv"):  # same numbers to the last bit, printed
        assert (out / name).read_text() == (tmp_path / "ref" / name).read_text()
    with open(out / "fig6.csv") as f:
        assert len(list(csv.DictReader(f))) == cfg.iters


def _free_port():
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_two_processes_jax_distributed(tmp_path):
    """The multi-host path on one machine: two processes joined by `jax.distributed` (CPU
    collectives over gloo), one device each; process 0 writes the outputs."""
    out = tmp_path / "two"
    base = _cli("--paths", SMALL.paths, "--iters", SMALL.iters, "--chunk", SMALL.chunk, "--no-stop",
                "--welfare-paths", 0, "--quiet", "--out", out, "--checkpoint-every", 2,
                "--distributed", "--coordinator",
                f"127.0.0.1:{_free_port()}", "--num-processes", 2, "--process-id")
    env = _env(JAX_CPU_COLLECTIVES_IMPLEMENTATION="gloo")
    procs = [subprocess.Popen(base + [str(i)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env=env) for i in (0, 1)]
    outs = [p.communicate(timeout=240) for p in procs]
    for p, (_, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, err[-3000:]
    assert "Paper claim" in outs[0][0] and "Paper claim" not in outs[1][0]
    info = json.loads((out / "run.json").read_text())
    assert info["devices"]["process_count"] == 2 and info["devices"]["count"] == 2
    ref = fig6.run_fig6(SMALL, progress=False, welfare_paths=0)
    arrays, _ = rp.load_checkpoint(str(out))
    np.testing.assert_array_equal(arrays["theta_history"], ref.theta)
    np.testing.assert_array_equal(arrays["value"], ref.values)
    report.write_fig6_outputs(ref, str(tmp_path / "ref"))
    assert (out / "fig6_paths.csv").read_text() == (tmp_path / "ref" / "fig6_paths.csv").read_text()


def test_refuses_corrupt_and_mismatched_checkpoints(tmp_path):
    run = str(tmp_path / "run")
    first = fig6.run_fig6(SMALL, progress=False, track_welfare=False, run_dir=run,
                          checkpoint_every=2)
    assert rp.latest_checkpoint_step(run) == SMALL.iters

    with pytest.raises(FileExistsError, match="--resume"):
        fig6.run_fig6(SMALL, progress=False, run_dir=run, checkpoint_every=2)
    with pytest.raises(rp.CheckpointError, match=r"configuration differs \(seed: 0 in the checkpoint vs 1 now\)"):
        fig6.run_fig6(dataclasses.replace(SMALL, seed=1), progress=False, run_dir=run, resume=True)
    with pytest.raises(rp.CheckpointError, match="paths: 5 in the checkpoint vs 6 now"):
        fig6.run_fig6(dataclasses.replace(SMALL, paths=6), progress=False, run_dir=run, resume=True)
    with pytest.raises(rp.CheckpointError, match="already run 4 iterations, more than the 3"):
        fig6.run_fig6(dataclasses.replace(SMALL, iters=3), progress=False, run_dir=run, resume=True)
    # resuming with more iterations extends the study; the result equals a fresh longer run
    longer = dataclasses.replace(SMALL, iters=6)
    ext = fig6.run_fig6(longer, progress=False, track_welfare=False, run_dir=run, checkpoint_every=2, resume=True)
    assert ext.start_iteration == SMALL.iters
    fresh = fig6.run_fig6(longer, progress=False, track_welfare=False)
    np.testing.assert_array_equal(ext.theta, fresh.theta)
    np.testing.assert_array_equal(ext.values, fresh.values)
    np.testing.assert_array_equal(ext.theta[: SMALL.iters + 1], first.theta)

    step = rp.latest_checkpoint_step(run)
    # another library version
    other = str(tmp_path / "other_version")
    shutil.copytree(run, other)
    meta_file = os.path.join(other, "checkpoints", str(step), "meta", "metadata")
    with open(meta_file) as f:
        meta = json.load(f)
    meta["jaxmd_rp"] = "0.0.1"
    with open(meta_file, "w") as f:
        json.dump(meta, f)
    _seal(os.path.dirname(os.path.dirname(meta_file)))  # a consistent checkpoint, other version
    with pytest.raises(rp.CheckpointError, match=r"written by jaxmd_rp 0\.0\.1, this is jaxmd_rp"):
        fig6.run_fig6(longer, progress=False, track_welfare=False, run_dir=other, resume=True)
    # a flipped bit in the array data
    bad = str(tmp_path / "bitflip")
    shutil.copytree(run, bad)
    for data in glob.glob(os.path.join(bad, "checkpoints", str(step), "state", "d", "*")):
        with open(data, "rb") as f:
            b = bytearray(f.read())
        b[len(b) // 2] ^= 0x01
        with open(data, "wb") as f:
            f.write(bytes(b))
    with pytest.raises(rp.CheckpointError, match="is corrupt"):
        fig6.run_fig6(longer, progress=False, track_welfare=False, run_dir=bad, resume=True)
    # a damaged metadata file
    bad2 = str(tmp_path / "badmeta")
    shutil.copytree(run, bad2)
    with open(os.path.join(bad2, "checkpoints", str(step), "meta", "metadata"), "w") as f:
        f.write("{truncated")
    with pytest.raises(rp.CheckpointError, match=r"is corrupt: 1 file\(s\) differ .*meta/metadata"):
        rp.load_checkpoint(bad2)
    # a step that orbax committed but that was never sealed (killed in between) is not resumed
    os.remove(os.path.join(bad2, "checkpoints", str(step), "jaxmd_rp_files.json"))
    assert rp.latest_checkpoint_step(bad2) == step - 2
    redo = fig6.run_fig6(longer, progress=False, track_welfare=False, run_dir=bad2, checkpoint_every=2, resume=True)
    assert redo.start_iteration == step - 2 and rp.latest_checkpoint_step(bad2) == step
    np.testing.assert_array_equal(redo.theta, fresh.theta)
    # the CLI refuses with the message and exit status 2
    r = subprocess.run(_cli("--paths", 5, "--iters", 6, "--chunk", 2, "--no-stop", "--seed", 3,
                            "--resume", "--quiet", "--out", run),
                       capture_output=True, text=True, timeout=240, env=_env())
    assert r.returncode == 2
    assert "refusing to resume" in r.stderr and "seed: 0 in the checkpoint vs 3 now" in r.stderr


def test_run_directory_records_everything(tmp_path):
    run = str(tmp_path / "run")
    fig6.run_fig6(SMALL, progress=False, run_dir=run)
    with open(os.path.join(run, "run.json")) as f:
        info = json.load(f)
    assert info["config"] == dataclasses.asdict(SMALL)
    assert info["study_config"] == fig6.study_config(SMALL)
    assert info["seed"] == SMALL.seed
    v = info["versions"]
    assert v["jaxmd_rp"] == rp.__version__ and v["jax"] == jax.__version__ and v["jaxlib"]
    assert v["orbax-checkpoint"]
    d = info["devices"]
    assert d["count"] == jax.device_count() and d["kind"] == [jax.devices()[0].device_kind]
    assert d["backend"] == jax.default_backend() and d["x64"] is True and d["process_count"] == 1
    assert len(info["sessions"]) == 1 and info["sessions"][0]["resumed_from_iteration"] == 0
    assert not os.path.exists(os.path.join(run, "checkpoints"))  # no --checkpoint-every
