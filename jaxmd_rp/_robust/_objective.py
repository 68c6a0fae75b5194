"""The design objective of Figure 5: Algorithm 2's robust gap inside Algorithm 1."""

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array

from .._equilibrium import AbstractEquilibriumSolver
from .._game import AbstractGame
from .._objective import AbstractGapObjective
from .._observe import Observer, as_leaf, is_concrete, is_zero
from .._solution import RESULTS
from ._checks import check_support
from ._game_gap import robust_pareto_gap_game
from ._results import RobustGap


class RobustGapObjective(AbstractGapObjective):
    """theta -> L_DR^eps(theta): Algorithm 1's lines 18-20 replaced by the robust gap (Figure 5).

    Same calling convention as `ParetoGapObjective`: `objective(theta, probes, key) -> scalar`
    (NaN where an equilibrium could not be observed or the data are invalid), so
    `spsa_minimise(objective, spsa, ...)` runs Algorithm 1 on the robust gap.

    **Arguments:**

    - `game`: an `AbstractBudgetGame` (linear budgets; with an `AbstractClosedFormGame`'s
      `equilibrium(theta, probe)`, e.g. `games.BudgetGame`), or a scalar-action game solved by
      `solve_equilibrium` whose probe rows depend on each player's own action (see
      `robust_pareto_gap_game`).
    - `epsilon`: the Wasserstein radius.
    - `num_samples`: N samples of each strategy (`game.sample_strategy`); `None` = one sample
      (the equilibrium itself for a pure-strategy game).
    - `tremble`: for scalar-action games, shrink each sample towards `game.lower` by an independent
      factor (1 - tremble * u), u ~ U(0, 1) (genuinely mixed samples that stay in the probe set;
      the `Observer`'s `noise_model="tremble"`). In [0, 1].
    - `bound`: which number to return: "value" (default, = "upper", attained by a certificate) or
      "lower".
    - `solver`, `max_steps`, `tol`: for `solve_equilibrium`; `support`, `rounds`, `golden`: for
      the robust gap (smaller `rounds` is faster inside SPSA).
    - `fresh_probes`, `num_probes`: draw `num_probes` new probes from the key at every call
      instead of using the `probes` argument.

    Observations go through an `Observer` (samples from `fold_in(key, 11)`, the tremble from
    `fold_in(key, 13)`). `key` may be omitted only when nothing is random: no `num_samples`, no
    tremble, no fresh probes, and a game whose `sample_strategy` is the default (pure strategies).
    """

    game: AbstractGame
    epsilon: Array = eqx.field(converter=as_leaf)
    num_samples: int | None = eqx.field(static=True, default=None)
    tremble: Array = eqx.field(default=0.0, converter=as_leaf)
    bound: str = eqx.field(static=True, default="value")
    support: str = eqx.field(static=True, default="triangle")
    solver: AbstractEquilibriumSolver | None = None
    max_steps: int = eqx.field(static=True, default=100)
    tol: float | None = eqx.field(static=True, default=None)
    rounds: int = eqx.field(static=True, default=16)
    golden: int = eqx.field(static=True, default=32)
    fresh_probes: bool = eqx.field(static=True, default=False)
    num_probes: int | None = eqx.field(static=True, default=None)

    def __check_init__(self):
        if not isinstance(self.game, AbstractGame):
            raise TypeError(f"`game` must be an AbstractGame; got {type(self.game).__name__}.")
        if self.bound not in ("value", "upper", "lower"):
            raise ValueError(f"`bound` must be 'value', 'upper' or 'lower'; got {self.bound!r}.")
        check_support(self.support)
        self.check_probes()
        if self.game.action_dim is not None and not is_zero(self.tremble):
            raise ValueError(
                "`tremble` is for scalar-action games (action_dim=None); for "
                f"{type(self.game).__name__} use its own sampling noise (e.g. BudgetGame(noise=...)).")
        if is_concrete(self.epsilon):
            e = jnp.asarray(self.epsilon)
            if e.ndim != 0 or not bool(jnp.isfinite(e) & (e >= 0)):
                raise ValueError(f"`epsilon` must be a finite scalar >= 0; got {self.epsilon!r}.")
        self.observer  # noqa: B018  (validates game, solver, num_samples, tremble)

    @property
    def observer(self) -> Observer:
        N = 1 if self.num_samples is None else self.num_samples
        return Observer(self.game, self.solver, N, self.tremble, "tremble", self.max_steps,
                        self.tol)

    @property
    def random(self) -> bool:
        pure = type(self.game).sample_strategy is AbstractGame.sample_strategy
        return (self.num_samples is not None or not is_zero(self.tremble) or self.fresh_probes
                or not pure)

    def gap(self, theta, probes=None, key=None) -> RobustGap:
        """The full `RobustGap` at `theta`: NaN numbers, orders -1 and
        `RESULTS.observation_failed` where an equilibrium could not be observed."""
        key = self.check_key(key)
        probes = self.probes_for(probes, key)
        x, ok = self.observer(theta, probes, key)
        sol = robust_pareto_gap_game(self.game, probes, x, self.epsilon, support=self.support,
                                     rounds=self.rounds, golden=self.golden, throw=False)
        good = jnp.all(ok)
        nan = lambda z: jnp.where(good, z, jnp.nan)  # noqa: E731
        return RobustGap(value=nan(sol.value), lower=nan(sol.lower), upper=nan(sol.upper),
                         kappa=nan(sol.kappa), orders=jnp.where(good, sol.orders, -1),
                         result=RESULTS.where(good, sol.result, RESULTS.observation_failed))

    def __call__(self, theta, probes=None, key=None) -> Array:
        sol = self.gap(theta, probes, key)
        return sol.lower if self.bound == "lower" else sol.value
