r"""Agents that learn: the players reach equilibrium by playing the probe game repeatedly.

The exact observer (`Observer` with no dynamics) hands the designer the equilibrium that
`solve_equilibrium` computes. Real agents are not solvers: they adjust their play round by round
from the payoffs they experience. A learning dynamics here plays `horizon` rounds of the game
(theta, probe) from a fixed start and reports the play of the last `window` rounds, averaged
(`window=1`: the last round). `Observer(..., dynamics=...)` then observes that play exactly as it
observes an equilibrium (N samples of it, observation noise), so every design objective and the
ask-tell simulator (`jaxmd_rp.simulate`) can face learning agents instead of exact equilibria.

**The constraints are priced.** A probe's constraints h(x; probe) <= 0 may be shared between
players (the river game's monitoring stations). The agents do not solve a joint problem: a
regulator posts a price mu_c >= 0 per constraint and raises it while the constraint is violated,

    mu <- max(0, mu + rho h(x)),

and every player learns on its priced payoff f^i(x) - mu . h(x) (one price for all players: at a
rest point this is exactly the KKT system of the normalized equilibrium of Rosen (1965) that
`solve_equilibrium` computes). Player i's payoff gradient is d_i = d/dx_i [f^i(x) - mu . h(x)].

**Dynamics.**

- `GradientPlay` (continuous actions; any game): projected gradient play
  x_i <- max(lower_i, x_i + eta d_i), optimistic by default (the step uses 2 d_t - d_{t-1},
  for the prices 2 h_t - h_{t-1}): optimistic gradient play is no-regret and its last iterate
  converges in monotone games (Golowich et al. 2020), where plain gradient play may cycle.
- `Hedge` (finite games in mixed strategies, x_i in the simplex): multiplicative weights
  x_i <- x_i exp(eta d_i) / Z, optimistic by default. The simplex constraints of the game are
  kept by the update itself (their prices stay 0); probe caps are priced.
- `RegretMatching` (finite games): cumulative regrets R_i += d_i - <d_i, x_i>, play
  proportional to max(R_i, 0) (regret matching+, `plus=True`, clips R at 0: Tammelin 2014).

No-regret play converges in time average to coarse correlated equilibria in general; in a 2x2
game with a unique completely mixed equilibrium (the inspection game at high fines, which is
strategically zero-sum) the time-averaged play converges to that equilibrium, the last iterate
need not (use `window` > 1). A learning run that ends with a non-finite strategy is reported as
not obtained (`ok = False`), like a failed equilibrium solve.

The dynamics are deterministic (full-information play from a fixed start); the randomness of an
observation is the sampling and noise of the `Observer`. Utilities enter only the agents'
learning, never the designer's side.
"""

import abc

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool

from ._game import AbstractGame


def _leaf(v):
    """Python numbers -> float64 numpy leaves (a new value does not recompile)."""
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return np.asarray(v, dtype=np.float64)
    return v


def check_positive_int(name: str, v):
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
        raise ValueError(f"`{name}` must be an integer >= 1; got {v!r}.")


def check_step(name: str, v, *, positive: bool = True):
    if isinstance(v, jax.core.Tracer):
        return
    a = np.asarray(v)
    if a.ndim != 0 or not np.isrealobj(a) or not np.isfinite(a) or a < 0 or (positive and a == 0):
        raise ValueError(f"`{name}` must be a finite real number {'> 0' if positive else '>= 0'}; "
                         f"got {a.item() if a.ndim == 0 else v!r}.")


class AbstractLearningDynamics(eqx.Module):
    """A learning dynamics: `horizon` rounds of play, the last `window` rounds averaged.

    Subclasses implement `start(game, theta, probe) -> carry`, `strategy(carry) -> x` (the joint
    strategy played, shape `game.action_shape`) and `update(game, theta, probe, carry) -> carry`.
    """

    horizon: eqx.AbstractVar[int]
    window: eqx.AbstractVar[int]

    @abc.abstractmethod
    def start(self, game: AbstractGame, theta, probe):
        """The carry before the first round."""

    @abc.abstractmethod
    def strategy(self, carry) -> Array:
        """The joint strategy played in the round the carry describes."""

    @abc.abstractmethod
    def update(self, game: AbstractGame, theta, probe, carry):
        """The carry after one more round."""

    def check(self):
        check_positive_int("horizon", self.horizon)
        check_positive_int("window", self.window)
        if self.window > self.horizon:
            raise ValueError(f"`window` = {self.window} must be <= `horizon` = {self.horizon} "
                             "(the rounds averaged are the last `window` of `horizon`).")

    def trajectory(self, game: AbstractGame, theta, probe) -> Array:
        """The strategy of every round, shape (horizon, *action_shape) (for diagnostics)."""

        def body(carry, _):
            x = self.strategy(carry)
            return self.update(game, theta, probe, carry), x

        return jax.lax.scan(body, self.start(game, theta, probe), None, length=self.horizon)[1]

    def play(self, game: AbstractGame, theta, probe) -> tuple[Array, Bool[Array, ""]]:
        """(x, ok): the mean strategy of the last `window` rounds and whether it is finite."""
        first = self.horizon - self.window

        def body(state, t):
            carry, total = state
            x = self.strategy(carry)
            total = total + jnp.where(t >= first, x, jnp.zeros_like(x))
            return (self.update(game, theta, probe, carry), total), None

        carry = self.start(game, theta, probe)
        zero = jnp.zeros_like(self.strategy(carry))
        (_, total), _ = jax.lax.scan(body, (carry, zero), jnp.arange(self.horizon))
        x = total / jnp.asarray(self.window, total.dtype)
        return x, jnp.all(jnp.isfinite(x))


def own_gradient(game: AbstractGame, theta, x) -> Array:
    """[d f^i / d x_i]_i at the joint action x, shape `game.action_shape`."""
    jac = jax.jacfwd(lambda z: game.utilities(theta, z))(x)  # (M, *action_shape)
    M = x.shape[0]
    return jac[jnp.arange(M), jnp.arange(M)]


def priced_gradient(game: AbstractGame, theta, probe, x, mu) -> tuple[Array, Array]:
    """(d, h): the priced payoff gradients d_i = d/dx_i [f^i(x) - mu . h(x)] and h(x)."""
    h, vjp = jax.vjp(lambda z: game.constraints(probe, z), x)
    (price_term,) = vjp(mu.astype(h.dtype))
    return own_gradient(game, theta, x) - price_term, h


class _Priced(AbstractLearningDynamics):
    """Shared machinery: a primal state per player, prices mu, optional optimism."""

    horizon: int = eqx.field(static=True, default=200)
    window: int = eqx.field(static=True, default=1)
    step_size: Array = eqx.field(default=0.05, converter=_leaf)
    price_step: Array = eqx.field(default=0.05, converter=_leaf)
    optimistic: bool = eqx.field(static=True, default=True)

    def __check_init__(self):
        self.check()
        check_step("step_size", self.step_size)
        check_step("price_step", self.price_step, positive=False)

    @abc.abstractmethod
    def primal_start(self, game: AbstractGame, dtype) -> Array:
        """The primal state before the first round."""

    @abc.abstractmethod
    def primal_step(self, game: AbstractGame, s, x, d) -> Array:
        """The primal state after a round with payoff gradient (or prediction) d."""

    def start(self, game, theta, probe):
        dtype = jnp.result_type(jnp.asarray(theta).dtype, jnp.asarray(probe).dtype)
        s = self.primal_start(game, dtype)
        x = self.strategy((s, None, None, None))
        C = jax.eval_shape(lambda z: game.constraints(probe, z), x).shape[0]
        mu = jnp.zeros(C, dtype)
        return s, mu, jnp.zeros_like(x), jnp.zeros(C, dtype)

    def update(self, game, theta, probe, carry):
        s, mu, d_prev, h_prev = carry
        x = self.strategy(carry)
        d, h = priced_gradient(game, theta, probe, x, mu)
        d_use, h_use = (2 * d - d_prev, 2 * h - h_prev) if self.optimistic else (d, h)
        s = self.primal_step(game, s, x, d_use)
        mu = jnp.maximum(mu + jnp.asarray(self.price_step, mu.dtype) * h_use, 0.0)
        return s, mu, d, h


class GradientPlay(_Priced):
    """Projected gradient play with priced constraints (see the module docstring).

    **Arguments:**

    - `horizon`: rounds of play (default 200); `window`: the last rounds averaged (default 1).
    - `step_size`: eta, the players' step (default 0.05); `price_step`: rho (default 0.05).
    - `optimistic`: optimistic gradient steps (default `True`).
    - `start_offset`: the players start at `game.lower + start_offset` (default 1, as
      `solve_equilibrium`).

    The rest points are the normalized equilibria. Steps must be small against the game's
    curvature (eta below 1 / Lipschitz constant of the payoff gradients) or the play diverges
    (then `ok = False`).

    ```python
    >>> import jax, jax.numpy as jnp, jaxmd_rp as rp
    >>> jax.config.update("jax_enable_x64", True)
    >>> game = rp.games.CournotPollution()                 # caps of 5: not binding
    >>> play = rp.GradientPlay(horizon=500, step_size=0.2, price_step=0.2)
    >>> x, ok = play.play(game, jnp.array([1.0]), jnp.array([5.0, 5.0]))
    >>> bool(jnp.allclose(x, game.cournot_output(jnp.array([1.0])))), bool(ok)
    (True, True)

    ```
    """

    start_offset: Array = eqx.field(default=1.0, converter=_leaf)

    def __check_init__(self):
        check_step("start_offset", self.start_offset, positive=False)

    def primal_start(self, game, dtype):
        lower = jnp.broadcast_to(jnp.asarray(game.lower, dtype), game.action_shape)
        return lower + jnp.asarray(self.start_offset, dtype)

    def strategy(self, carry):
        return carry[0]

    def primal_step(self, game, s, x, d):
        lower = jnp.asarray(game.lower, s.dtype)
        return jnp.maximum(s + jnp.asarray(self.step_size, s.dtype) * d, lower)


class Hedge(_Priced):
    """Multiplicative weights (exponential weights) on mixed strategies, priced caps.

    For games whose joint action is one probability vector per player (shape (M, K), e.g.
    `games.InspectionGame`). Starts from the uniform strategy. Arguments as `GradientPlay`
    (no `start_offset`).
    """

    def primal_start(self, game, dtype):
        _check_mixed(game)
        M, K = game.action_shape
        return jnp.zeros((M, K), dtype)  # logits: uniform play

    def strategy(self, carry):
        return jax.nn.softmax(carry[0], axis=-1)

    def primal_step(self, game, s, x, d):
        s = s + jnp.asarray(self.step_size, s.dtype) * d
        return s - jnp.max(s, axis=-1, keepdims=True)  # the same play, bounded logits


class RegretMatching(_Priced):
    """Regret matching on mixed strategies (finite games), priced caps.

    Cumulative regrets R_i += d_i - <d_i, x_i>; play x_i proportional to max(R_i, 0) (uniform
    while no regret is positive). `plus=True` (default) is regret matching+ (R clipped at 0
    every round). `step_size` scales the regrets (the play is scale-free; it only matters
    relative to the prices). `optimistic` is not used (set it to `False`).
    """

    optimistic: bool = eqx.field(static=True, default=False)
    plus: bool = eqx.field(static=True, default=True)

    def __check_init__(self):
        if self.optimistic:
            raise ValueError("`optimistic` is not defined for RegretMatching; leave it False.")

    def primal_start(self, game, dtype):
        _check_mixed(game)
        return jnp.zeros(game.action_shape, dtype)

    def strategy(self, carry):
        r = jnp.maximum(carry[0], 0.0)
        total = jnp.sum(r, axis=-1, keepdims=True)
        uniform = jnp.full_like(r, 1.0 / r.shape[-1])
        return jnp.where(total > 0, r / jnp.where(total > 0, total, 1.0), uniform)

    def primal_step(self, game, s, x, d):
        regret = d - jnp.sum(d * x, axis=-1, keepdims=True)
        s = s + jnp.asarray(self.step_size, s.dtype) * regret
        return jnp.maximum(s, 0.0) if self.plus else s


def _check_mixed(game: AbstractGame):
    if game.action_dim is None:
        raise ValueError(
            f"{type(game).__name__} has scalar actions; Hedge and RegretMatching learn mixed "
            "strategies of finite games (action shape (M, K), each row a probability vector). "
            "Use GradientPlay for continuous actions.")
