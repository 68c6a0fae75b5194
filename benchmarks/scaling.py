"""Time per SPSA iteration and peak memory versus the number of paths (Figure 6's river game).

Each (paths, batch) point runs in a fresh process (so that its peak memory is its own) through
`jaxmd_rp.run_study`, with one iteration per compiled call. The step is compiled first ("compile
s", by `jaxmd_rp.study_memory`, which also gives "XLA MiB / dev": XLA's memory analysis of the
compiled step, working + argument + output buffers per device, the figure to size
`max_paths_per_batch` with); iteration 1 is run untimed, then `--iters` iterations are timed one
by one and the median is reported: wall clock, the process's CPU time (less sensitive to other
load on the machine) and wall clock per path and iteration. Peak memory is the device
allocator's `peak_bytes_in_use` on a GPU, and on a CPU the process's peak resident set minus its
size after compilation, before the study starts.

    python benchmarks/scaling.py                      # 10^2 .. 10^5 paths, ~2 min on 2 CPU cores
    python benchmarks/scaling.py --paths 100 1000 --iters 5
    python benchmarks/scaling.py --paths 10000 --host-devices 2      # shard over 2 CPU "devices"
    python benchmarks/scaling.py --platform gpu --batch 10000 100000   # GPU: large batches

Unbatched runs hold all 3 x T equilibrium solves of every path at once; they are skipped where
the memory measured on smaller runs predicts more than `--memory-fraction` of the memory
available (and above `--max-unbatched` paths). Batched runs (`--batch B ...`, i.e.
`max_paths_per_batch=B`; default 100) are made for every point with more than B paths.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import time


def child(args) -> dict:
    import jax
    import numpy as np

    jax.config.update("jax_enable_x64", True)
    import jaxmd_rp as rp
    from jaxmd_rp.experiments import fig6

    P, B = args.paths[0], args.child_batch
    cfg = fig6.Fig6Config(paths=P, iters=1 + args.iters, chunk=1, num_probes=args.probes)
    _, objective, spsa, theta0, probes, keys = fig6.build(cfg)
    jax.block_until_ready((theta0, probes, keys))
    dev = jax.devices()[0]
    t_compile = time.perf_counter()  # study_memory compiles the step run_study then reuses
    xla = rp.study_memory(objective, spsa, theta0, probes, keys=keys, chunk=1,
                          devices=args.devices, max_paths_per_batch=B)
    t_compile = time.perf_counter() - t_compile
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    stamps = []
    res = rp.run_study(objective, spsa, theta0, probes, keys=keys, num_steps=1 + args.iters,
                       chunk=1, devices=args.devices, max_paths_per_batch=B,
                       progress=lambda done, total, v: stamps.append(
                           (time.perf_counter(), time.process_time())),
                       config=fig6.study_config(cfg))
    stamps = np.array(stamps)  # stamps[0]: after compilation + iteration 1
    per_it, cpu_per_it = np.diff(stamps[:, 0]), np.diff(stamps[:, 1])
    stats = dev.memory_stats() or {}
    if "peak_bytes_in_use" in stats:
        peak, how = stats["peak_bytes_in_use"], "device peak_bytes_in_use"
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - rss0
        how = "process peak RSS - RSS before"
    return {
        "paths": P, "batch": B, "devices": res.num_devices, "platform": dev.platform,
        "device_kind": dev.device_kind, "probes": args.probes,
        "compile_s": t_compile, "first_call_s": res.compile_seconds,
        "s_per_iteration": float(np.median(per_it)) if per_it.size else float("nan"),
        "cpu_s_per_iteration": float(np.median(cpu_per_it)) if per_it.size else float("nan"),
        "iterations_timed": int(per_it.size),
        "peak_bytes": int(peak), "memory": how, "xla_bytes_per_device": xla["total_bytes"],
        "share_at_zero": float(np.mean(res.value[-1] <= cfg.zero_tol)),
        "share_failed": float(np.mean(res.failed)),
    }


def available_memory(platform: str) -> float:
    if platform == "gpu":
        import jax

        return float((jax.devices()[0].memory_stats() or {}).get("bytes_limit", float("inf")))
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return float(line.split()[1]) * 1024
    except OSError:
        pass
    return float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))


def run_point(args, P, B) -> dict | None:
    cmd = [sys.executable, os.path.abspath(__file__), "--child", "--paths", str(P),
           "--iters", str(args.iters), "--probes", str(args.probes)]
    if B is not None:
        cmd += ["--child-batch", str(B)]
    if args.devices is not None:
        cmd += ["--devices", str(args.devices)]
    env = dict(os.environ)
    if args.platform:
        env["JAX_PLATFORMS"] = {"gpu": "cuda"}.get(args.platform, args.platform)
    env.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    if args.host_devices:
        env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "") +
                            f" --xla_force_host_platform_device_count={args.host_devices}").strip()
    t = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if r.returncode != 0:
        print(f"  paths={P} batch={B}: failed (exit {r.returncode}): {r.stderr.strip()[-500:]}",
              file=sys.stderr)
        return None
    out = json.loads(r.stdout.strip().splitlines()[-1])
    out["wall_s"] = time.perf_counter() - t
    return out


def fmt_row(r) -> str:
    per_path_us = r["s_per_iteration"] / r["paths"] * 1e6
    return (f"| {r['paths']:>7d} | {r['batch'] if r['batch'] else 'all':>5} | {r['devices']:>3} "
            f"| {r['compile_s']:9.1f} | {r['s_per_iteration']:13.4f} | {r['cpu_s_per_iteration']:10.4f} "
            f"| {per_path_us:12.1f} "
            f"| {r['peak_bytes'] / 2**20:9.1f} | {r['peak_bytes'] / r['paths'] / 1024:8.1f} "
            f"| {r['xla_bytes_per_device'] / 2**20:9.1f} |")


HEADER = ("|   paths | batch | dev | compile s | s / iteration | CPU s / it | us / path-it | peak MiB "
          "| KiB / path | XLA MiB / dev |\n"
          "|--------:|------:|----:|----------:|--------------:|-----------:|-------------:|---------:"
          "|-----------:|--------------:|")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--paths", type=int, nargs="+", default=[100, 1000, 10_000, 100_000])
    ap.add_argument("--iters", type=int, default=3, help="timed iterations per point")
    ap.add_argument("--batch", type=int, nargs="*", default=[100],
                    help="max_paths_per_batch values for the batched runs (none: no batched runs)")
    ap.add_argument("--probes", type=int, default=10, help="T, probes per path")
    ap.add_argument("--devices", type=int, default=None, help="devices to shard over (default all)")
    ap.add_argument("--host-devices", type=int, default=None,
                    help="CPU only: split the host into N XLA devices "
                         "(--xla_force_host_platform_device_count) to shard over")
    ap.add_argument("--platform", choices=["cpu", "gpu"], default=None,
                    help="JAX platform (default: JAX's choice, a GPU when there is one)")
    ap.add_argument("--max-unbatched", type=int, default=None,
                    help="largest unbatched run (default: 10^4 on CPU, no limit on GPU)")
    ap.add_argument("--memory-fraction", type=float, default=0.6,
                    help="skip unbatched runs predicted to need more than this share of memory")
    ap.add_argument("--json", default=None, help="also write the rows to this file")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--child-batch", type=int, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(child(args)))
        return 0

    platform = args.platform
    if platform is None:
        import jax

        platform = "gpu" if jax.default_backend() in ("gpu", "cuda", "rocm") else "cpu"
    max_unbatched = args.max_unbatched
    if max_unbatched is None:
        max_unbatched = 10_000 if platform == "cpu" else 10**9
    avail = available_memory(platform)
    rows, per_path = [], None
    print(f"SPSA scaling on {platform}: river game, T = {args.probes} probes, "
          f"{args.iters} timed iterations per point; memory available {avail / 2**30:.1f} GiB")
    print(HEADER, flush=True)
    for P in sorted(args.paths):
        points = []
        predicted = per_path * P if per_path else 0.0
        if P <= max_unbatched and predicted <= args.memory_fraction * avail:
            points.append(None)
        else:
            print(f"|   (skip {P} paths unbatched: predicted {predicted / 2**30:.1f} GiB or above "
                  f"--max-unbatched {max_unbatched})", flush=True)
        points += [b for b in sorted(args.batch) if P > b]
        for B in points:
            r = run_point(args, P, B)
            if r is None:
                continue
            rows.append(r)
            if B is None:
                per_path = max(per_path or 0.0, r["peak_bytes"] / P)
            print(fmt_row(r), flush=True)
    if rows:
        r0 = rows[0]
        print(f"device: {r0['device_kind']} x {r0['devices']}; memory: {r0['memory']}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
