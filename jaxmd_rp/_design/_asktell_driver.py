"""Drive ask-tell from Python: the outside system is a function, an `Observer` or a subprocess.

    state, trace = run_asktell(designer, state, observe, num_steps=30)

`observe(query) -> strategies` is called once per iteration with the `AskTellQuery` and returns
the observations (P, K, T, [N,] *action_shape) (numpy or JAX; NaN = missing). It may be

- any Python function (a laboratory interface, a numpy simulator, a call to a web service);
- an `Observer` (a JAX simulator: the exact equilibria, samples of them, or learning agents),
  evaluated by `simulate` in one compiled call;
- a `SubprocessObserver(command, action_shape)`: every query is written to a directory
  (`write_query`), the command runs with that directory as its last argument, and the
  observations are read back from `observations.npy` or `observations.csv` in it.

`ask` and `tell` are compiled once (`equinox.filter_jit`); the loop is a Python loop over
iterations because the outside world is called between them.
"""

import dataclasses
import os
import subprocess
import tempfile
from collections.abc import Callable, Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._observe import Observer
from ._asktell import AskTell, AskTellQuery, AskTellState, simulate
from ._asktell_io import query_id, read_observations, write_query


class ObserverError(RuntimeError):
    """The outside system (a `SubprocessObserver`'s command) failed to deliver observations."""


@dataclasses.dataclass
class AskTellTrace:
    """What `run_asktell` recorded (numpy arrays, n iterations, P paths, K evaluations).

    `theta` (n + 1, P, p): theta_1 .. theta_{n+1}; `value` (n, P): the gap at theta_n;
    `gap`, `halfwidth` (n, P, K): every evaluation's gap and Theorem-2 half-width;
    `failed`, `stopped` (n, P): skipped steps and frozen paths; `query_ids` (n,).
    """

    theta: np.ndarray
    value: np.ndarray
    gap: np.ndarray
    halfwidth: np.ndarray
    failed: np.ndarray
    stopped: np.ndarray
    query_ids: list


_ask = eqx.filter_jit(lambda designer, state: designer.ask(state))
_tell = eqx.filter_jit(lambda designer, state, query, obs: designer.tell(state, query, obs))
_simulate = eqx.filter_jit(simulate)


def run_asktell(designer: AskTell, state: AskTellState, observe: Callable | Observer,
                num_steps: int, *, progress: Callable | None = None):
    """Run `num_steps` ask-tell iterations, calling `observe(query)` in between.

    **Arguments:**

    - `designer`, `state`: an `AskTell` and its state (`designer.init(...)`).
    - `observe`: `observe(query) -> strategies`, or an `Observer` (module docstring).
    - `num_steps`: iterations.
    - `progress`: called after every tell as `progress(n_done, info)`.

    **Returns:** `(state, AskTellTrace)`.
    """
    if not isinstance(designer, AskTell):
        raise TypeError(f"`designer` must be an AskTell; got {type(designer).__name__}.")
    if isinstance(num_steps, bool) or not isinstance(num_steps, int) or num_steps < 0:
        raise ValueError(f"`num_steps` must be an integer >= 0; got {num_steps!r}.")
    if not (isinstance(observe, Observer) or callable(observe)):
        raise TypeError("`observe` must be a function of the query or an Observer; got "
                        f"{type(observe).__name__}.")
    thetas, rec, ids = [np.asarray(state.design.theta)], [], []
    for i in range(num_steps):
        query = _ask(designer, state)
        if isinstance(observe, Observer):
            obs = _simulate(observe, query)
        else:
            obs = observe(query)
        obs = jnp.asarray(obs)
        if jnp.issubdtype(obs.dtype, jnp.floating) or jnp.issubdtype(obs.dtype, jnp.integer):
            obs = obs.astype(query.theta.dtype)
        state, info = _tell(designer, state, query, obs)
        ids.append(query_id(query))
        rec.append(jax.tree.map(np.asarray, (info.value, info.gap, info.halfwidth, info.failed,
                                             info.stopped)))
        thetas.append(np.asarray(state.design.theta))
        if progress is not None:
            progress(i + 1, info)
    P, p = thetas[0].shape
    K = int(np.shape(_ask(designer, state).theta)[1]) if not rec else rec[0][1].shape[1]
    stack = lambda j, shape, dt: (np.stack([r[j] for r in rec]) if rec  # noqa: E731
                                  else np.zeros((0, *shape), dt))
    trace = AskTellTrace(theta=np.stack(thetas), value=stack(0, (P,), float),
                         gap=stack(1, (P, K), float), halfwidth=stack(2, (P, K), float),
                         failed=stack(3, (P,), bool), stopped=stack(4, (P,), bool), query_ids=ids)
    return state, trace


class SubprocessObserver:
    """Observe by running a command: `command + [query_directory]` once per query.

    **Arguments:**

    - `command`: the program and its arguments (a list, no shell).
    - `action_shape`: the joint action shape (`designer.probe_functions.action_shape`), to read
      CSV observations.
    - `workdir`: where the query directories go (default: a fresh temporary directory per
      query, removed afterwards); with a `workdir` they are kept as `query-<n>-<query id>`.
    - `observations`: the file the command writes into the query directory
      (`observations.npy`, default, or `observations.csv`; layouts in `jaxmd_rp._design.
      _asktell_io`).
    - `timeout`: seconds before the command is killed (`None`: no limit).
    - `env`: extra environment variables for the command.
    """

    def __init__(self, command: Sequence[str], action_shape, *, workdir: str | None = None,
                 observations: str = "observations.npy", timeout: float | None = None,
                 env: dict | None = None):
        if isinstance(command, str) or not command:
            raise TypeError("`command` must be a non-empty list of strings (the program and its "
                            "arguments), not one string.")
        if not observations.endswith((".npy", ".csv")):
            raise ValueError(f"`observations` must name a .npy or .csv file; got {observations!r}.")
        self.command = [str(c) for c in command]
        self.action_shape = tuple(int(s) for s in action_shape)
        self.workdir, self.observations, self.timeout = workdir, observations, timeout
        self.env = env

    def __call__(self, query: AskTellQuery) -> np.ndarray:
        qid = query_id(query)
        if self.workdir is None:
            with tempfile.TemporaryDirectory(prefix="jaxmd_rp_query_") as d:
                return self._observe(query, qid, d)
        n = int(np.max(np.asarray(query.n)))
        return self._observe(query, qid, os.path.join(self.workdir, f"query-{n:06d}-{qid}"))

    def _observe(self, query, qid: str, directory: str) -> np.ndarray:
        write_query(directory, query, self.action_shape, qid)
        env = None if self.env is None else {**os.environ, **self.env}
        try:
            done = subprocess.run([*self.command, directory], capture_output=True, text=True,
                                  timeout=self.timeout, env=env, check=False)
        except OSError as e:
            raise ObserverError(f"observer command {self.command!r} cannot be started "
                                f"({e.strerror or e}).") from None
        except subprocess.TimeoutExpired:
            raise ObserverError(f"observer command {self.command!r} did not finish within "
                               f"{self.timeout} s (query {qid}).") from None
        if done.returncode != 0:
            tail = (done.stderr.strip().splitlines() or ["(no output on stderr)"])[-1]
            raise ObserverError(f"observer command {self.command!r} exited with status "
                               f"{done.returncode} on query {qid}: {tail}")
        path = os.path.join(directory, self.observations)
        if not os.path.exists(path):
            raise ObserverError(f"observer command {self.command!r} wrote no {self.observations} "
                               f"into the query directory {directory!r}.")
        P, K, _ = np.shape(query.theta)
        T = np.shape(query.probes)[1]
        return read_observations(path, num_paths=P, num_evaluations=K, num_probes=T,
                                 action_shape=self.action_shape, qid=qid)
