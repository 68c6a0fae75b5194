r"""Algorithm 1 of the paper: SPSA with annealing noise, batched over Monte-Carlo paths.

One iteration (paper eq. 14 and Algorithm 1, lines 9-24):

    Delta_n ~ Rademacher^p,  w_n ~ N(0, I),
    a_n = a / n,  c_n = c / n^eta,  q_n = sqrt(q / (n * max(log log n, loglog_floor))),
    g_n = (L(theta_n + c_n Delta_n) - L(theta_n - c_n Delta_n)) / (2 c_n Delta_n),
    theta_{n+1} = Proj_Theta(theta_n - a_n g_n + q_n w_n).

**Perturbations outside Theta.** With the paper's gains (c_1 = 0.5, theta_1 in [0, 0.5]^7,
Theta = [0, 1]^7) most perturbed mechanisms leave Theta, where a game need not be defined (the river
game with d2 < 0 has no equilibrium in general). By default (`perturbation="project"`) both
perturbed points are projected onto Theta and the difference quotient uses the projected spread;
`perturbation="raw"` is the literal formula.

**The q_n guard.** The paper's q_n = sqrt(q / (n log log n)) is undefined or huge for n <= 3
(log log 1 = -inf, log log 2 < 0, log log 3 = 0.094 gives q_3 = sqrt(3.5 q)). jaxmd_rp floors
log log n at `loglog_floor` (default 1, i.e. q_n = sqrt(q / n) until n = e^e ~ 15.2, where the two
formulas meet, and the paper's schedule afterwards). Set `loglog_floor` to change it.

**Stopping.** The paper iterates "until L(theta) = 0". With `stop_tol` set (default 1e-9) a path
whose current value L(theta_n) <= stop_tol is frozen: theta no longer changes (the annealing noise
would otherwise kick it out again). `stop_tol=None` never stops. A frozen path stays frozen even if
a later, re-measured value is positive (fresh probes or noisy samples make L_hat(theta) random).

**Randomness.** `step(key, state, fn, args)` is pure and key-first (blackjax style). The driver
`spsa_minimise` derives path k's key as `fold_in(key, path_ids[k])` and iteration n's key as
`fold_in(path_key, n)`, so a path's trajectory does not depend on the batch it runs in. The
objective sees the same key at theta_n and theta_n +- c_n Delta_n (common random numbers).

**Ask and tell.** `step(key, state, fn, args)` is `ask(key, state)` (the mechanisms to evaluate,
an `SPSAQuery`), the objective at those mechanisms, then `tell(state, query, values)`
(`AbstractBlackBoxMethod`); an outside system can do the middle part (`jaxmd_rp.AskTell`).

**Failures.** The objective returns NaN where it could not be evaluated (e.g. an equilibrium solve
failed); the step is then skipped (theta unchanged) and `info.failed` is set.
"""

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array

from .._observe import as_leaf
from ._base import AbstractDesignInfo, AbstractDesignState, check_box, check_gain
from ._blackbox import AbstractBlackBoxMethod, AbstractQuery

# The gains of the paper's river experiment (a = c = 0.5, eta = 1/4, q = 0.001), the guard on
# log log n and the zero tolerance: SPSA's defaults, and the one source for every configuration
# that starts from them (Figure 6, studies, the ask-tell command line).
DEFAULT_GAINS = {"a": 0.5, "c": 0.5, "eta": 0.25, "q": 1e-3, "loglog_floor": 1.0}
DEFAULT_STOP_TOL = 1e-9


class SPSAState(AbstractDesignState):
    """State of one SPSA path: `theta`, the next iteration index `n` (starts at 1), `stopped`."""

    theta: Array
    n: Array
    stopped: Array


class SPSAInfo(AbstractDesignInfo):
    """Diagnostics of one step (kept apart from the state).

    `value` = L(theta_n) (NaN if `track_value=False`), `value_plus`/`value_minus` = the two
    perturbed evaluations, `gradient` = g_n, `stopped` = the path is frozen from this step on,
    `failed` = an evaluation returned NaN and the step was skipped.
    """

    value: Array
    value_plus: Array
    value_minus: Array
    gradient: Array
    stopped: Array
    failed: Array


class SPSAQuery(AbstractQuery):
    """One SPSA iteration's request (`SPSA.ask`): evaluate the objective at `theta` (K, p) with
    the key `key`, then pass the K values to `SPSA.tell`.

    `theta` holds theta_n (when the method tracks the value), theta_n + c_n Delta_n and
    theta_n - c_n Delta_n; `n` is the iteration; `spread`, `noise`, `a_n`, `q_n` are the
    difference-quotient denominators, the annealing noise w_n and the gains that `tell` uses.
    """

    theta: Array
    key: Array
    n: Array
    spread: Array
    noise: Array
    a_n: Array
    q_n: Array


class SPSA(AbstractBlackBoxMethod):
    """Algorithm 1 (SPSA with annealing noise and projection on a box Theta).

    **Arguments:**

    - `lower`, `upper`: the box Theta (arrays of shape (p,)).
    - `a`, `c`, `eta`, `q`: gains a_n = a/n, c_n = c/n^eta, q_n as in the module docstring
      (paper's river experiment: a = c = 0.5, eta = 1/4, q = 0.001).
    - `loglog_floor`: the guard on log log n (default 1.0).
    - `stop_tol`: freeze a path once L(theta_n) <= stop_tol (default 1e-9); `None` never stops.
    - `track_value`: evaluate L(theta_n) every step (needed for stopping and for Figure 6).
    - `perturbation`: `"project"` (default) evaluates the objective at Proj_Theta(theta +- c_n
      Delta_n) and divides by the projected spread (theta+ - theta-)_i, so that only enactable
      mechanisms are probed; `"raw"` is the literal (theta +- c_n Delta_n, divided by 2 c_n
      Delta_i), for objectives defined outside Theta.
    """

    lower: Array
    upper: Array
    # gains are array leaves (not static): a new value does not recompile, and a sweep can vmap
    a: Array = eqx.field(default=DEFAULT_GAINS["a"], converter=as_leaf)
    c: Array = eqx.field(default=DEFAULT_GAINS["c"], converter=as_leaf)
    eta: Array = eqx.field(default=DEFAULT_GAINS["eta"], converter=as_leaf)
    q: Array = eqx.field(default=DEFAULT_GAINS["q"], converter=as_leaf)
    loglog_floor: Array = eqx.field(default=DEFAULT_GAINS["loglog_floor"], converter=as_leaf)
    stop_tol: float | None = eqx.field(static=True, default=DEFAULT_STOP_TOL)
    track_value: bool = eqx.field(static=True, default=True)
    perturbation: str = eqx.field(static=True, default="project")

    def __check_init__(self):
        check_box(self.lower, self.upper)
        check_gain("a", self.a, lambda v: v > 0, "a > 0")
        check_gain("c", self.c, lambda v: v > 0, "c > 0")
        check_gain("q", self.q, lambda v: v >= 0, "q >= 0")
        check_gain("eta", self.eta, lambda v: 0 < v <= 1,
                   "0 < eta <= 1; the paper uses eta in [1/6, 1/2]")
        check_gain("loglog_floor", self.loglog_floor, lambda v: v > 0,
                   "loglog_floor > 0: it bounds log log n away from 0 and -inf for small n")
        if self.perturbation not in ("project", "raw"):
            raise ValueError(f"`perturbation` must be 'project' or 'raw'; got {self.perturbation!r}.")
        if self.stop_tol is not None and not (isinstance(self.stop_tol, (int, float))
                                              and float(self.stop_tol) >= 0):
            raise ValueError(f"`stop_tol` must be a number >= 0 or None; got {self.stop_tol!r}.")
        if self.stop_tol is not None and not self.track_value:
            raise ValueError("`stop_tol` needs `track_value=True` (stopping tests L(theta_n)).")

    def init(self, theta0) -> SPSAState:
        theta0 = self.project(self.check_theta0(theta0))
        return SPSAState(theta=theta0, n=jnp.array(1), stopped=jnp.array(False))

    def gains(self, n):
        """(a_n, c_n, q_n) at iteration n >= 1."""
        n = jnp.asarray(n, jnp.result_type(float))
        a_n = self.a / n
        c_n = self.c / n**self.eta
        loglog = jnp.maximum(jnp.log(jnp.log(n)), self.loglog_floor)
        q_n = jnp.sqrt(self.q / (n * loglog))
        return a_n, c_n, q_n

    def ask(self, key, state: SPSAState) -> SPSAQuery:
        """The first half of a step: the mechanisms to evaluate at iteration `state.n`.

        Returns an `SPSAQuery`: `theta` (K, p) = theta_n (with `track_value`), theta_n + c_n
        Delta_n and theta_n - c_n Delta_n (projected with `perturbation="project"`), the
        evaluation key (the same for all K: common random numbers) and what `tell` needs.
        """
        theta = state.theta
        dkey, wkey, fkey = jax.random.split(key, 3)
        a_n, c_n, q_n = self.gains(state.n)
        a_n, c_n, q_n = (x.astype(theta.dtype) for x in (a_n, c_n, q_n))
        delta = jax.random.rademacher(dkey, theta.shape, dtype=theta.dtype)
        w = jax.random.normal(wkey, theta.shape, dtype=theta.dtype)
        plus, minus = theta + c_n * delta, theta - c_n * delta
        if self.perturbation == "project":
            plus, minus = self.project(plus), self.project(minus)
            spread = plus - minus
        else:
            spread = 2 * c_n * delta
        thetas = jnp.stack([theta, plus, minus] if self.track_value else [plus, minus])
        return SPSAQuery(theta=thetas, key=fkey, n=state.n, spread=spread, noise=w, a_n=a_n,
                         q_n=q_n)

    def tell(self, state: SPSAState, query: SPSAQuery, values):
        """The second half of a step: `values` (K,) = the objective at `query.theta` (NaN where
        it could not be evaluated). Returns (new_state, info), as `step`."""
        theta = state.theta
        vals = jnp.asarray(values)
        K = query.theta.shape[0]
        if vals.shape != (K,) or not jnp.issubdtype(vals.dtype, jnp.floating):
            raise ValueError(f"`values` must be a real floating array of shape (K,) = ({K},), one "
                             f"value per asked mechanism; got {vals.dtype} {vals.shape}.")
        if self.track_value:
            value, v_plus, v_minus = vals[0], vals[1], vals[2]
        else:
            value, v_plus, v_minus = jnp.full((), jnp.nan, vals.dtype), vals[0], vals[1]
        stopped = state.stopped
        if self.stop_tol is not None:
            stopped = stopped | (value <= self.stop_tol)
        spread = query.spread
        grad = (v_plus - v_minus) / jnp.where(spread == 0, 1.0, spread)
        grad = jnp.where(spread == 0, 0.0, grad)
        failed = ~(jnp.isfinite(v_plus) & jnp.isfinite(v_minus))
        new = self.project(theta - query.a_n * grad + query.q_n * query.noise)
        new = jnp.where(stopped | failed, theta, new)
        info = SPSAInfo(value=value, value_plus=v_plus, value_minus=v_minus,
                        gradient=jnp.where(failed, 0.0, grad), stopped=stopped,
                        failed=failed & ~stopped)
        return SPSAState(theta=new, n=state.n + 1, stopped=stopped), info
