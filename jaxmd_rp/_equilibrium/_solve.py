"""The one driver of every KKT solve: validation, the solver, implicit derivatives, the checks at
the solution and the failed-element policy; `solve_equilibrium` is its public face.

Gradients with respect to `theta`, `probe` (and the game's array fields) come from the implicit
function theorem applied to the Fischer-Burmeister system at the solution (`jax.lax.custom_root`),
never from unrolling the iterations. Where strict complementarity holds this is the classical
derivative; at degenerate points (a constraint active with a zero multiplier) it is one element of
the generalized (Clarke) Jacobian.

Failed elements (`throw=False`): the result code says what failed; `x` and the multipliers are NaN
and so are their derivatives (x = x_found * NaN), so `optax.apply_if_finite` and masking by
`sol.success` work, and the healthy elements of a vmapped batch are untouched.
"""

import functools

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._game import AbstractGame
from .._game_checks import box, check_structure
from .._linalg import lu_solve_small
from .._solution import RESULTS, finish
from ._concavity import concave_at
from ._enumeration import ActiveSetEnumeration
from ._kkt import assemble
from ._newton import AbstractEquilibriumSolver, SemismoothNewton
from ._result import EquilibriumSolution, default_tol

_STOPPED_EARLY = ("nonlinear_max_steps_reached", "stalled", "enumeration_failed",
                  "relaxation_stalled")


def _vector(name, a, size):
    """`a` as a real 1-D array of shape (size,) (None allowed when size == 0)."""
    if a is None:
        if size:
            raise ValueError(f"`{name}` is required: the game has {name}_dim = {size} (pass an "
                             f"array of shape ({size},)).")
        return None
    if not isinstance(a, jax.Array):  # numpy arrays, lists, ...: check the dtype before JAX does
        try:
            a = np.asarray(a)
        except (TypeError, ValueError) as e:
            raise TypeError(f"`{name}` must be an array of shape ({size},); got "
                            f"{type(a).__name__}.") from e
        if a.dtype.kind not in "biufc":
            raise TypeError(f"`{name}` must hold real numbers; got dtype {a.dtype}.")
        a = jnp.asarray(a)
    if jnp.issubdtype(a.dtype, jnp.complexfloating):
        raise TypeError(f"`{name}` must be real; got dtype {a.dtype}.")
    if not (jnp.issubdtype(a.dtype, jnp.floating) or jnp.issubdtype(a.dtype, jnp.integer)
            or a.dtype == bool):
        raise TypeError(f"`{name}` must hold real numbers; got dtype {a.dtype}.")
    if a.shape != (size,):
        raise ValueError(f"`{name}` must be a 1-D array of shape ({size},); got shape {a.shape}.")
    return a


def _inputs(game, theta, probe):
    """(theta, probe, dtype): validated, in one floating dtype (that of the floating inputs)."""
    theta = _vector("theta", theta, game.theta_dim)
    probe = _vector("probe", probe, game.probe_dim)
    floats = [a.dtype for a in (theta, probe) if a is not None and jnp.issubdtype(a.dtype, jnp.floating)]
    dtype = jnp.dtype(jnp.result_type(float))
    if floats:
        dtype = floats[0] if len(floats) == 1 else jnp.promote_types(*floats)
    theta = jnp.zeros(0, dtype) if theta is None else theta.astype(dtype)
    probe = jnp.zeros(0, dtype) if probe is None else probe.astype(dtype)
    return theta, probe, dtype


def _check_settings(tol, max_steps, dtype):
    if tol is None:
        tol = default_tol(dtype)
    elif not isinstance(tol, jax.core.Tracer):
        t = np.asarray(tol)
        if t.ndim != 0 or not np.isrealobj(t) or not np.isfinite(t) or not t > 0:
            raise ValueError(f"`tol` must be a finite number > 0; got {tol!r}.")
    if isinstance(max_steps, bool) or not isinstance(max_steps, (int, np.integer)) or max_steps < 0:
        raise ValueError(f"`max_steps` must be an integer >= 0; got {max_steps!r}.")
    return tol


def _prepare(game, dtype, stop: bool):
    """The game's floating array fields in `dtype` (strict dtype promotion inside user methods),
    optionally without gradient (for the solver's loops)."""

    def leaf(a):
        if eqx.is_array(a) and jnp.issubdtype(a.dtype, jnp.floating):
            a = jnp.asarray(a).astype(dtype)
            return jax.lax.stop_gradient(a) if stop else a
        return a

    return jax.tree.map(leaf, game)


def _in_box(v, lo, hi):
    """(ok, v clipped into the box with NaN/inf replaced) for theta or probe."""
    ok = jnp.all(jnp.isfinite(v) & (v >= lo) & (v <= hi))
    return ok, jnp.where(ok, v, jnp.clip(jnp.nan_to_num(v), lo, hi))


def _start(kkt, x0, shape, dtype):
    """z0 = (x0, 0): by default lower + 1, upper - 1, the midpoint of a two-sided box, 0 for a
    free variable."""
    n = kkt.n
    lo, hi = kkt.lower[:n], kkt.upper[:n]
    if x0 is None:
        lo_f, hi_f = jnp.isfinite(lo), jnp.isfinite(hi)
        mid = 0.5 * (jnp.where(lo_f, lo, 0.0) + jnp.where(hi_f, hi, 0.0))
        x0 = jnp.where(lo_f, jnp.where(hi_f, mid, lo + 1.0), jnp.where(hi_f, hi - 1.0, 0.0))
    else:
        x0 = jnp.asarray(x0)
        if x0.shape != shape:
            raise ValueError(f"`x0` must have shape {shape} (the game's action_shape); got {x0.shape}.")
        x0 = jnp.clip(jnp.reshape(x0.astype(dtype), (n,)), lo, hi)
    return jnp.concatenate([x0.astype(dtype), jnp.zeros(kkt.C + kkt.E, dtype)])


def _tangent_solve(g, v):
    return lu_solve_small(jax.jacfwd(g)(v), v)[0]


def _flags(result, kkt, z, tol, check_concavity):
    """The checks at the point found: infeasibility where the solver stopped early, then the
    second-order condition where it succeeded."""
    x = z[: kkt.n]
    infeasible = kkt.feasibility(x) > jnp.sqrt(tol) * (1.0 + jnp.max(jnp.abs(x), initial=0.0))
    early = jnp.zeros((), bool)
    for name in _STOPPED_EARLY:
        early = early | (result == getattr(RESULTS, name))
    result = RESULTS.where(early & infeasible, RESULTS.primal_infeasible, result)
    if check_concavity:
        conc = concave_at(kkt, z, tol)
        result = RESULTS.where((result == RESULTS.successful) & ~conc, RESULTS.not_concave, result)
    return result


def solve_kkt(game, theta, probe, solver, *, planner, x0, max_steps, tol, check_concavity, throw):
    """Validate, assemble, solve, differentiate implicitly, check and report (module docstring)."""
    if not isinstance(game, AbstractGame):
        raise TypeError(f"`game` must be an AbstractGame; got {type(game).__name__}.")
    check_structure(game)
    if solver is None:
        solver = ActiveSetEnumeration() if getattr(game, "kkt_affine", False) else SemismoothNewton()
    if not isinstance(solver, AbstractEquilibriumSolver):
        raise TypeError(f"`solver` must be an AbstractEquilibriumSolver (SemismoothNewton(), "
                        f"ActiveSetEnumeration(), NikaidoIsoda()); got {type(solver).__name__}.")
    theta, probe, dtype = _inputs(game, theta, probe)
    tol = _check_settings(tol, max_steps, dtype)
    game = _prepare(game, dtype, stop=False)
    theta_ok, theta_c = _in_box(theta, *box(game, "theta_bounds", game.theta_dim, dtype))
    probe_ok, probe_c = _in_box(probe, *box(game, "probe_bounds", game.probe_dim, dtype))
    frozen = _prepare(game, dtype, stop=True)
    th_s, pr_s = jax.lax.stop_gradient(theta_c), jax.lax.stop_gradient(probe_c)
    kkt_s = assemble(frozen, th_s, pr_s, dtype, planner=planner)
    z0 = _start(kkt_s, x0, game.action_shape, dtype)
    z, result, res, steps = solver.solve(frozen, th_s, pr_s, kkt_s, z0, tol, max_steps)
    z = jax.lax.stop_gradient(z)
    result = _flags(result, kkt_s, z, tol, check_concavity)
    result = RESULTS.where(probe_ok, result, RESULTS.invalid_probe)
    result = RESULTS.where(theta_ok, result, RESULTS.invalid_theta)
    kkt = assemble(game, theta_c, probe_c, dtype, planner=planner)
    z = jax.lax.custom_root(lambda zz: kkt.fb(zz), z, lambda f, z_init: z_init, _tangent_solve)
    z = z * jnp.where(result == RESULTS.successful, 1.0, jnp.nan).astype(dtype)
    x, lam, nu = kkt.split(z)
    sol = EquilibriumSolution(x=jnp.reshape(x, game.action_shape), multipliers=lam,
                              equality_multipliers=nu if kkt.E else None, result=result,
                              residual=res, num_steps=steps, concept=kkt.concept)
    return finish(sol, throw)


def precheck(game, theta, probe):
    """The argument checks that must run before `jit` sees the arguments (types, shapes)."""
    if not isinstance(game, AbstractGame):
        raise TypeError(f"`game` must be an AbstractGame; got {type(game).__name__}.")
    check_structure(game)
    _vector("theta", theta, game.theta_dim)
    _vector("probe", probe, game.probe_dim)


def solve_equilibrium(
    game: AbstractGame,
    theta=None,
    probe=None,
    solver: AbstractEquilibriumSolver | None = None,
    *,
    x0=None,
    max_steps: int = 100,
    tol: float | None = None,
    check_concavity: bool = True,
    throw: bool = True,
) -> EquilibriumSolution:
    """The equilibrium of `game` at mechanism `theta` and probe `probe`.

    The concept follows the game's declarations (`sol.concept`): a Nash equilibrium without
    coupled constraints, the variational (normalized, equal weights) equilibrium when every
    constraint is shared, a normalized equilibrium with the game's `rosen_weights`, and a
    generalized Nash equilibrium with player-owned multipliers when constraints are owned
    (`constraint_owners`). Pure and `jit`/`vmap`/`grad`-able over `theta` and `probe`: batch with
    `jax.vmap(lambda th, p: solve_equilibrium(game, th, p, throw=False))` and read `.result`.

    **Arguments:**

    - `game`: an `AbstractGame`.
    - `theta`: mechanism, shape (game.theta_dim,), inside `game.theta_bounds` (None if
      `theta_dim == 0`).
    - `probe`: probe, shape (game.probe_dim,), inside `game.probe_bounds` (None if
      `probe_dim == 0`).
    - `solver`: `SemismoothNewton()`, `ActiveSetEnumeration()` or `NikaidoIsoda()`. Default:
      `ActiveSetEnumeration()` for games that declare `kkt_affine = True` (exact), else
      `SemismoothNewton()`.
    - `x0`: optional starting joint action, shape `game.action_shape` (default: lower + 1).
    - `max_steps`: iteration cap.
    - `tol`: KKT residual tolerance (default `default_tol(dtype)`: eps^(2/3), about 3.7e-11 in
      float64 and 2.4e-5 in float32); a finite number > 0.
    - `check_concavity`: verify the second-order condition at the solution and report
      `RESULTS.not_concave` where a player's utility is convex along a free direction.
    - `throw`: raise on any non-successful result (use `False` under `vmap` and read `.result`;
      failed elements then have NaN `x` and multipliers, and NaN gradients).

    **Returns:** an `EquilibriumSolution` (`x`, `multipliers`, `equality_multipliers`, `result`,
    `residual`, `num_steps`, `concept`, `stats`, `success`).

    ```python
    >>> import jax.numpy as jnp, jaxmd_rp as rp
    >>> game = rp.games.RiverPollution()
    >>> sol = rp.solve_equilibrium(game, jnp.asarray(rp.games.DEFAULT_THETA),
    ...                            jnp.asarray(rp.games.DEFAULT_PROBE))
    >>> [round(float(v), 2) for v in sol.x], str(sol.result), sol.concept
    ([21.14, 16.03, 2.73], 'successful', 'variational')

    ```
    """
    return dispatch(game, theta, probe, solver, planner=False, x0=x0, max_steps=max_steps,
                    tol=tol, check_concavity=check_concavity, throw=throw)


_DYNAMIC = "<array>"  # marks an array leaf in `dispatch`'s static key


@functools.partial(jax.jit, static_argnums=0)
def _solve_leaves(key, arrays):
    treedef, leaves, settings = key
    it = iter(arrays)
    args = jax.tree.unflatten(treedef, [next(it) if a is _DYNAMIC else a for a in leaves])
    game, theta, probe, solver, x0, tol = args
    return solve_kkt(game, theta, probe, solver, x0=x0, tol=tol, throw=False, **dict(settings))


def dispatch(game, theta, probe, solver, *, x0, tol, throw, **settings):
    """Check the arguments (`precheck`), then run `solve_kkt` compiled once per game structure,
    shape and setting -- `eqx.filter_jit`'s semantics (array leaves traced, every other leaf
    static) at `jax.jit`'s dispatch cost; most of one eager call's time went to `eqx.filter_jit`'s
    Python work (30-40 us of ~115 for the river game). `finish` applies `throw`: on the host for an
    eager call (with `throw=False` nothing waits for the device), by `eqx.error_if` where the
    solve is traced into a caller's program (`grad`, `vmap`, a user's `jit`)."""
    precheck(game, theta, probe)
    leaves, treedef = jax.tree.flatten((game, theta, probe, solver, x0, tol))
    arrays = [a for a in leaves if eqx.is_array(a)]
    key = (treedef, tuple(_DYNAMIC if eqx.is_array(a) else a for a in leaves),
           tuple(sorted(settings.items())))
    # a leaf neither an array nor hashable: jax.jit's ValueError, as under eqx.filter_jit
    return finish(_solve_leaves(key, arrays), throw)
