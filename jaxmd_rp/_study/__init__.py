r"""Large design studies: paths sharded over devices and hosts, memory-bounded batches,
checkpoint/resume and a reproducible run directory.

`run_study(fn, method, theta0, args, keys=..., num_steps=...)` runs any design method (`SPSA`,
`GradientDesign`, any `AbstractDesignMethod`) on P paths like `design_steps`, but

- **sharded:** the path axis is laid out on a one-axis device mesh (`jax.sharding.Mesh`, axis name
  `"paths"`) and a chunk of iterations is one `jax.shard_map`-ped program, compiled once per study
  (the chunk length is fixed; a shorter last chunk is masked with `lax.cond`, not recompiled).
  Paths never talk to each other, so every device runs its own shard with no collectives. When P
  does not divide the device count, the path axis is padded with copies of path 0 and the padding
  is dropped from the results.
- **layout-independent:** path k's randomness is `fold_in(keys[k], n)` at iteration n and nothing
  else, so 1, 2, 4 or 8 devices, any chunking of the iterations and any memory batching give
  bit-identical numbers (checked by `tests/test_study.py` on 8 simulated CPU devices).
- **memory-bounded:** with `max_paths_per_batch=B` each device walks through its paths B at a time
  (`jax.lax.map(..., batch_size=B)` inside the compiled program) instead of materialising all
  3 x T equilibrium solves of all its paths at once. Peak memory then scales with B, not P.
  `study_memory` reports XLA's memory analysis of the compiled step, and `memory_budget=bytes`
  chooses B from it (and checks its choice: memory per path is not the same for every batch
  size). On CPU smaller batches also ran faster when the river game's equilibria took 0.4 MiB
  per path (each call page-faults its whole working buffer): B ~ 100 about twice as fast as all
  paths at once. Now they take 0.15 MiB per path, and 0.03 MiB in batches of 4096 equilibria or
  more (`benchmarks/README.md`).
- **multi-host:** after `jax.distributed.initialize()` the mesh spans the devices of every process
  (`jax.devices()`); inputs are built with `jax.make_array_from_callback` (every process computes
  the same host arrays from the seed and hands over its own shards) and results come back with
  `jax.experimental.multihost_utils.process_allgather`. With one process these are the same calls,
  so the single-host code path is the multi-host one. `tests/test_study.py` joins two processes
  with `jax.distributed` over localhost (CPU collectives over gloo); real multi-host runs are not
  tested.
- **checkpoint/resume:** with `run_dir` and `checkpoint_every=k` the study saves, every k iterations
  and at the end, the design state of every path (any state pytree), the per-path keys and the metrics so
  far (values, failure flags, theta history) to `run_dir/checkpoints/<iterations done>/` with
  orbax-checkpoint (`CheckpointManager`: written to a temporary directory and renamed on commit, so
  a kill never leaves a half-written step behind; the last two steps are kept). Once committed, the
  step is sealed: `jaxmd_rp_files.json` records the SHA-256 of each of its files (a step killed
  between commit and seal is ignored and redone). `resume=True` continues from the latest sealed
  step. A checkpoint is refused (`CheckpointError`) when a file differs from its seal, orbax
  cannot read it or its arrays do not match their recorded hash (corrupt), or when it was written
  by another study configuration, another number of paths, other keys or another jaxmd_rp version
  (mismatched). The files are checked before orbax reads anything, so a damaged file is reported
  cleanly instead of failing inside orbax's concurrent reads.
- **reproducible:** `run_dir/run.json` records the study configuration and seed, the versions of
  jaxmd_rp, JAX, jaxlib, numpy and orbax, the device kind and count, the process count, x64 and the
  command line, with one entry per session (start or resume).
"""


from ._checkpoint import (
    CHECKPOINT_FORMAT as CHECKPOINT_FORMAT,
)
from ._checkpoint import (
    CheckpointError as CheckpointError,
)
from ._checkpoint import (
    fingerprint as fingerprint,
)
from ._checkpoint import (
    latest_checkpoint_step as latest_checkpoint_step,
)
from ._checkpoint import (
    load_checkpoint as load_checkpoint,
)
from ._devices import (
    STUDY_AXIS as STUDY_AXIS,
)
from ._devices import (
    device_info as device_info,
)
from ._devices import (
    study_devices as study_devices,
)
from ._devices import (
    study_mesh as study_mesh,
)
from ._rundir import RunDirectoryLocked as RunDirectoryLocked
from ._rundir import write_run_info as write_run_info
from ._runner import StudyResult as StudyResult
from ._runner import run_study as run_study
from ._runner import study_memory as study_memory
