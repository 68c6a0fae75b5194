"""The one place that imports SciPy: lazy import, host arrays, and MILP/LP calls with safe settings.

SciPy is optional (`pip install jaxmd_rp[milp]`); only the host-side exact paths need it
(`method="milp"` of the consumer indices, the robust gap's MILP master). Every call here returns
the solver's answer *and* its status; it never raises on a solver failure. The caller verifies the
answer exactly (a MILP solver works in floating point with feasibility tolerances, and its presolve
has been seen to return a suboptimal "optimal" point) and reports `RESULTS.milp_failed` with
`raise_on_host` when the check fails.

**Settings.** `solve_milp` asks HiGHS to prove optimality (relative gap 0). No presolve setting
is safe on its own: on big-M programmes HiGHS has returned suboptimal "optimal" points both with
presolve (a reported Houtman-Maks count of 21 where 22 is attainable) and without it (16 where 17
is, `tests/data/hm_highs_presolve.csv`). The safe choices are formulations without big-M
coefficients where possible, and an exact check of every answer by the caller, with presolve
toggled as the fallback.
"""

import dataclasses
import importlib
import warnings

import jax
import numpy as np

MILP_OPTIONS = {"presolve": True, "mip_rel_gap": 0.0}
"""Default `scipy.optimize.milp` options (see the module docstring)."""


def require_scipy(feature: str):
    """`scipy.optimize` (imported on first use), or an `ImportError` naming `feature` and the extra."""
    try:
        return importlib.import_module("scipy.optimize")
    except ImportError as err:  # pragma: no cover - exercised only without SciPy
        raise ImportError(
            f"{feature} runs SciPy's HiGHS on the host: `pip install scipy` (>= 1.9) or "
            "`pip install jaxmd_rp[milp]`."
        ) from err


def host_array(x, name: str, feature: str) -> np.ndarray:
    """`x` as a float64 NumPy array; a `ValueError` if it is traced (jit/vmap/grad) or complex."""
    try:
        a = np.asarray(x)
    except jax.errors.TracerArrayConversionError as err:
        raise ValueError(
            f"{feature} runs SciPy on the host and cannot be traced (jit/vmap/grad); call it "
            "outside JAX transformations."
        ) from err
    if np.iscomplexobj(a):
        raise TypeError(f"`{name}` must be real; got dtype {a.dtype}.")
    if a.dtype == object or not (np.issubdtype(a.dtype, np.number) or a.dtype == bool):
        raise TypeError(f"`{name}` must be a numeric array; got dtype {a.dtype}.")
    return a.astype(np.float64)


@dataclasses.dataclass(frozen=True)
class HostSolve:
    """What the solver returned. `x` is None when it found no point; `success` is the solver's
    own claim (status 0: optimal), which the caller must still verify."""

    x: np.ndarray | None
    objective: float
    status: int
    message: str
    bound: float = float("nan")  # MILP: the solver's dual bound (<= objective); NaN if none

    @property
    def success(self) -> bool:
        return self.status == 0 and self.x is not None


def solve_milp(c, A, lo, hi, *, integrality, lb, ub, presolve: bool = True,
               mip_rel_gap: float = 0.0, time_limit: float | None = None,
               highs_options: dict | None = None) -> HostSolve:
    """min c.x subject to lo <= A x <= hi, lb <= x <= ub, x_j integer where integrality[j] = 1.

    **Arguments:**

    - `c`: (n,) costs; `A`: (m, n) dense array or SciPy sparse matrix; `lo`, `hi`: (m,) bounds
      (+-inf allowed); `integrality`, `lb`, `ub`: (n,).
    - `presolve`: HiGHS presolve (HiGHS's default, on; see the module docstring).
    - `mip_rel_gap`: relative optimality gap at which HiGHS may stop (0: prove optimality).
    - `time_limit`: seconds, or None for no limit.
    - `highs_options`: further HiGHS options (e.g. `primal_feasibility_tolerance`), passed to
      HiGHS verbatim (without SciPy's warning about options it does not know by name).

    **Returns:** a `HostSolve` (never raises on solver failure).
    """
    so = require_scipy("The MILP path")
    options = dict(MILP_OPTIONS, presolve=bool(presolve), mip_rel_gap=float(mip_rel_gap))
    if time_limit is not None:
        options["time_limit"] = float(time_limit)
    options.update(highs_options or {})
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Unrecognized options", RuntimeWarning)
        res = so.milp(np.asarray(c, float), constraints=[so.LinearConstraint(A, lo, hi)],
                      integrality=np.asarray(integrality), bounds=so.Bounds(lb, ub),
                      options=options)
    fun = float(res.fun) if res.fun is not None else float("nan")
    bound = getattr(res, "mip_dual_bound", None)
    return HostSolve(x=res.x, objective=fun, status=int(res.status), message=str(res.message),
                     bound=float("nan") if bound is None else float(bound))


def sparse_rows(entries, shape):
    """A SciPy CSR matrix from (row, column, value) triples."""
    require_scipy("The MILP path")
    sparse = importlib.import_module("scipy.sparse")
    r, c, v = (np.asarray(z) for z in zip(*entries, strict=True))
    return sparse.coo_matrix((v.astype(float), (r, c)), shape=shape).tocsr()


def solve_lp(c, A_ub=None, b_ub=None, A_eq=None, b_eq=None, bounds=(0, None),
             **highs_options) -> HostSolve:
    """min c.x subject to A_ub x <= b_ub, A_eq x = b_eq, bounds, by HiGHS (`scipy.optimize.linprog`).

    `highs_options` are passed to HiGHS (e.g. `primal_feasibility_tolerance`); options that SciPy
    does not know by name reach HiGHS verbatim, without SciPy's warning. Returns a `HostSolve`.
    """
    so = require_scipy("The LP path")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", so.OptimizeWarning)
        res = so.linprog(c, A_ub=A_ub, b_ub=b_ub, A_eq=A_eq, b_eq=b_eq, bounds=bounds,
                         method="highs", options=highs_options or None)
    fun = float(res.fun) if res.fun is not None else float("nan")
    return HostSolve(x=res.x, objective=fun, status=int(res.status), message=str(res.message))
