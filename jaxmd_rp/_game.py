"""The game model: what a black-box multi-agent system looks like to jaxmd_rp.

A game has M players. Player i chooses an action x_i in R^k (x_i >= `lower`), a designer sets a
mechanism `theta` in a box Theta and a probe `gamma` in a box, and the probe imposes constraints
h_c(x; gamma) <= 0 (per player or shared/coupled between players). The players' utilities
f_theta^i(x) are known to the *game*, never to the designer: the designer only sees equilibria.

The single seam between games and the revealed-preference code is the **probe-values array**

    values[i, t, s] = g_t^i(mu_s),        shape (R, T, T),

"row i's probe-t constraint evaluated at the strategy observed in experiment s" (paper eq. 8/10;
for an empirical mixed strategy with N samples, the mean of g_t^i over the samples, eq. 13).
`g_t^i` is `game.revealed_constraints(probe_t, x)[i]`: the constraint functions the designer uses
for revealed preferences. Usually R = M (one row per player) and g_t^i depends on player i's own
action only, as in the paper; a row may also be a shared constraint evaluated at the joint action
(e.g. the river game's monitoring stations), and R need not equal M. Feasibility means g <= 0 and a
strategy that exhausts its probe has g_t^t = 0.
"""

import abc

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float


class AbstractGame(eqx.Module):
    """A parametrised game with (possibly coupled) constraints set by a probe.

    Subclass it, set the class variables and implement the three abstract methods:

    ```python
    class Duopoly(rp.AbstractGame):
        num_agents = 2
        action_dim = None              # scalar actions: x has shape (M,)
        theta_dim = 1
        probe_dim = 1

        def utilities(self, theta, x):             # (M,) profits
            price = 10.0 - theta[0] * jnp.sum(x)
            return (price - 1.0) * x

        def constraints(self, probe, x):           # h(x) <= 0, shape (C,)
            return jnp.array([jnp.sum(x) - probe[0]])

        def revealed_constraints(self, probe, x):  # g^i(x) <= 0, shape (R,)
            return x / probe[0] - 1.0
    ```

    **Class variables:**

    - `num_agents`: M.
    - `action_dim`: k, or `None` for scalar actions (then `x` has shape (M,), else (M, k)).
    - `theta_dim`, `probe_dim`: lengths of the mechanism and probe vectors.

    Override the properties `theta_bounds`, `probe_bounds` (boxes, default [0, inf)) and `lower`
    (action lower bound, default 0) where the defaults do not fit.

    Every method takes *one* instance; batch with `jax.vmap`.
    """

    num_agents: eqx.AbstractClassVar[int]
    action_dim: eqx.AbstractClassVar[int | None]
    theta_dim: eqx.AbstractClassVar[int]
    probe_dim: eqx.AbstractClassVar[int]

    @abc.abstractmethod
    def utilities(self, theta: Float[Array, " p"], x: Array) -> Float[Array, " M"]:
        """Utilities f_theta^i(x) of all players at the joint action `x`."""

    @abc.abstractmethod
    def constraints(self, probe: Float[Array, " q"], x: Array) -> Float[Array, " C"]:
        """Constraints h_c(x) <= 0 that the probe imposes (per-player or shared)."""

    @abc.abstractmethod
    def revealed_constraints(self, probe: Float[Array, " q"], x: Array) -> Float[Array, " R"]:
        """The probe functions g^i(x) used for revealed preferences (see module docstring)."""

    @property
    def kkt_affine(self) -> bool:
        """Declare `True` if the pseudo-gradient is affine in x and the constraints are linear:
        `solve_equilibrium` then defaults to the exact `ActiveSetEnumeration` solver."""
        return False

    @property
    def action_shape(self) -> tuple[int, ...]:
        """Shape of a joint action: (M,) for scalar actions, else (M, k)."""
        if self.action_dim is None:
            return (self.num_agents,)
        return (self.num_agents, self.action_dim)

    @property
    def theta_bounds(self) -> tuple[Array, Array]:
        """The mechanism box Theta as (lower, upper)."""
        return jnp.zeros(self.theta_dim), jnp.full(self.theta_dim, jnp.inf)

    @property
    def probe_bounds(self) -> tuple[Array, Array]:
        """The box of admissible probes as (lower, upper)."""
        return jnp.zeros(self.probe_dim), jnp.full(self.probe_dim, jnp.inf)

    @property
    def lower(self) -> Array:
        """Lower bound on actions (default x >= 0), shape `action_shape`."""
        return jnp.zeros(self.action_shape)

    def sample_strategy(self, key, x: Array, num_samples: int) -> Array:
        """N observations of a player profile whose equilibrium is `x`: shape (N, *action_shape).

        Default: the equilibrium is pure, so every sample equals `x`. Games whose equilibrium
        `x` parametrises a genuinely mixed strategy (e.g. a probability vector over finite
        actions) override this to draw samples of it (paper eq. 12).
        """
        del key
        return jnp.broadcast_to(x, (num_samples,) + x.shape)

    def welfare(self, theta: Array, x: Array) -> Array:
        """Social welfare sum_i f_theta^i(x) (known to a test harness, never to the designer)."""
        return jnp.sum(self.utilities(theta, x))



class AbstractClosedFormGame(AbstractGame):
    """A game that knows its equilibrium in closed form (e.g. agents without interaction).

    Implement `equilibrium(theta, probe)`, returning the joint action (shape `action_shape`) that
    the agents play at mechanism `theta` under `probe`. The observers of the design objectives
    (`ParetoGapObjective`, `RobustGapObjective`) use it instead of `solve_equilibrium`.
    """

    @abc.abstractmethod
    def equilibrium(self, theta: Array, probe: Array) -> Array:
        """The equilibrium joint action at (`theta`, `probe`), shape `action_shape`."""


class AbstractBudgetGame(AbstractGame):
    """A game whose probes are linear budgets: g_t^i(x) = <prices(probe_t)[i], x_i> - 1.

    Implement `prices(probe)`, shape (M, k) (`action_dim = k`); `revealed_constraints` follows.
    The robust Pareto gap uses the prices directly (closed-form separation for k <= 2).
    """

    @abc.abstractmethod
    def prices(self, probe: Array) -> Float[Array, "M k"]:
        """Agent i's budget prices alpha^i under `probe`, shape (M, k)."""

    def revealed_constraints(self, probe, x):
        return jnp.sum(self.prices(probe) * x, axis=-1) - 1.0


def probe_values(game: AbstractGame, probes: Array, strategies: Array) -> Float[Array, "R T T"]:
    """The probe-values array `values[i, t, s] = g_t^i(mu_s)` consumed by `pareto_gap`.

    **Arguments:**

    - `game`: an `AbstractGame`.
    - `probes`: shape (T, probe_dim), the probe of each experiment.
    - `strategies`: either the pure equilibria, shape (T, *game.action_shape), or N samples of
      each (mixed/empirical) strategy, shape (T, N, *game.action_shape). For samples, the values
      are means over the samples (paper eq. 13).

    **Returns:** an array of shape (R, T, T) (R = `game.revealed_constraints` rows).
    """
    probes = jnp.asarray(probes)
    strategies = jnp.asarray(strategies)
    if probes.ndim != 2 or probes.shape[-1] != game.probe_dim:
        raise ValueError(
            f"`probes` must have shape (T, {game.probe_dim}); got {probes.shape}."
        )
    T = probes.shape[0]
    shape = game.action_shape
    if strategies.shape == (T, *shape):
        strategies = strategies[:, None]
    elif strategies.ndim != len(shape) + 2 or strategies.shape[0] != T or strategies.shape[2:] != shape:
        raise ValueError(
            f"`strategies` must have shape (T, *action_shape) = {(T, *shape)} or "
            f"(T, N, *action_shape); got {strategies.shape}."
        )

    def g_at(probe, samples):  # mean over samples of g(probe, sample): (R,)
        return jnp.mean(jax.vmap(lambda x: game.revealed_constraints(probe, x))(samples), axis=0)

    # v[t, s, :] = g_t(mu_s)
    v = jax.vmap(lambda p: jax.vmap(lambda smp: g_at(p, smp))(strategies))(probes)
    return jnp.moveaxis(v, -1, 0)
