"""Input checks of the robust gap's entry points.

Two kinds of check, one rule each:

- **structure** (shapes, dtypes, static settings such as `support` or `max_iterations`): a
  `ValueError`/`TypeError` naming the argument, raised when the call is traced;
- **values** of the data (NaN/inf, a negative radius, prices <= 0, samples outside their budget
  sets): a `RESULTS` code per instance (`invalid_epsilon`, `invalid_samples`), so that under
  `vmap` with `throw=False` a bad element gets NaN outputs and its own code while the healthy
  elements are untouched. With `throw=True` the code is raised: as a `ValueError` when the inputs
  are concrete (`raise_invalid`), else by the entry point's `finish` inside `jit`.
"""

from typing import Literal

import equinox as eqx
import jax.numpy as jnp
import numpy as np

from .._observe import is_concrete
from .._solution import RESULTS

Support = Literal["triangle", "line"]


def float_dtype(*xs):
    """The widest floating dtype among `xs` (the default float dtype if none is floating)."""
    floats = [x.dtype for x in xs if jnp.issubdtype(x.dtype, jnp.floating)]
    if not floats:
        return jnp.result_type(float)
    return max(floats, key=lambda d: jnp.finfo(d).bits)


def as_real(x, name: str):
    """`x` as an array of real numbers (bool, complex and non-numeric inputs are refused)."""
    try:
        x = jnp.asarray(x)
    except TypeError as e:
        raise TypeError(f"`{name}` must be an array of real numbers; got {type(x).__name__}.") from e
    if not (jnp.issubdtype(x.dtype, jnp.floating) or jnp.issubdtype(x.dtype, jnp.integer)):
        raise TypeError(f"`{name}` must be real (a float or integer dtype); got dtype {x.dtype}.")
    return x


def check_support(support):
    if support not in ("triangle", "line"):
        raise ValueError(f"`support` must be 'triangle' or 'line'; got {support!r}.")


def check_count(value, name: str, minimum: int):
    """A static integer setting (a Python int, not a bool) >= `minimum`."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"`{name}` must be an integer; got {value!r}.")
    if value < minimum:
        raise ValueError(f"`{name}` must be >= {minimum}; got {value}.")
    return int(value)


def check_tol(tol, name: str = "tol"):
    """None, or a real scalar > 0 (an array when traced; checked when concrete)."""
    if tol is None:
        return None
    tol = as_real(tol, name)
    if tol.ndim != 0:
        raise ValueError(f"`{name}` must be a scalar; got shape {tol.shape}.")
    return value_check(tol, ~(tol > 0) | jnp.isnan(tol), f"`{name}` must be > 0 (not NaN).")


def value_check(x, bad, message: str):
    """Refuse a bad value of a setting: a ValueError when `bad` is concrete, else a run-time
    error inside `jit` (`eqx.error_if`; its result must be used)."""
    if is_concrete(bad):
        if bool(jnp.any(bad)):
            raise ValueError(message)
        return x
    return eqx.error_if(x, bad, message)


def scalar_arg(x, name: str, dtype):
    """A real scalar argument converted to `dtype` (structure only)."""
    x = as_real(x, name)
    if x.ndim != 0:
        raise ValueError(f"`{name}` must be a scalar (vmap over several values); got shape {x.shape}.")
    return x.astype(dtype)


def linear_arrays(prices, samples, epsilon, support):
    """Structure of (prices (M, T, k), samples (N, M, T, k), epsilon scalar), one float dtype."""
    check_support(support)
    prices, samples = as_real(prices, "prices"), as_real(samples, "samples")
    dt = float_dtype(prices, samples)
    prices, samples = prices.astype(dt), samples.astype(dt)
    if prices.ndim != 3:
        raise ValueError(
            f"`prices` must have shape (M, T, k) with prices[i, t] = alpha_t^i; got {prices.shape}."
        )
    M, T, k = prices.shape
    if M == 0 or T == 0:
        raise ValueError(f"`prices` needs at least one agent and one probe; got {prices.shape}.")
    if k not in (1, 2):
        raise ValueError(
            f"`prices` must have k = 1 or 2 goods (closed-form separation); got k = {k}."
        )
    if samples.ndim != 4:
        raise ValueError(
            f"`samples` must have shape (N, M, T, k) = (N, {M}, {T}, {k}) (sample k of agent i's "
            f"bundle at probe t); got {samples.shape}."
        )
    if samples.shape[0] == 0:
        raise ValueError("`samples` is empty (N = 0): pass at least one sample of each strategy.")
    if samples.shape[1:] != (M, T, k):
        raise ValueError(
            f"`samples` must have shape (N, M, T, k) = (N, {M}, {T}, {k}) to match `prices` "
            f"{prices.shape}; got {samples.shape}."
        )
    return prices, samples, scalar_arg(epsilon, "epsilon", dt)


def bad_radius(eps):
    return ~(eps >= 0) | ~jnp.isfinite(eps)


def bad_budget_data(prices, samples, support):
    """True unless prices are finite and > 0 and every sample lies in its budget set."""
    tol = jnp.sqrt(jnp.finfo(prices.dtype).eps)
    spend = jnp.sum(prices[None] * samples, axis=-1)  # <alpha_t^i, x_{t,k}^i>
    bad = ~jnp.all(jnp.isfinite(prices) & (prices > 0))
    bad = bad | ~jnp.all(jnp.isfinite(samples)) | jnp.any(samples < 0) | jnp.any(spend > 1 + tol)
    if support == "line":
        bad = bad | jnp.any(jnp.abs(spend - 1) > tol)
    return bad


def validity(bad_eps, bad_data):
    """The instance's input code: `invalid_epsilon`, `invalid_samples` or `successful`."""
    code = RESULTS.where(bad_data, RESULTS.invalid_samples, RESULTS.successful)
    return RESULTS.where(bad_eps, RESULTS.invalid_epsilon, code)


def linear_validity(prices, samples, eps, support):
    return validity(bad_radius(eps), bad_budget_data(prices, samples, support))


def raise_invalid(code, throw: bool):
    """With `throw` and a concrete input code that is not successful: a ValueError carrying the
    code's message (which names the argument)."""
    if throw and is_concrete(code._value) and not bool(jnp.all(code == RESULTS.successful)):
        raise ValueError(RESULTS[code])


def stand_in_linear(prices, samples, eps, code):
    """Replace the data of an invalid instance by a valid one (prices 1, samples on the budget
    line, eps 0), so that its computation stays cheap and finite; its outputs are masked."""
    bad = code != RESULTS.successful
    k = prices.shape[-1]
    prices = jnp.where(bad, jnp.ones_like(prices), prices)
    samples = jnp.where(bad, jnp.full_like(samples, 1.0 / k), samples)
    return prices, samples, jnp.where(bad, jnp.zeros_like(eps), eps)


def mask_invalid(sol, code, ints=()):
    """NaN in every floating output of an invalid instance, -1 in the integer outputs `ints`
    (orders), 0 in the other integer outputs (counts); the instance's code as `result`."""
    bad = code != RESULTS.successful

    def mask(name, x):
        if jnp.issubdtype(x.dtype, jnp.floating):
            return jnp.where(bad, jnp.asarray(jnp.nan, x.dtype), x)
        return jnp.where(bad, jnp.asarray(-1 if name in ints else 0, x.dtype), x)

    fields = {f: mask(f, getattr(sol, f)) for f in sol.__dataclass_fields__ if f != "result"}
    result = RESULTS.where(bad, code, sol.result)
    return type(sol)(**fields, result=result)
