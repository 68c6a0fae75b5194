"""Ask-tell with the state on disk: an experiment that runs for days, one command at a time.

    run = AskTellRun(run_dir, designer)
    run.init(theta0, probes, keys, config=...)       # checkpoint 0
    query, qid, where = run.ask()                     # query files in run_dir/queries/<n>/
    ... the outside system plays the query and writes its observations ...
    info = run.tell(observations, qid)               # checkpoint n + 1

Each call takes the run directory's lock (`RunDirLock`) and works from the latest sealed
checkpoint (the study checkpoints: orbax steps sealed with SHA-256, refused when damaged). The
checkpoint holds the state of every path, the per-path probes and keys, and the history of every
tell; its meta data hold the fingerprint of the designer (method, gains, probe functions and
their code, gap settings) and the dtype, so a command with another designer is refused. The
step number is the number of tells done.

**Ask** is a pure function of the state: asking again before telling writes the same query (same
id). The pending query is recorded in `run_dir/pending.json`. **Tell** recomputes the pending
query from the checkpoint and refuses observations that name another query id (observations of
an older, already told query, or of another run), and refuses a tell with no pending ask. A tell
that was killed before its checkpoint was sealed left the state unchanged: tell again.
`history.csv` is rewritten from the checkpoint after every tell.
"""

import csv
import json
import os

import equinox as eqx
import jax
import numpy as np

from .._design._asktell import AskTell, AskTellState
from .._design._asktell_io import key_data, query_id, read_observations, write_query
from .._version import __version__
from ._checkpoint import (
    CHECKPOINT_FORMAT,
    CHECKPOINT_SUBDIR,
    CheckpointError,
    fingerprint,
    load_checkpoint,
    manager,
    save,
    state_arrays,
    state_from_arrays,
    steps,
)
from ._rundir import RUN_INFO, RunDirLock, atomic_write_json, read_run_info, write_run_info

KIND = "asktell"
PENDING = "pending.json"
HISTORY = "history.csv"
QUERIES = "queries"


class AskTellRun:
    """An ask-tell experiment kept in a run directory (module docstring).

    **Arguments:**

    - `run_dir`: the run directory.
    - `designer`: the `AskTell` of the experiment (the same one at every command: its
      fingerprint is checked against the one recorded at `init`).
    """

    def __init__(self, run_dir: str, designer: AskTell):
        if not isinstance(designer, AskTell):
            raise TypeError(f"`designer` must be an AskTell; got {type(designer).__name__}.")
        self.run_dir, self.designer = run_dir, designer

    # ------------------------------------------------------------------------------- commands
    def init(self, theta0, probes, keys, *, config: dict | None = None,
             overwrite: bool = False) -> AskTellState:
        """Start an experiment: the state of P paths (as `AskTell.init`) saved as checkpoint 0.
        Refuses a directory that holds an experiment or a study unless `overwrite`."""
        state = self.designer.init(theta0, probes, keys)
        with RunDirLock(self.run_dir):
            committed, _ = steps(self.run_dir)
            if (committed or os.path.exists(os.path.join(self.run_dir, RUN_INFO))) and not overwrite:
                raise FileExistsError(
                    f"{self.run_dir!r} already holds a run; choose another directory, or pass "
                    "overwrite=True (--overwrite) to replace it.")
            mgr = manager(os.path.join(self.run_dir, CHECKPOINT_SUBDIR), create=True)
            try:
                for st in committed:
                    mgr.delete(st)
                for name in (PENDING, HISTORY):
                    if os.path.exists(os.path.join(self.run_dir, name)):
                        os.remove(os.path.join(self.run_dir, name))
                P, p = state.design.theta.shape
                write_run_info(self.run_dir, config, extra={"kind": KIND, "num_paths": P})
                K = jax.eval_shape(self.designer.ask, state).theta.shape[1]
                self._save(mgr, state, _History.empty(state, K), config)
            finally:
                mgr.close()
        return state

    def ask(self, *, csv_files: bool = True) -> tuple:
        """The pending query: `(query, query_id, directory)`; the files are written to
        `run_dir/queries/<iteration>/` (`write_query`). Asking twice gives the same query."""
        with RunDirLock(self.run_dir):
            state, history, done = self._load()
            query = self.designer.ask(state)
            qid = query_id(query)
            where = os.path.join(self.run_dir, QUERIES, f"{done + 1:06d}")
            write_query(where, query, self.designer.probe_functions.action_shape, qid,
                        csv_files=csv_files)
            atomic_write_json(os.path.join(self.run_dir, PENDING),
                              {"query_id": qid, "tells_done": done, "directory": where})
        return query, qid, where

    def tell(self, observations, qid: str):
        """Update the experiment from `observations` (an array, or a `.npy`/`.csv` path) that
        answer the pending query `qid`. Returns the tell's `AskTellInfo` (numpy)."""
        with RunDirLock(self.run_dir):
            state, history, done = self._load()
            query = self.designer.ask(state)
            pending = query_id(query)
            self._check_pending(qid, pending, done)
            if isinstance(observations, (str, os.PathLike)):
                P, K, _ = query.theta.shape
                observations = read_observations(
                    os.fspath(observations), num_paths=P, num_evaluations=K,
                    num_probes=query.probes.shape[1],
                    action_shape=self.designer.probe_functions.action_shape, qid=pending)
            obs = np.asarray(observations)
            if np.issubdtype(obs.dtype, np.number) and not np.iscomplexobj(obs):
                obs = obs.astype(np.asarray(state.design.theta).dtype)
                if np.isinf(obs).any():
                    raise ValueError("the observations contain inf; mark a missing observation "
                                     "with NaN.")
            self.designer.check_strategies(obs, *query.theta.shape[:2], query.probes.shape[1])
            new, info = _tell(self.designer, state, query, obs)
            info = jax.tree.map(np.asarray, info)
            history.add(new, info)
            mgr = manager(os.path.join(self.run_dir, CHECKPOINT_SUBDIR), create=True)
            try:
                for st in steps(self.run_dir)[0]:
                    if st > done:  # committed by a killed tell but never sealed: redo it
                        mgr.delete(st)
                self._save(mgr, new, history, self._meta_config())
            finally:
                mgr.close()
            os.remove(os.path.join(self.run_dir, PENDING))
            self._write_history(history)
        return info

    def state(self) -> tuple:
        """`(state, history arrays, tells done)` from the latest checkpoint (verified)."""
        with RunDirLock(self.run_dir):
            state, history, done = self._load()
        return state, history.arrays(), done

    # ------------------------------------------------------------------------------- pieces
    def _meta_config(self):
        return (read_run_info(self.run_dir) or {}).get("config")

    def _meta(self, state: AskTellState, config) -> dict:
        P, p = np.shape(state.design.theta)
        impl = _key_impl(state.keys)
        return {"format": CHECKPOINT_FORMAT, "kind": KIND, "jaxmd_rp": __version__,
                "config": config, "num_paths": int(P), "theta_dim": int(p), "key_impl": impl,
                "inputs": {"designer": fingerprint(self.designer),
                           "dtype": str(np.asarray(state.design.theta).dtype)}}

    def _save(self, mgr, state: AskTellState, history, config):
        # orbax cannot save empty arrays: before the first tell only theta_history is kept
        kept = {k: v for k, v in history.arrays().items() if v.size}
        design = state_arrays(state.design)
        clash = sorted(set(design) & (set(_History.NAMES) | {"probes", "keys", "done"}))
        if clash:
            raise ValueError(f"the design state's leaves {clash} clash with the experiment's "
                             "own checkpoint arrays.")
        arrays = {**design, "probes": np.asarray(state.probes),
                  "keys": key_data(state.keys), **kept,
                  "done": np.asarray(history.done, np.int64)}
        save(mgr, history.done, arrays, self._meta(state, config))

    def _load(self):
        if not os.path.isdir(self.run_dir) or not steps(self.run_dir)[1]:
            raise CheckpointError(f"{self.run_dir!r} holds no ask-tell experiment (no sealed "
                                  "checkpoint); start one with init (jaxmd-rp init).")
        try:
            read_run_info(self.run_dir)
        except ValueError as e:
            raise CheckpointError(str(e)) from None
        arrays, meta = load_checkpoint(self.run_dir)
        where = os.path.join(self.run_dir, CHECKPOINT_SUBDIR, str(meta.get("step")))
        problems = []
        if meta.get("kind") != KIND:
            problems.append("it was written by a design study, not an ask-tell experiment")
        elif meta.get("jaxmd_rp") != __version__:
            problems.append(f"it was written by jaxmd_rp {meta.get('jaxmd_rp')}, this is "
                            f"jaxmd_rp {__version__}")
        else:
            stored = meta.get("inputs", {})
            template = self.designer.init(
                np.zeros((meta["num_paths"], meta["theta_dim"]), arrays["theta"].dtype),
                arrays["probes"], _wrap_keys(arrays["keys"], meta.get("key_impl")))
            if stored.get("designer") != fingerprint(self.designer):
                problems.append("its designer differs (design method, gains, probe functions "
                                "or their code, gap settings)")
            if stored.get("dtype") != str(np.asarray(template.design.theta).dtype):
                problems.append("it computed in another dtype (is jax_enable_x64 set the same "
                                "way?)")
        if problems:
            raise CheckpointError(f"refusing to continue from {where!r}: " + "; ".join(problems)
                                  + ". Use the designer that started the experiment.")
        design = state_from_arrays(template.design, arrays)
        state = AskTellState(design=jax.tree.map(jax.numpy.asarray, design),
                             probes=jax.numpy.asarray(arrays["probes"]), keys=template.keys)
        done = int(arrays["done"])
        if done == 0:
            K = jax.eval_shape(self.designer.ask, state).theta.shape[1]
            return state, _History.empty(state, K), 0
        return state, _History.restore(arrays), done

    def _check_pending(self, qid: str, pending: str, done: int):
        if qid == pending:
            path = os.path.join(self.run_dir, PENDING)
            if not os.path.exists(path):
                raise CheckpointError(f"query {qid} has not been asked yet: run ask (jaxmd-rp "
                                      "ask) first and deploy its mechanisms.")
            return
        older = _asked_before(self.run_dir, qid, done)
        if older is not None:
            raise CheckpointError(
                f"query {qid} (iteration {older}) has already been told; the pending query is "
                f"{pending} (iteration {done + 1}). Ask again to get it.")
        raise CheckpointError(f"the observations answer query {qid}, but the pending query of "
                              f"{self.run_dir!r} is {pending} (iteration {done + 1}).")

    def _write_history(self, history):
        a = history.arrays()
        path = os.path.join(self.run_dir, HISTORY)
        tmp = f"{path}.tmp.{os.getpid()}"
        n, P = a["value"].shape
        p = a["theta_history"].shape[-1]
        K = a["gap"].shape[-1]
        with open(tmp, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["iteration", "path", "value", "halfwidth", "failed", "stopped"]
                       + [f"gap_{j}" for j in range(K)] + [f"theta_{i}" for i in range(p)])
            for i in range(n):
                for k in range(P):
                    w.writerow([i + 1, k, repr(float(a["value"][i, k])),
                                repr(float(a["halfwidth"][i, k, 0])), int(a["failed"][i, k]),
                                int(a["stopped_history"][i, k])]
                               + [repr(float(v)) for v in a["gap"][i, k]]
                               + [repr(float(v)) for v in a["theta_history"][i, k]])
        os.replace(tmp, path)


_tell = eqx.filter_jit(lambda designer, state, query, obs: designer.tell(state, query, obs))


class _History:
    """Every tell so far: value, failed, stopped (n, P), gap, halfwidth (n, P, K), theta
    (n + 1, P, p)."""

    NAMES = ("value", "failed", "stopped_history", "gap", "halfwidth", "theta_history")

    def __init__(self, arrays: dict):
        self.a = {k: np.asarray(arrays[k]) for k in self.NAMES}

    @property
    def done(self) -> int:
        return self.a["value"].shape[0]

    @classmethod
    def empty(cls, state: AskTellState, num_evaluations: int):
        theta = np.asarray(state.design.theta)
        P = theta.shape[0]
        dt = theta.dtype
        return cls({"value": np.zeros((0, P), dt), "failed": np.zeros((0, P), bool),
                    "stopped_history": np.zeros((0, P), bool),
                    "gap": np.zeros((0, P, num_evaluations), dt),
                    "halfwidth": np.zeros((0, P, num_evaluations), dt),
                    "theta_history": theta[None]})

    @classmethod
    def restore(cls, arrays: dict):
        missing = [k for k in cls.NAMES if k not in arrays]
        if missing:
            raise CheckpointError(f"the checkpoint holds no {', '.join(missing)}: it was not "
                                  "written by an ask-tell experiment.")
        return cls(arrays)

    def add(self, state: AskTellState, info):
        new = {"value": info.value, "failed": info.failed, "stopped_history": info.stopped,
               "gap": info.gap, "halfwidth": info.halfwidth,
               "theta_history": np.asarray(state.design.theta)}
        for k, v in new.items():
            self.a[k] = np.concatenate([self.a[k], np.asarray(v)[None].astype(self.a[k].dtype)])

    def arrays(self) -> dict:
        return dict(self.a)


def _key_impl(keys) -> str | None:
    keys = jax.numpy.asarray(keys)
    if jax.dtypes.issubdtype(keys.dtype, jax.dtypes.prng_key):
        return str(jax.random.key_impl(keys))
    return None


def _wrap_keys(data, impl: str | None):
    if impl is None:
        return jax.numpy.asarray(data)
    return jax.random.wrap_key_data(jax.numpy.asarray(data), impl=impl)


def _asked_before(run_dir: str, qid: str, done: int) -> int | None:
    """The iteration of an earlier query with this id (already told), or None."""
    d = os.path.join(run_dir, QUERIES)
    if not os.path.isdir(d):
        return None
    for name in sorted(os.listdir(d)):
        if not name.isdigit() or int(name) > done:
            continue
        try:
            with open(os.path.join(d, name, "query.json")) as f:
                if json.load(f).get("query_id") == qid:
                    return int(name)
        except (OSError, ValueError):
            continue
    return None
