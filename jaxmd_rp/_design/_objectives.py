"""The design objectives of Algorithm 1: enact the game on the probes, observe, compute a gap.

`ParetoGapObjective(game)(theta, probes, key)` is Algorithm 1's lines 13-20 for one mechanism:
solve the T probe games at `theta` (one vmapped equilibrium solve), optionally draw N samples of
each observed strategy (eq. 12), build the probe-values array (eq. 13) and return the Pareto gap.
It is a pure function of (theta, probes, key), so `jax.vmap` over paths and perturbations turns a
whole SPSA iteration into one batched computation.

`SmoothedGapObjective` wraps it for gradient-based design: its `surrogate` is the smoothed gap
(`pareto_gap_smooth`) at an annealed temperature, from the same observations as the exact gap.
"""

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from .._equilibrium import AbstractEquilibriumSolver
from .._game import AbstractGame, probe_values
from .._learning import AbstractLearningDynamics
from .._objective import AbstractGapObjective, AbstractSurrogateObjective
from .._observe import Observer, as_leaf, is_concrete
from .._pareto_gap import _check_values, pareto_gap_unchecked


def failed_as_nan(value, ok):
    """`value` where every observation succeeded, else NaN -- with a NaN gradient too (a product
    with NaN, not a select), so `optax.apply_if_finite` and masking see the failure."""
    return value * jnp.where(jnp.all(ok), 1.0, jnp.nan).astype(value.dtype)


class ParetoGapObjective(AbstractGapObjective):
    """theta -> L_hat(theta): the Pareto gap of the equilibria observed at `theta` on the probes.

    **Arguments:**

    - `game`: the black-box system (an `AbstractGame`).
    - `solver`: equilibrium solver (default: `solve_equilibrium`'s choice for the game).
    - `num_samples`: `None` observes the equilibrium itself (eq. 10); an integer N observes N
      samples of each strategy (eq. 12-13), drawn by `game.sample_strategy`.
    - `noise`: standard deviation of additive Gaussian observation noise on each sample (clipped
      at the action lower bound); with 0 and a pure-strategy game all samples equal the equilibrium.
    - `fresh_probes`: if `True`, ignore the `probes` argument and draw `num_probes` new probes
      from the key at every call (the paper draws them once, before the loop: the default).
    - `num_probes`: T when `fresh_probes=True`.
    - `max_steps`, `tol`: passed to `solve_equilibrium`.
    - `dynamics`: `None` (default) observes equilibria; a learning dynamics (`GradientPlay`,
      `Hedge`, `RegretMatching`) observes the play of agents that learn (see `Observer`).

    Calling it returns a scalar; NaN where some equilibrium solve failed (the SPSA step is then
    skipped). `observe` returns the strategies and the per-probe success flags; `values` the
    probe-values array. `key` may be omitted only when nothing is random (no samples, no fresh
    probes).

    ```python
    >>> import jax, jax.numpy as jnp, jaxmd_rp as rp
    >>> jax.config.update("jax_enable_x64", True)
    >>> game = rp.games.RiverPollution()
    >>> objective = rp.ParetoGapObjective(game)
    >>> probes = rp.sample_probes(game, jax.random.PRNGKey(0), 10)   # (T, 3) emission caps
    >>> L = objective(jnp.full(7, 0.3), probes)                      # deterministic: no key
    >>> bool(L >= 0.0)
    True

    ```
    """

    game: AbstractGame
    solver: AbstractEquilibriumSolver | None = None
    num_samples: int | None = eqx.field(static=True, default=None)
    noise: Array = eqx.field(default=0.0, converter=as_leaf)
    fresh_probes: bool = eqx.field(static=True, default=False)
    num_probes: int | None = eqx.field(static=True, default=None)
    max_steps: int = eqx.field(static=True, default=100)
    tol: float | None = eqx.field(static=True, default=None)
    dynamics: AbstractLearningDynamics | None = None

    def __check_init__(self):
        self.check_probes()
        if is_concrete(self.noise) and not float(self.noise) == 0.0 and self.num_samples is None:
            raise ValueError("`noise` perturbs samples: set `num_samples` (N >= 1) as well.")
        self.observer  # noqa: B018  (validates game, solver, num_samples, noise)

    @property
    def observer(self) -> Observer:
        return Observer(self.game, self.solver, self.num_samples, self.noise, "gaussian",
                        self.max_steps, self.tol, self.dynamics)

    def values(self, theta, probes, key=None):
        """The probe-values array (R, T, T) at `theta`, and the success flags (T,)."""
        key = self.check_key(key)
        probes = self.probes_for(probes, key)
        strategies, ok = self.observer(theta, probes, key)
        return probe_values(self.game, probes, strategies), ok

    def __call__(self, theta, probes=None, key=None) -> Array:
        values, ok = self.values(theta, probes, key)
        return failed_as_nan(pareto_gap_unchecked(values), ok)


def _softmax2(a, b, tau):
    return jnp.logaddexp(a / tau, b / tau) * tau


@eqx.filter_jit
def _smooth_jit(values, tau):
    C = -values
    T = C.shape[-1]
    for k in range(T):
        via = -_softmax2(-C[..., :, k : k + 1], -C[..., k : k + 1, :], tau)
        C = _softmax2(C, via, tau)
    diag = jnp.diagonal(C, axis1=-2, axis2=-1)
    B = tau * jax.nn.logsumexp(diag.reshape(diag.shape[:-2] + (-1,)) / tau, axis=-1)
    return _softmax2(B, jnp.zeros_like(B), tau)


def pareto_gap_smooth(values: Float[Array, "... M T T"], temperature) -> Array:
    """A smooth upper surrogate of the Pareto gap: the bottleneck closure with soft max/min.

    max(a, b) -> tau log(e^{a/tau} + e^{b/tau}), min(a, b) -> -(same on -a, -b); the final max over
    the M T diagonal entries is a log-sum-exp and max(., 0) a softplus. Each soft two-way max/min
    is within tau log 2 of the exact one and every step of the closure is monotone and 1-Lipschitz
    in the sup norm, so |pareto_gap_smooth - pareto_gap| <= tau (2 T log 2 + log(M T) + log 2).
    (Tested; on random data it was never below the exact gap.)

    **Arguments:**

    - `values`: the probe-values array, shape (..., M, T, T) (see `pareto_gap`).
    - `temperature`: tau > 0 (a scalar, or an array broadcasting against the batch axes).
    """
    values = _check_values(values)
    tau = jnp.asarray(temperature)
    if jnp.iscomplexobj(tau):
        raise TypeError(f"`temperature` must be real; got dtype {tau.dtype}.")
    if is_concrete(tau) and not bool(jnp.all(tau > 0) & jnp.all(jnp.isfinite(tau))):
        raise ValueError(f"`temperature` must be finite and > 0; got {temperature!r}.")
    tau = eqx.error_if(tau, ~jnp.all((tau > 0) & jnp.isfinite(tau)),
                       "`temperature` must be finite and > 0.")
    return _smooth_jit(values, tau.astype(values.dtype))


class SmoothedGapObjective(AbstractSurrogateObjective):
    """Wrap a `ParetoGapObjective`: `__call__` is the exact gap, `surrogate` the smoothed one at
    temperature tau0 / sqrt(n) (annealed over the design iterations), from the same solves."""

    objective: ParetoGapObjective
    tau0: Array = eqx.field(default=0.05, converter=as_leaf)

    def __check_init__(self):
        if not isinstance(self.objective, ParetoGapObjective):
            raise TypeError("`objective` must be a ParetoGapObjective; got "
                            f"{type(self.objective).__name__}.")
        if is_concrete(self.tau0) and not float(self.tau0) > 0:
            raise ValueError(f"`tau0` must be > 0; got {float(self.tau0)}.")

    @property
    def random(self) -> bool:
        return self.objective.random

    def __call__(self, theta, args=None, key=None):
        return self.objective(theta, args, key)

    def surrogate(self, theta, args, key, n):
        """(smoothed gap, exact gap) from one set of equilibrium solves."""
        values, ok = self.objective.values(theta, args, key)
        tau = jnp.asarray(self.tau0, values.dtype) / jnp.sqrt(jnp.asarray(n, values.dtype))
        exact = jax.lax.stop_gradient(pareto_gap_unchecked(values))
        return failed_as_nan(_smooth_jit(values, tau), ok), failed_as_nan(exact, ok)
