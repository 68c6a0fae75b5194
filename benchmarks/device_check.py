"""One command that measures jaxmd_rp on an accelerator, and the same work on the host CPU.

    python benchmarks/device_check.py --out DIR            # accelerator sizes (about 5 min on one GPU)
    python benchmarks/device_check.py --small --out DIR    # the same code at small sizes (CPU, < 2 min)

Sections (each figure after compilation, best of `--repeat`; compilation reported apart):

1. **Pareto gap**: `pareto_gap` on random (M = 3, T, T) probe-values arrays, T = 10 / 50 / 200 at
   10^6 / 10^5 / 10^4 data sets (`--small`: 10^3 / 10^2 / 20): microseconds per data set.
2. **Single calls**: one `solve_equilibrium` of the river game and one `pareto_gap` of a (3, 10, 10)
   array inside the caller's `jit`, as a ratio to a trivial jitted call (the dispatch floor).
3. **River equilibria**: a vmapped batch of 5·10^5 normalized equilibria (`--small`: 2·10^3):
   microseconds per equilibrium, the largest KKT residual, and XLA's working memory per
   equilibrium of the compiled batch (MiB per path = 3 x T equilibria).
4. **Figure 6**: Algorithm 1 on 200 paths x 50 iterations and 20 000 x 40 (`--small`: 50 x 10 and
   200 x 5), compile time apart; the loop time of 200 x 30 iterations (5 iterations per call).
5. **Scaling**: the Figure 6 step over 1, 2, 4, ... of the visible devices.
6. **Host CPU**: sections 1, 3 and 4 at the small sizes on the host CPU, for the ratio
   accelerator / CPU per unit of work.
7. **Cold and warm start** of `jaxmd-rp fig6` (a subprocess each, with an empty and then a filled
   persistent compilation cache; `--small`: without the true-welfare track).

Writes `device_check.json` (every figure) and `device_check.md` (the table) into `--out`, and
prints the table. Needs nothing beyond jaxmd_rp's dependencies; run it from the repository root
(`PYTHONPATH=.` where jaxmd_rp is not installed).
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

import jaxmd_rp as rp  # noqa: E402
from jaxmd_rp.experiments import fig6  # noqa: E402

LARGE = {"gap": ((10, 10**6), (50, 10**5), (200, 10**4)), "river": 5 * 10**5,
         "fig6": ((200, 50), (20_000, 40)), "loop": (200, 30), "start": (200, 50)}
SMALL = {"gap": ((10, 10**3), (50, 10**2), (200, 20)), "river": 2000,
         "fig6": ((50, 10), (200, 5)), "loop": (50, 5), "start": (20, 5)}
CHUNK = 5  # iterations per compiled call: every Figure 6 size with the same paths compiles once


def _best(fn, repeat):
    """(best wall seconds of `repeat` calls, the first call's seconds incl. compilation)."""
    t = time.perf_counter()
    jax.block_until_ready(fn())
    first = time.perf_counter() - t
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        jax.block_until_ready(fn())
        times.append(time.perf_counter() - t)
    return min(times), first


def gap_section(sizes, device, repeat):
    rows = []
    for T, n in sizes:
        v = jax.device_put(jax.random.normal(jax.random.PRNGKey(T), (n, 3, T, T)), device)
        f = jax.jit(rp.pareto_gap_unchecked)
        best, first = _best(lambda: f(v), repeat)  # noqa: B023
        rows.append({"T": T, "data_sets": n, "us_per_data_set": 1e6 * best / n,
                     "batch_s": best, "compile_s": first - best})
    return rows


def _river_batch(n, key=0):
    k1, k2 = jax.random.split(jax.random.PRNGKey(key))
    theta = jax.random.uniform(k1, (n, 7))
    probe = jax.random.uniform(k2, (n, 3), minval=0.02, maxval=1.0)
    return theta, probe


def river_section(n, device, repeat):
    game = rp.games.RiverPollution()
    theta, probe = jax.device_put(_river_batch(n), device)
    f = jax.jit(jax.vmap(lambda th, p: rp.solve_equilibrium(game, th, p, throw=False)))
    best, first = _best(lambda: f(theta, probe), repeat)
    sols = f(theta, probe)
    memory = f.lower(theta, probe).compile().memory_analysis()
    temp = getattr(memory, "temp_size_in_bytes", 0) if memory is not None else 0
    return {"equilibria": n, "us_per_equilibrium": 1e6 * best / n, "batch_s": best,
            "compile_s": first - best, "max_residual": float(jnp.max(sols.residual)),
            "failed": int(jnp.sum(~sols.success)),
            "MiB_per_equilibrium": temp / n / 2**20,
            "MiB_per_path_T10": 30 * temp / n / 2**20}


def single_call_section(repeat):
    game = rp.games.RiverPollution()
    theta, probe = jnp.asarray(rp.games.DEFAULT_THETA), jnp.asarray(rp.games.DEFAULT_PROBE)
    v = jax.random.normal(jax.random.PRNGKey(0), (3, 10, 10))
    trivial = jax.jit(lambda x: x + 1.0)
    eq = jax.jit(lambda th, p: rp.solve_equilibrium(game, th, p, throw=False).x)
    gap = jax.jit(rp.pareto_gap_unchecked)
    out = {}
    for name, fn in (("trivial_jit", lambda: trivial(theta)), ("solve_equilibrium",
                     lambda: eq(theta, probe)), ("pareto_gap", lambda: gap(v)),
                     ("solve_equilibrium_eager", lambda: rp.solve_equilibrium(game, theta, probe).x)):
        best, _ = _best(fn, max(repeat, 20))
        out[f"{name}_us"] = 1e6 * best
    out["solve_equilibrium_ratio"] = out["solve_equilibrium_us"] / out["trivial_jit_us"]
    out["pareto_gap_ratio"] = out["pareto_gap_us"] / out["trivial_jit_us"]
    return out


def fig6_section(sizes, loop, devices=None):
    rows = []
    for paths, iters in list(sizes) + [loop]:
        cfg = fig6.Fig6Config(paths=paths, iters=iters, chunk=CHUNK)
        batch = None if jax.default_backend() != "cpu" else fig6.CPU_PATHS_PER_BATCH
        res = fig6.run_fig6(cfg, progress=False, track_welfare=False, devices=devices,
                            max_paths_per_batch=batch)
        again = fig6.run_fig6(cfg, progress=False, track_welfare=False, devices=devices,
                              max_paths_per_batch=batch)  # compiled: the loop alone
        rows.append({"paths": paths, "iters": iters, "first_run_s": res.seconds,
                     "compile_s": res.seconds - again.seconds, "loop_s": again.seconds,
                     "share_at_zero": float(np.mean(res.values[-1] <= cfg.zero_tol)),
                     "devices": res.devices})
    return rows


def scaling_section(paths, iters):
    n = jax.device_count()
    counts = [d for d in (1, 2, 4, 8, 16, 32) if d <= n] or [1]
    rows = []
    for d in counts:
        r = fig6_section([], (paths, iters), devices=d)[0]
        rows.append({"devices": d, "paths": paths, "iters": iters, "loop_s": r["loop_s"]})
    return rows


def start_section(paths, iters, welfare=True):
    """Cold and warm start of the whole command (`welfare=False`: without the true-welfare
    track, whose compilation is the larger part of a small run)."""
    cache = tempfile.mkdtemp(prefix="jaxmd_rp_cc_")
    out = {}
    for kind in ("cold", "warm"):
        run_dir = tempfile.mkdtemp(prefix="jaxmd_rp_start_")
        cmd = [sys.executable, "-m", "jaxmd_rp.cli", "fig6", "--paths", str(paths), "--iters",
               str(iters), "--quiet", "--overwrite", "--out", run_dir, "--compile-cache", cache]
        if not welfare:
            cmd += ["--welfare-paths", "0"]
        t = time.perf_counter()
        r = subprocess.run(cmd, capture_output=True, text=True, check=False)
        out[f"{kind}_s"] = time.perf_counter() - t
        if r.returncode != 0:
            out[f"{kind}_error"] = r.stderr[-500:]
    return out


def table(res) -> str:
    dev = res["device"]
    lines = [f"# device check: {dev['kind']} x {dev['count']} ({dev['backend']}), jax "
             f"{res['versions']['jax']}, {'small' if res['small'] else 'accelerator'} sizes",
             "", "| section | size | figure | value |", "|---|---|---|---:|"]

    def row(section, size, figure, value, fmt="{:.4g}"):
        lines.append(f"| {section} | {size} | {figure} | {fmt.format(value)} |")

    for r in res["gap"]:
        row("Pareto gap", f"T={r['T']}, {r['data_sets']:,} sets", "us / data set",
            r["us_per_data_set"])
    s = res["single_call"]
    row("single call", "river equilibrium", "us (x trivial jit)", s["solve_equilibrium_us"])
    row("single call", "river equilibrium", "ratio to trivial jit", s["solve_equilibrium_ratio"])
    row("single call", "pareto_gap (3,10,10)", "ratio to trivial jit", s["pareto_gap_ratio"])
    r = res["river"]
    row("river equilibria", f"{r['equilibria']:,}", "us / equilibrium", r["us_per_equilibrium"])
    row("river equilibria", f"{r['equilibria']:,}", "max KKT residual", r["max_residual"], "{:.1e}")
    row("river equilibria", f"{r['equilibria']:,}", "MiB / path (T = 10)", r["MiB_per_path_T10"])
    for r in res["fig6"]:
        size = f"{r['paths']:,} x {r['iters']}"
        row("Figure 6", size, "loop s", r["loop_s"])
        row("Figure 6", size, "compile s", r["compile_s"])
    for r in res["scaling"]:
        row("scaling", f"{r['devices']} device(s), {r['paths']:,} x {r['iters']}", "loop s",
            r["loop_s"])
    for name, ratio in res.get("cpu_ratio", {}).items():
        row("host CPU / device", name, "time ratio per unit", ratio)
    st = res.get("start", {})
    for k in ("cold_s", "warm_s"):
        if k in st:
            row("jaxmd-rp fig6 start", k.removesuffix("_s"), "wall s", st[k])
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--small", action="store_true", help="small sizes (CPU, under 2 minutes)")
    p.add_argument("--out", default=".", help="folder for device_check.json and device_check.md")
    p.add_argument("--repeat", type=int, default=3, help="timed repetitions (best of)")
    p.add_argument("--skip-start", action="store_true", help="skip the cold/warm start section")
    args = p.parse_args(argv)
    sizes = SMALL if args.small else LARGE
    dev = jax.devices()[0]
    cpu = jax.devices("cpu")[0]
    res = {"small": args.small, "device": rp.device_info(), "versions": {
        "jax": jax.__version__, "jaxmd_rp": rp.__version__, "python": platform.python_version()}}
    t0 = time.perf_counter()
    res["gap"] = gap_section(sizes["gap"], dev, args.repeat)
    res["single_call"] = single_call_section(args.repeat)
    res["river"] = river_section(sizes["river"], dev, args.repeat)
    res["fig6"] = fig6_section(sizes["fig6"], sizes["loop"])
    res["scaling"] = scaling_section(*sizes["fig6"][0])
    if dev.platform != "cpu":  # the same work at small sizes on the host CPU
        with jax.default_device(cpu):
            host_gap = gap_section(SMALL["gap"], cpu, args.repeat)
            host_river = river_section(SMALL["river"], cpu, args.repeat)
        res["host_cpu"] = {"gap": host_gap, "river": host_river}
        res["cpu_ratio"] = {
            **{f"gap T={h['T']}": h["us_per_data_set"] / d["us_per_data_set"]
               for h, d in zip(host_gap, res["gap"], strict=True)},
            "river equilibrium": host_river["us_per_equilibrium"] / res["river"]["us_per_equilibrium"],
        }
    if not args.skip_start:
        res["start"] = start_section(*sizes["start"], welfare=not args.small)
    res["total_s"] = time.perf_counter() - t0
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "device_check.json"), "w") as f:
        json.dump(res, f, indent=2, default=str)
    md = table(res)
    with open(os.path.join(args.out, "device_check.md"), "w") as f:
        f.write(md + "\n")
    print(md)
    print(f"\ntotal {res['total_s']:.0f} s; wrote {args.out}/device_check.json and .md")


if __name__ == "__main__":
    main()
