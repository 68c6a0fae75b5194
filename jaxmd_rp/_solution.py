"""Result conventions shared by every entry point of jaxmd_rp that can fail.

One convention, in the style of optimistix:

- every solve returns an `AbstractSolution`: its output fields, `.result` (a `RESULTS` code),
  `.stats` (a dict of diagnostics) and one spelling of success, `.success`
  (`result == RESULTS.successful`, elementwise for batched solutions);
- every such entry point takes `throw`: with `throw=True` (the default) a non-successful result
  raises its `RESULTS` message (`finish`); with `throw=False` it is reported in `.result` and the
  caller masks the failed elements (under `vmap`, `throw=False` is the way to go);
- `str(result)` is the code's readable name (`successful`, `not_concave`, ...), `repr` is
  `RESULTS.<name>`, and `RESULTS[result]` is the message that says what went wrong and what to try.

`RESULTS` extends optimistix's `RESULTS` (which extends lineax's), so the codes users know from
the JAX ecosystem compare and promote as usual.
"""

import abc
import os

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optimistix as optx
from equinox._enum import EnumerationItem


class RESULTS(optx.RESULTS):  # pyright: ignore[reportGeneralTypeIssues]
    """Outcome of an equilibrium solve, a certificate construction or a design run.

    `RESULTS.successful` means the documented tolerance was met. Every other code carries a message
    that says what went wrong and what to try; with `throw=True` that message is raised.
    `str(code)` is the code's name.
    """

    invalid_theta = (
        "`theta` contains NaN/inf or lies outside the game's mechanism box Theta "
        "(`game.theta_bounds`); pass a finite mechanism inside the box."
    )
    invalid_probe = (
        "`probe` contains NaN/inf or lies outside the game's probe box (`game.probe_bounds`); "
        "pass a finite probe inside the box."
    )
    primal_infeasible = (
        "The solver stopped with the constraints violated: the probe may make the feasible set "
        "empty (check `game.constraints` at this probe), or the problem is badly scaled."
    )
    unbounded = (
        "The iterates diverged: no equilibrium exists at this (theta, probe) -- a player's utility "
        "is unbounded on its feasible set (e.g. linear utility and an unconstrained action)."
    )
    not_concave = (
        "A KKT point was found, but some player's utility is not concave in its own action there "
        "(second-order condition fails on the free directions), so it need not be a Nash "
        "equilibrium. The game violates the concavity assumption where it matters."
    )
    stalled = (
        "The line search found no decrease of the KKT merit function: the solve stalled (a "
        "non-smooth or non-concave problem, or a poor start -- try another `x0`)."
    )
    enumeration_failed = (
        "No active set of the (assumed affine) KKT system gave a KKT point within `tol`: the game "
        "is not affine, or has no equilibrium at this (theta, probe). Use SemismoothNewton() or "
        "ActiveSetEnumeration(polish=SemismoothNewton())."
    )
    certificate_failed = (
        "No certificate could be verified at the requested level r: r is below the Pareto gap, or "
        "the numbers needed exceed floating-point range (try a larger `tol`)."
    )
    exchange_max_iterations = (
        "Algorithm 2 (the exchange method) stopped after `max_iterations` separation rounds with "
        "max_k CV_k > delta; increase `max_iterations` or `delta` (the bounds returned are valid)."
    )
    robust_gap_inexact = (
        "The kappa search of the robust Pareto gap did not narrow its bracket [lower, upper] to "
        "`tol`; the bounds are valid but loose: increase `rounds` (or `grid`, `keep`)."
    )
    robust_gap_bracket = (
        "Distinct samples: the certified bracket [lower, upper] of the robust Pareto gap is wider "
        "than `tol`. `value` = `upper` is attained by a certificate but can exceed the exact robust "
        "gap; pass `exact=True` (SciPy MILP) for the exact value."
    )
    milp_failed = (
        "The MILP solver (SciPy/HiGHS) returned no verified solution: its answer failed the exact "
        "check or it stopped early; the reported numbers are not certified. Try the exact "
        "enumeration method where it exists, or report the data set."
    )
    invalid_data = (
        "This element's input is invalid (NaN/inf values; for consumer data also negative prices "
        "or bundles, or a non-positive expenditure), so it was not computed; its outputs are NaN. "
        "Clean or drop the element."
    )
    invalid_epsilon = (
        "`epsilon` (the Wasserstein radius) is NaN, infinite or negative: pass a finite radius "
        ">= 0 (with throw=False this element's outputs are NaN)."
    )
    invalid_samples = (
        "Invalid data for the robust Pareto gap: `prices` must be finite and > 0 and every sample "
        "must lie in its budget set (finite, >= 0, <prices, sample> <= 1, and = 1 for "
        "support='line'); through the game API the strategies must be finite, >= `game.lower` "
        "and satisfy g_t^i(x_t) <= 0 (with throw=False this element's outputs are NaN)."
    )
    observation_failed = (
        "An equilibrium at some probe could not be observed (the solve failed or the closed form "
        "is not finite), so the objective at this theta is NaN. Call `solve_equilibrium(game, "
        "theta, probe, throw=False)` at that probe to see its result code."
    )
    relaxation_stalled = (
        "NikaidoIsoda: the relaxation step was halved below `min_step` without decreasing the "
        "Nikaido-Isoda gap V(x); the game may violate the relaxation algorithm's "
        "convergence conditions. Use SemismoothNewton(), or a smaller `min_step`."
    )
    welfare_ratio_undefined = (
        "The welfare ratio W(x_eq) / W(x_opt) is defined only for a positive, finite optimal "
        "welfare W(x_opt); here it is not, so `ratio` is NaN. Compare `welfare_eq` and "
        "`welfare_opt` directly."
    )


_NAMES = {int(item._value): name for name, item in RESULTS._name_to_item.items()}
_SUCCESSFUL = int(RESULTS.successful._value)
_ON_ERROR = os.environ.get("EQX_ON_ERROR", "raise")  # read once, at import, as Equinox reads it


class ResultCode(EnumerationItem):
    """A `RESULTS` code whose `str()` is its readable name (elementwise for batched codes)."""

    def names(self):
        """The code's name (a str), or a numpy array of names for a batched code."""
        v = self._value
        if isinstance(v, jax.core.Tracer):
            return "traced"
        names = np.vectorize(lambda i: _NAMES[int(i)], otypes=[object])(np.asarray(v))
        return str(names) if names.ndim == 0 else names

    def __str__(self):
        names = self.names()
        return names if isinstance(names, str) else str(names.tolist())

    def __repr__(self):
        names = self.names()
        if isinstance(names, str):
            return f"RESULTS.{names}"
        return f"RESULTS{names.tolist()}"


def _as_code(item) -> ResultCode:
    return item if isinstance(item, ResultCode) else ResultCode(item._value, RESULTS)


# Every item of RESULTS, and every item RESULTS.where / RESULTS.promote return, is a ResultCode.
for _name, _item in list(RESULTS._name_to_item.items()):
    RESULTS._name_to_item[_name] = _as_code(_item)
_base_where = RESULTS.where.__func__
_base_promote = RESULTS.promote.__func__
type.__setattr__(RESULTS, "where", classmethod(lambda cls, p, a, b: _as_code(_base_where(cls, p, a, b))))
type.__setattr__(RESULTS, "promote", classmethod(lambda cls, item: _as_code(_base_promote(cls, item))))


def result_from_name(name: str) -> ResultCode:
    """The `RESULTS` code called `name` (e.g. read back from a CSV or JSON file)."""
    try:
        return RESULTS._name_to_item[name]
    except KeyError:
        raise ValueError(f"unknown result code {name!r}; known: {sorted(_NAMES.values())}.") from None


class AbstractSolution(eqx.Module):
    """Base of every result object: output fields, `result`, `stats` and `success`.

    Subclasses declare `result` and their output fields, and implement `stats`.
    """

    result: eqx.AbstractVar[EnumerationItem]

    @property
    def success(self) -> jax.Array:
        """`result == RESULTS.successful` (elementwise for batched solutions)."""
        return self.result == RESULTS.successful

    @property
    @abc.abstractmethod
    def stats(self) -> dict:
        """Diagnostics of the solve (steps, residuals, ...), as a dict of arrays."""


def finish(sol, throw: bool, fail=None):
    """The one `throw` rule: raise the result's message when `throw` and the solve failed.

    `fail` overrides the failure predicate (default: `result != RESULTS.successful`). A traced
    solution (inside `jit`, `vmap`, `grad`) gets `eqx.error_if`, which raises at run time. A
    concrete one (an eager call) is checked on the host: the first failing element's message is
    raised as `equinox.EquinoxRuntimeError`, unless `EQX_ON_ERROR` asks Equinox for something
    else (`nan`, `off`, `breakpoint`), which `eqx.error_if` then does.
    """
    if not throw:
        return sol
    result = sol.result
    traced = isinstance(result._value, jax.core.Tracer) or isinstance(fail, jax.core.Tracer)
    if not traced and _ON_ERROR == "raise":
        _raise_first_failure(result, fail)
        return sol
    pred = (result != RESULTS.successful) if fail is None else fail
    if not traced and not bool(jnp.any(pred)):
        return sol
    return result.error_if(sol, pred)


def _raise_first_failure(result, fail=None, detail: str = ""):
    """Raise, as `equinox.EquinoxRuntimeError`, the message of the first failing element (in
    row-major order) of a concrete `result`; failing: `fail` if given, else not successful."""
    codes = np.asarray(jax.device_get(result._value))  # waits for the device; explicit transfer
    failing = codes != _SUCCESSFUL if fail is None else np.asarray(jax.device_get(fail))
    failing = np.broadcast_to(failing, codes.shape)
    if not failing.any():
        return
    message = RESULTS[RESULTS._name_to_item[_NAMES[int(codes[failing].ravel()[0])]]]
    raise eqx.EquinoxRuntimeError(f"{message}{(' ' + detail) if detail else ''}")


def raise_on_host(result, throw: bool, detail: str = ""):
    """Host (non-jitted) code paths, e.g. SciPy's MILP: the same rule and the same exception type
    (`equinox.EquinoxRuntimeError`) as a failed eager solve with `throw=True`."""
    if throw:
        _raise_first_failure(result, None, detail)
