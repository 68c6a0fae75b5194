"""The one scan driver: any design method on P paths, all iterations in one compiled `lax.scan`.

`scan_paths` is the only loop over design iterations in jaxmd_rp: `design_steps` /
`design_minimise` (alias `spsa_steps` / `spsa_minimise`) call it directly, and `run_study` calls it
inside each device's shard. Each path runs its own `lax.scan` over the iterations (path k's
iteration n uses the key `fold_in(keys[k], n)`), and the paths are batched with `jax.vmap` or, to
bound memory, `jax.lax.map(..., batch_size=B)`; neither changes the numbers.
"""

from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array

from ._base import AbstractDesignInfo, AbstractDesignMethod, AbstractDesignState


def path_keys(key, num_paths: int | None = None, path_ids=None):
    """Per-path keys `fold_in(key, path_id)`: path k's randomness depends on its index only."""
    if path_ids is None:
        if num_paths is None or isinstance(num_paths, bool) or not isinstance(num_paths, int) \
                or num_paths < 0:
            raise ValueError(f"`num_paths` must be an integer >= 0; got {num_paths!r}.")
        path_ids = jnp.arange(num_paths)
    return jax.vmap(lambda i: jax.random.fold_in(key, i))(jnp.asarray(path_ids))


def record_all(state: AbstractDesignState, info: AbstractDesignInfo):
    """What `design_steps` keeps of each iteration: the info and the new theta."""
    return info, state.theta


def record_study(record_theta: bool):
    """What `run_study` keeps of each iteration: value, failed flag, theta (optional)."""

    def record(state, info):
        return info.value, info.failed, state.theta if record_theta else None

    return record


def scan_paths(method: AbstractDesignMethod, fn: Callable, keys, states, args, *, num_steps: int,
               record: Callable = record_all, active=None, batch_size: int | None = None,
               key_impl=None):
    """Run `num_steps` iterations of `method` on a batch of paths (leading axis P).

    **Arguments:**

    - `method`, `fn`: the design method and the objective `fn(theta, args, key)`.
    - `keys`: per-path keys (P,) (typed keys, or raw key data with `key_impl` set).
    - `states`: the paths' states (leading axis P); `args`: per-path arguments (leading axis P)
      or `None`.
    - `num_steps`: iterations (static: the scan length).
    - `record`: `record(new_state, info) -> pytree` kept for every iteration.
    - `active`: optional traced count: only the first `active` iterations run, the others
      leave the state unchanged and record NaN/False (a shorter last chunk without
      recompilation).
    - `batch_size`: evaluate at most this many paths at once (`lax.map`); `None` = all (`vmap`).

    **Returns:** (final states, records with leading axes (P, num_steps)).
    """

    def one_path(key, state, a):
        if key_impl is not None:
            key = jax.random.wrap_key_data(key, impl=key_impl)

        def step(st):
            return method.step(jax.random.fold_in(key, st.n), st, fn, a)

        def run(st):
            new, info = step(st)
            return new, record(new, info)

        if active is None:
            return jax.lax.scan(lambda st, _: run(st), state, None, length=num_steps)
        info_shapes = jax.eval_shape(step, state)[1]

        def skip(st):  # an iteration past `active`: state unchanged, value NaN, flags False
            blank = jax.tree_util.tree_map(_blank, info_shapes)
            return st, record(st, blank)

        def body(st, i):
            return jax.lax.cond(i < active, run, skip, st)

        return jax.lax.scan(body, state, jnp.arange(num_steps, dtype=jnp.asarray(active).dtype))

    n = jax.tree_util.tree_leaves(keys)[0].shape[0]
    if batch_size is None or batch_size >= n:
        return jax.vmap(one_path)(keys, states, args)
    return jax.lax.map(lambda x: one_path(*x), (keys, states, args), batch_size=batch_size)


def _blank(s):
    if jnp.issubdtype(s.dtype, jnp.floating):
        return jnp.full(s.shape, jnp.nan, s.dtype)
    return jnp.zeros(s.shape, s.dtype)


class DesignTrace(eqx.Module):
    """Output of `design_minimise` for P paths and n steps.

    `theta`: (n + 1, P, p), theta_1 ... theta_{n+1}; `value`: (n, P), fn(theta_1) ... fn(theta_n);
    `info`: the stacked step infos (leading axes (n, P)); `state`: the final states (resume from
    them with `design_steps`).
    """

    theta: Array
    value: Array
    info: Any
    state: Any


@eqx.filter_jit
def design_steps(method: AbstractDesignMethod, fn, states, args, keys, num_steps: int):
    """Run `num_steps` iterations of any design method on a batch of paths (leading axis P).

    `keys` are the per-path keys (`path_keys`); iteration n of path k uses `fold_in(keys[k], n)`.
    Returns (final states, stacked infos with leading axes (num_steps, P), thetas
    (num_steps, P, p)).
    """
    if not isinstance(method, AbstractDesignMethod):
        raise TypeError("`method` must be a design method (SPSA, GradientDesign or another "
                        f"AbstractDesignMethod); got {type(method).__name__}.")
    states, (infos, thetas) = scan_paths(method, fn, keys, states, args, num_steps=num_steps)
    swap = lambda x: jnp.swapaxes(x, 0, 1)  # noqa: E731  (P, n, ...) -> (n, P, ...)
    return states, jax.tree_util.tree_map(swap, infos), swap(thetas)


def design_minimise(fn: Callable, method: AbstractDesignMethod, theta0, args=None, *, key,
                    num_steps: int, path_ids=None) -> DesignTrace:
    """Minimise `fn` from P starting points at once (Algorithm 1 on P Monte-Carlo paths).

    **Arguments:**

    - `fn`: objective `fn(theta, args, key) -> scalar` (NaN = could not evaluate).
    - `method`: a design method (`SPSA`, `GradientDesign`, or any `AbstractDesignMethod`).
    - `theta0`: shape (P, p).
    - `args`: per-path arguments with leading axis P (e.g. each path's probes), or `None`.
    - `key`: a PRNG key; path k uses `fold_in(key, path_ids[k])` (default `path_ids = arange(P)`).
    - `num_steps`: iterations; all of them run in one compiled `lax.scan`.

    **Returns:** a `DesignTrace` (`SPSATrace` is the same class).

    ```python
    >>> import jax, jax.numpy as jnp, jaxmd_rp as rp
    >>> spsa = rp.SPSA(lower=-jnp.ones(2), upper=jnp.ones(2), q=0.0, stop_tol=None)
    >>> fn = lambda th, args, key: jnp.sum((th - 0.3) ** 2)
    >>> tr = rp.spsa_minimise(fn, spsa, jnp.zeros((4, 2)), key=jax.random.PRNGKey(0), num_steps=200)
    >>> bool(jnp.allclose(tr.theta[-1], 0.3, atol=0.05))
    True

    ```
    """
    theta0 = check_paths(theta0, method)
    if isinstance(num_steps, bool) or not isinstance(num_steps, int) or num_steps < 0:
        raise ValueError(f"`num_steps` must be an integer >= 0; got {num_steps!r}.")
    P = theta0.shape[0]
    check_args(args, P)
    keys = path_keys(key, P, path_ids)
    states = jax.vmap(method.init)(theta0)
    final, infos, thetas = design_steps(method, fn, states, args, keys, num_steps)
    theta = jnp.concatenate([states.theta[None], thetas], axis=0)
    return DesignTrace(theta=theta, value=infos.value, info=infos, state=final)


def check_paths(theta0, method) -> Array:
    """`theta0` of shape (P, p) with p the method's box dimension (trace-time check)."""
    if not isinstance(method, AbstractDesignMethod):
        raise TypeError("`method` must be a design method (SPSA, GradientDesign or another "
                        f"AbstractDesignMethod); got {type(method).__name__}.")
    theta0 = jnp.asarray(theta0)
    p = jnp.shape(method.lower)[0]
    if theta0.ndim != 2 or theta0.shape[1] != p:
        raise ValueError(f"`theta0` must have shape (P, p) = (P, {p}) (p from the box Theta); "
                         f"got {theta0.shape}.")
    return theta0


def check_args(args, num_paths: int):
    """Per-path `args` must have a leading axis of length P on every array leaf."""
    for leaf in jax.tree_util.tree_leaves(args):
        shape = jnp.shape(leaf)
        if len(shape) == 0 or shape[0] != num_paths:
            raise ValueError(f"`args` are per-path: every array needs a leading axis of length "
                             f"P = {num_paths}; got an array of shape {shape}.")
