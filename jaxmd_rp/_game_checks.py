"""The one validation layer for user games: structure, method outputs, bounds, ownership.

Every check runs at trace time (shapes and declarations are static) and raises an error that names
the game's method and the expected shape or value, never a raw JAX error from deep inside a solver:

- `check_structure`: the class variables (`num_agents`, `action_dim`, `action_dims`, `theta_dim`,
  `probe_dim`);
- `checked_call`: calls a game method and checks that it returned a real floating array of the
  expected shape (a method that returns `None`, a non-array or the wrong shape is refused with a
  message naming it); an exception raised inside the method gets a note naming the method and the
  shapes of its arguments;
- `action_bounds`, `box`, `owners`, `weights`: the declared bounds, mechanism/probe boxes,
  constraint owners and Rosen weights, with their values checked wherever they are concrete.
"""

import jax
import jax.numpy as jnp
import numpy as np


def _name(game) -> str:
    return type(game).__name__


def _is_int(v) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


def check_structure(game) -> None:
    """The class variables of a game: positive counts, consistent player dimensions."""
    cls = _name(game)
    M = getattr(game, "num_agents", None)
    if not _is_int(M) or M < 1:
        raise ValueError(f"`{cls}.num_agents` must be an integer >= 1; got {M!r}.")
    k = game.action_dim
    if k is not None and (not _is_int(k) or k < 1):
        raise ValueError(f"`{cls}.action_dim` must be None (scalar actions) or an integer >= 1; "
                         f"got {k!r}.")
    dims = game.action_dims
    if dims is not None:
        if (not isinstance(dims, (tuple, list)) or len(dims) != M
                or not all(_is_int(d) and d >= 1 for d in dims)):
            raise ValueError(f"`{cls}.action_dims` must be a tuple of num_agents = {M} integers "
                             f">= 1 (one action dimension per player); got {dims!r}.")
    for attr in ("theta_dim", "probe_dim"):
        v = getattr(game, attr)
        if not _is_int(v) or v < 0:
            raise ValueError(f"`{cls}.{attr}` must be an integer >= 0; got {v!r}.")


def _describe(args) -> str:
    parts = []
    for a in args:
        s = getattr(a, "shape", None)
        parts.append("None" if a is None else f"shape {tuple(s)}" if s is not None else type(a).__name__)
    return ", ".join(parts)


def checked_call(game, method: str, args: tuple, *, shape=None, ndim=None, what: str):
    """`getattr(game, method)(*args)` as a real floating array, checked against `shape` or
    `ndim`; errors name `method` and say `what` was expected."""
    cls = _name(game)
    fn = getattr(game, method)
    try:
        out = fn(*args)
    except Exception as e:
        e.add_note(f"(raised inside `{cls}.{method}`, called with arguments of {_describe(args)})")
        raise
    if out is None:
        raise TypeError(f"`{cls}.{method}` returned None; it must return {what}.")
    try:
        out = jnp.asarray(out)
    except (TypeError, ValueError) as e:
        raise TypeError(f"`{cls}.{method}` returned a {type(out).__name__}, not an array; it must "
                        f"return {what}.") from e
    if not jnp.issubdtype(out.dtype, jnp.floating):
        raise TypeError(f"`{cls}.{method}` returned an array of dtype {out.dtype}; it must return "
                        f"{what} (a real floating dtype).")
    if shape is not None and out.shape != tuple(shape):
        raise ValueError(f"`{cls}.{method}` must return {what}, shape {tuple(shape)}; "
                         f"got shape {out.shape}.")
    if ndim is not None and out.ndim != ndim:
        raise ValueError(f"`{cls}.{method}` must return {what}; got shape {out.shape}.")
    return out


def _concrete(a):
    """`a` as a numpy array when its value is known at trace time, else None."""
    try:
        return np.asarray(a)
    except (jax.errors.TracerArrayConversionError, jax.errors.ConcretizationTypeError):
        return None


def _property(game, attr):
    with jax.ensure_compile_time_eval():  # constant bounds stay concrete under jit
        try:
            return getattr(game, attr)
        except Exception as e:
            e.add_note(f"(raised inside the property `{_name(game)}.{attr}`)")
            raise


def _as_bound(game, attr, value, shape, dtype):
    cls = _name(game)
    if value is None:
        raise TypeError(f"`{cls}.{attr}` is None; it must be a number or an array of shape {shape}.")
    a = jnp.asarray(value)
    if not (jnp.issubdtype(a.dtype, jnp.floating) or jnp.issubdtype(a.dtype, jnp.integer)):
        raise TypeError(f"`{cls}.{attr}` must be real numbers; got dtype {a.dtype}.")
    try:
        a = jnp.broadcast_to(a.astype(dtype), shape)
    except ValueError:
        raise ValueError(f"`{cls}.{attr}` must be a number or an array of shape {shape}; got shape "
                         f"{a.shape}.") from None
    return a


def action_bounds(game, dtype):
    """(lower, upper) of the flattened joint action, checked: no NaN, lower <= upper, lower < inf,
    upper > -inf wherever the values are concrete."""
    shape = game.action_shape
    with jax.ensure_compile_time_eval():
        lo = _as_bound(game, "lower", _property(game, "lower"), shape, dtype).reshape(-1)
        hi = _as_bound(game, "upper", _property(game, "upper"), shape, dtype).reshape(-1)
    cls = _name(game)
    nlo, nhi = _concrete(lo), _concrete(hi)
    if nlo is not None and (np.any(np.isnan(nlo)) or np.any(nlo == np.inf)):
        raise ValueError(f"`{cls}.lower` must be finite or -inf (no NaN, no +inf); got {nlo}.")
    if nhi is not None and (np.any(np.isnan(nhi)) or np.any(nhi == -np.inf)):
        raise ValueError(f"`{cls}.upper` must be finite or +inf (no NaN, no -inf); got {nhi}.")
    if nlo is not None and nhi is not None and np.any(nlo > nhi):
        raise ValueError(f"`{cls}.lower` must be <= `{cls}.upper` everywhere; got lower = {nlo}, "
                         f"upper = {nhi}.")
    return lo, hi


def box(game, attr, size, dtype):
    """`game.theta_bounds` or `game.probe_bounds` as two arrays of shape (size,), checked."""
    cls = _name(game)
    with jax.ensure_compile_time_eval():
        b = _property(game, attr)
        if not isinstance(b, (tuple, list)) or len(b) != 2:
            raise TypeError(f"`{cls}.{attr}` must be a pair (lower, upper); got {type(b).__name__}.")
        lo = _as_bound(game, f"{attr}[0]", b[0], (size,), dtype)
        hi = _as_bound(game, f"{attr}[1]", b[1], (size,), dtype)
    nlo, nhi = _concrete(lo), _concrete(hi)
    if nlo is not None and nhi is not None and (
            np.any(np.isnan(nlo)) or np.any(np.isnan(nhi)) or np.any(nlo > nhi)):
        raise ValueError(f"`{cls}.{attr}` must satisfy lower <= upper without NaN; got "
                         f"lower = {nlo}, upper = {nhi}.")
    return lo, hi


def owners(game, attr, count) -> np.ndarray:
    """The owners of `count` constraints as an int array (-1 = shared), from `game.<attr>`."""
    cls = _name(game)
    own = _property(game, attr)
    if own is None:
        return np.full(count, -1, dtype=int)
    M = game.num_agents
    if (not isinstance(own, (tuple, list)) or len(own) != count
            or not all(o is None or (_is_int(o) and 0 <= o < M) for o in own)):
        raise ValueError(f"`{cls}.{attr}` must be None or a tuple of {count} entries (one per "
                         f"constraint), each None (shared) or a player index in [0, {M}); "
                         f"got {own!r}.")
    return np.array([-1 if o is None else int(o) for o in own], dtype=int)


def weights(game, dtype):
    """Rosen's weights as an (M,) array (None = equal weights), checked: finite and > 0."""
    cls = _name(game)
    w = _property(game, "rosen_weights")
    if w is None:
        return None
    M = game.num_agents
    w = jnp.asarray(w)
    if w.shape != (M,) or not jnp.issubdtype(w.dtype, jnp.floating):
        raise ValueError(f"`{cls}.rosen_weights` must be None or a float array of shape ({M},); "
                         f"got {w.dtype} of shape {w.shape}.")
    nw = _concrete(w)
    if nw is not None and not np.all(np.isfinite(nw) & (nw > 0)):
        raise ValueError(f"`{cls}.rosen_weights` must be finite and > 0; got {nw}.")
    return w.astype(dtype)
