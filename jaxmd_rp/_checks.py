"""Argument checks and the failure rule shared by the revealed-preference entry points: real
parameters refused with a message naming them, and batched outputs settled by their failure
codes (a `ValueError` for concrete data, `eqx.error_if` under a trace)."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np


def work_dtype():
    """The dtype of revealed-preference arithmetic: float64 when enabled, else float32."""
    return jax.dtypes.canonicalize_dtype(jnp.float64)


def real_param(x, name: str, dtype, *, low=None, strict=False):
    """A real parameter as an array of `dtype` (a numpy array when given as a Python or numpy
    number), refused when complex, NaN/inf or below `low` (`<= low` if `strict`): a `ValueError`
    now when concrete (checked on the host, without a dispatch per check), an `eqx.error_if`
    when traced."""
    want = "finite"
    if low is not None:
        want = f"finite and {'>' if strict else '>='} {low}"
    message = f"`{name}` must be {want}."
    if not isinstance(x, jax.core.Tracer):
        a = np.asarray(x)
        if a.dtype.kind in "biuf":
            with np.errstate(over="ignore", invalid="ignore"):
                v = a.astype(dtype)  # the value that will be used (an overflow to inf is refused)
                bad = _out_of_range(np, v, low, strict)
            if np.any(bad):
                raise ValueError(message)
            # a numpy value goes into the compiled calls as it is (no device transfer here)
            return x.astype(dtype) if isinstance(x, jax.Array) else v
    x = x if isinstance(x, jax.Array) else jnp.asarray(x)
    if jnp.issubdtype(x.dtype, jnp.complexfloating):
        raise TypeError(f"`{name}` must be real; got dtype {x.dtype}.")
    x = x.astype(dtype)
    return refuse(x, _out_of_range(jnp, x, low, strict), message)


def _out_of_range(xp, v, low, strict):
    """Where `v` is NaN/inf or below `low` (`<= low` if `strict`), with numpy or jax.numpy."""
    bad = ~xp.isfinite(v)
    if low is not None:
        bad = bad | ((v <= low) if strict else (v < low))
    return bad


def refuse(x, bad, message: str):
    """`x`, refused where `bad` holds: `ValueError(message)` now when `bad` is concrete, an
    `eqx.error_if` at run time when it is traced."""
    if isinstance(bad, jax.core.Tracer):
        return eqx.error_if(x, jnp.any(bad), message)
    if np.any(np.asarray(bad)):
        raise ValueError(message)
    return x


def settle(out, code, messages, throw: bool):
    """Outputs of a batched entry point whose element k failed where `code[k] > 0`
    (`messages[code - 1]` says why). `out` already holds NaN there; with `throw` the first failure
    is raised instead: a `ValueError` when `code` is concrete, an `eqx.error_if` when traced."""
    if not throw:
        return out
    if isinstance(code, jax.core.Tracer):
        worst = jnp.max(code)
        return eqx.branched_error_if(out, worst > 0, jnp.maximum(worst - 1, 0), messages)
    code = np.asarray(code)
    if code.size and code.max() > 0:
        raise ValueError(messages[int(code.max()) - 1])
    return out
