"""Parameter checks shared by the games' constructors (values known at construction only)."""

import jax
import numpy as np


def check_number(cls: str, name: str, value, *, lower=None, upper=None, strict=False) -> None:
    """`value` must be a finite real number in [lower, upper] ((lower, upper] with `strict`).
    Traced values (a game rebuilt inside a transformation) are not checked."""
    if isinstance(value, jax.core.Tracer):
        return
    v = np.asarray(value)
    ok = v.ndim == 0 and np.isrealobj(v) and v.dtype != bool and bool(np.isfinite(v))
    if ok and lower is not None:
        ok = v > lower if strict else v >= lower
    if ok and upper is not None:
        ok = bool(v <= upper)
    if not ok:
        lo = "" if lower is None else f"{'>' if strict else '>='} {lower}"
        hi = "" if upper is None else f"<= {upper}"
        rng = " and ".join(s for s in (lo, hi) if s)
        raise ValueError(f"{cls}: `{name}` must be a finite number{' ' + rng if rng else ''}; "
                         f"got {value!r}.")


def check_shape(cls: str, name: str, value, shape) -> None:
    """`value` must be a finite real array of `shape` (traced values are not checked)."""
    if isinstance(value, jax.core.Tracer):
        return
    v = np.asarray(value)
    if v.shape != tuple(shape) or not np.isrealobj(v) or not np.all(np.isfinite(v)):
        raise ValueError(f"{cls}: `{name}` must be a finite real array of shape {tuple(shape)}; "
                         f"got {value!r}.")
