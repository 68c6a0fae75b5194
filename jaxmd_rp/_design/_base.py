"""The design protocol: a design method is a pure pair `init` / `step` (optax/blackjax style).

    state = method.init(theta0)                              # one path, theta0 of shape (p,)
    state, info = method.step(key, state, fn, args)          # one iteration, key first

`state` is an `AbstractDesignState` (a pytree with at least `theta`, the next iteration index `n`
(starting at 1) and the `stopped` flag); `info` is an `AbstractDesignInfo` (at least `value` =
fn(theta_n), `stopped` and `failed`) kept apart from the state. Methods take one path; the driver
(`design_steps`, `design_minimise`, `run_study`) vmaps them over paths and scans over iterations,
and derives iteration n's key of path k as `fold_in(fold_in(key, k), n)`, so a path's trajectory
does not depend on the batch it runs in. Any method with this interface runs at scale through
`run_study` (sharding, memory batches, checkpoint/resume).
"""

import abc
from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jaxtyping import Array, Bool, Float, Int

from .._observe import is_concrete


class AbstractDesignState(eqx.Module):
    """The state of one design path."""

    theta: eqx.AbstractVar[Float[Array, " p"]]
    n: eqx.AbstractVar[Int[Array, ""]]
    stopped: eqx.AbstractVar[Bool[Array, ""]]


class AbstractDesignInfo(eqx.Module):
    """Diagnostics of one design step (not carried to the next step)."""

    value: eqx.AbstractVar[Array]
    stopped: eqx.AbstractVar[Array]
    failed: eqx.AbstractVar[Array]


def check_box(lower, upper):
    """Validate a box Theta = [lower, upper] given as arrays of shape (p,) (when concrete)."""
    lower, upper = jnp.asarray(lower), jnp.asarray(upper)
    if lower.ndim != 1 or lower.shape != upper.shape:
        raise ValueError(
            f"`lower` and `upper` must be 1-D arrays of the same shape (p,); got {lower.shape} "
            f"and {upper.shape}."
        )
    for name, b in (("lower", lower), ("upper", upper)):
        if not jnp.issubdtype(b.dtype, jnp.floating) and not jnp.issubdtype(b.dtype, jnp.integer):
            raise TypeError(f"`{name}` must be a real array; got dtype {b.dtype}.")
    if is_concrete(lower) and is_concrete(upper):
        if bool(jnp.any(jnp.isnan(lower)) | jnp.any(jnp.isnan(upper))):
            raise ValueError("`lower` and `upper` must not contain NaN.")
        if not bool(jnp.all(lower <= upper)):
            raise ValueError("`lower` must be <= `upper` componentwise (the box Theta is empty).")


def check_gain(name: str, value, ok: Callable[[float], bool], rule: str):
    """Refuse an out-of-range (concrete) gain: `name` = value must satisfy `rule`."""
    if not is_concrete(value):
        return
    v = np.asarray(value)
    if v.ndim != 0 or not np.isrealobj(v):
        raise ValueError(f"`{name}` must be a real scalar; got {value!r}.")
    if not (np.isfinite(v) and ok(float(v))):
        raise ValueError(f"`{name}` = {float(v)} is out of range (need {rule}).")


def scalar_value(vals, what: str = "objective"):
    """The objective's output must be one real scalar per evaluation (checked at trace time)."""
    if vals.ndim != 1:
        raise ValueError(
            f"the {what} `fn(theta, args, key)` must return a scalar; it returned shape "
            f"{vals.shape[1:]}. Reduce it to one number (e.g. a sum or a gap).")
    if not jnp.issubdtype(vals.dtype, jnp.floating):
        raise TypeError(f"the {what} must return a real floating scalar; got dtype {vals.dtype}.")
    return vals


class AbstractDesignMethod(eqx.Module):
    """A design method on a box Theta = [lower, upper]: `init(theta0)` and `step(key, state,
    fn, args)` (see the module docstring)."""

    lower: eqx.AbstractVar[Array]
    upper: eqx.AbstractVar[Array]

    @abc.abstractmethod
    def init(self, theta0) -> AbstractDesignState:
        """The state of one path started at `theta0` (shape (p,), projected onto Theta)."""

    @abc.abstractmethod
    def step(self, key, state: AbstractDesignState, fn: Callable, args: Any = None):
        """One iteration: returns `(new_state, info)`."""

    def check_theta0(self, theta0) -> Array:
        """`theta0` as a real array of shape (p,) matching the box (trace-time checks)."""
        theta0 = jnp.asarray(theta0)
        p = jnp.shape(self.lower)[0]
        if jnp.iscomplexobj(theta0):
            raise TypeError(f"`theta0` must be real; got dtype {theta0.dtype}.")
        if theta0.shape != (p,):
            raise ValueError(
                f"`theta0` must have shape (p,) = ({p},) to match the box Theta; got "
                f"{theta0.shape} (vmap over paths, or pass (P, {p}) to the drivers).")
        if not jnp.issubdtype(theta0.dtype, jnp.floating):
            theta0 = theta0.astype(jnp.result_type(float))
        return eqx.error_if(theta0, ~jnp.all(jnp.isfinite(theta0)),
                            "`theta0` contains NaN or inf.")

    def project(self, theta) -> Array:
        """Proj_Theta(theta), in theta's dtype."""
        lo = jnp.asarray(self.lower, theta.dtype)
        hi = jnp.asarray(self.upper, theta.dtype)
        return optax.projections.projection_box(theta, lo, hi)


def freeze(stopped_or_failed, old, new):
    """`old` where the path is frozen (stopped, or the step failed), else `new` (any pytree)."""
    return jax.tree_util.tree_map(lambda a, b: jnp.where(stopped_or_failed, a, b), old, new)
