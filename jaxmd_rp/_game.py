"""The game model: what a black-box multi-agent system looks like to jaxmd_rp.

A game has M players. Player i chooses an action x_i in R^{k_i} inside a box
`lower <= x_i <= upper` (bounds may be infinite: free variables), a designer sets a mechanism
`theta` in a box Theta and a probe `gamma` in a box, and the probe imposes inequality constraints
h_c(x; gamma) <= 0 and equality constraints e_c(x; gamma) = 0. Each constraint is either *shared*
(one multiplier for all players: the normalized/variational equilibrium) or *owned* by one player
(that player's own multiplier: a generalized Nash equilibrium); see `constraint_owners`. The
players' utilities f_theta^i(x) are known to the *game*, never to the designer: the designer only
sees equilibria. A plain game without mechanism or probe leaves `theta_dim = probe_dim = 0`.

**Joint-action layout.** `x` has shape `action_shape`:

- `action_dim = None` (default): one scalar per player, x of shape (M,);
- `action_dim = k`: k coordinates per player, x of shape (M, k), player i's action is `x[i]`;
- `action_dims = (k_1, ..., k_M)` (ragged players): x is flat of shape (k_1 + ... + k_M,) and
  player i's action is `x[game.player_slices[i]]` (the players' blocks one after the other).

The flattened joint action (row-major) always lists player 0's coordinates first, then player 1's,
and so on; `player_slices` indexes it.

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
import numpy as np
from jaxtyping import Array, Float

from ._game_checks import check_structure, checked_call


class AbstractGame(eqx.Module):
    """A parametrised game with (possibly coupled) constraints set by a probe.

    Subclass it, set the class variables and implement `utilities` (and, where the game has them,
    `constraints`, `equality_constraints` and `revealed_constraints`):

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
    - `action_dim`: k, or `None` (default) for scalar actions (x of shape (M,), else (M, k)).
    - `action_dims`: per-player dimensions (k_1, ..., k_M) for ragged players (x flat, see the
      module docstring); overrides `action_dim`.
    - `theta_dim`, `probe_dim`: lengths of the mechanism and probe vectors (default 0: a game
      without mechanism or probe).

    **Optional overrides:** the boxes `theta_bounds`, `probe_bounds` (default [0, inf)), the action
    bounds `lower` (default 0) and `upper` (default +inf) -- scalars or arrays shaped like the
    action, +-inf for free variables; `equality_constraints`; `constraint_owners` /
    `equality_owners` (default: every constraint shared); `rosen_weights` (the normalized
    equilibrium's weights, default equal); `kkt_affine`; `sample_strategy`; `welfare`.

    Every method takes *one* instance; batch with `jax.vmap`.
    """

    num_agents: eqx.AbstractClassVar[int]
    # Plain class attributes, not annotated: a subclass may redeclare them as (static) dataclass
    # fields without a default (an annotated default here would reorder its fields).
    action_dim = None  # int | None
    action_dims = None  # tuple[int, ...] | None
    theta_dim = 0  # int
    probe_dim = 0  # int

    @abc.abstractmethod
    def utilities(self, theta: Float[Array, " p"], x: Array) -> Float[Array, " M"]:
        """Utilities f_theta^i(x) of all players at the joint action `x`, shape (M,)."""

    def constraints(self, probe: Float[Array, " q"], x: Array) -> Float[Array, " C"]:
        """Inequality constraints h_c(x) <= 0 imposed by the probe, shape (C,) (default: none)."""
        del probe
        return jnp.zeros((0,), jnp.result_type(x))

    def equality_constraints(self, probe: Float[Array, " q"], x: Array) -> Float[Array, " E"]:
        """Equality constraints e_c(x) = 0, shape (E,) (default: none)."""
        del probe
        return jnp.zeros((0,), jnp.result_type(x))

    def revealed_constraints(self, probe: Float[Array, " q"], x: Array) -> Float[Array, " R"]:
        """The probe functions g^i(x) used for revealed preferences, shape (R,) (see the module
        docstring; default: none)."""
        del probe
        return jnp.zeros((0,), jnp.result_type(x))

    @property
    def constraint_owners(self) -> tuple[int | None, ...] | None:
        """Who owns each inequality constraint: `None` (default) = every constraint is *shared*
        (one multiplier, weighted by `rosen_weights`: the normalized equilibrium); else a tuple of
        length C whose entry c is `None` (shared) or a player index i (constraint c is player i's
        own, with player i's own multiplier; the other players do not face it). To give every
        player its own copy of a coupled constraint (the generalized, not the variational,
        equilibrium), repeat the constraint once per player with that player as owner."""
        return None

    @property
    def equality_owners(self) -> tuple[int | None, ...] | None:
        """As `constraint_owners`, for the equality constraints (length E)."""
        return None

    @property
    def rosen_weights(self) -> Array | None:
        """Rosen's (1965) weights r_i > 0 of the normalized equilibrium, shape (M,): player i's
        multiplier of a shared constraint is mu / r_i. `None` (default) = equal weights (the
        variational equilibrium)."""
        return None

    @property
    def kkt_affine(self) -> bool:
        """Declare `True` if the pseudo-gradient is affine in x and the constraints are linear:
        `solve_equilibrium` then defaults to the exact `ActiveSetEnumeration` solver."""
        return False

    @property
    def player_dims(self) -> tuple[int, ...]:
        """The action dimension of each player, (k_1, ..., k_M)."""
        check_structure(self)
        if self.action_dims is not None:
            return tuple(int(k) for k in self.action_dims)
        k = 1 if self.action_dim is None else int(self.action_dim)
        return (k,) * self.num_agents

    @property
    def action_shape(self) -> tuple[int, ...]:
        """Shape of a joint action: (M,) for scalar actions, (M, k), or (sum_i k_i,) (ragged)."""
        check_structure(self)
        if self.action_dims is not None:
            return (sum(self.player_dims),)
        if self.action_dim is None:
            return (self.num_agents,)
        return (self.num_agents, self.action_dim)

    @property
    def action_size(self) -> int:
        """Number of coordinates of the joint action, sum_i k_i."""
        return sum(self.player_dims)

    @property
    def player_slices(self) -> tuple[slice, ...]:
        """Player i's coordinates in the flattened joint action `x.reshape(-1)`."""
        ends = np.cumsum((0,) + self.player_dims)
        return tuple(slice(int(a), int(b)) for a, b in zip(ends[:-1], ends[1:], strict=True))

    def player_actions(self, x: Array) -> tuple[Array, ...]:
        """The players' actions (x_1, ..., x_M) of a joint action, each of shape (k_i,)."""
        flat = jnp.reshape(x, (-1,))
        return tuple(flat[s] for s in self.player_slices)

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
        """Lower bound on actions (default x >= 0): a scalar or an array of shape
        `action_shape`; -inf = no lower bound."""
        return jnp.zeros(self.action_shape)

    @property
    def upper(self) -> Array:
        """Upper bound on actions (default +inf = none): a scalar or an array of shape
        `action_shape`."""
        return jnp.full(self.action_shape, jnp.inf)

    def sample_strategy(self, key, x: Array, num_samples: int) -> Array:
        """N observations of a player profile whose equilibrium is `x`: shape (N, *action_shape).

        Default: the equilibrium is pure, so every sample equals `x`. Games whose equilibrium
        `x` parametrises a genuinely mixed strategy (e.g. a probability vector over finite
        actions) override this to draw samples of it (paper eq. 12).
        """
        del key
        return jnp.broadcast_to(x, (num_samples,) + x.shape)

    def welfare(self, theta: Array, x: Array) -> Array:
        """Social welfare sum_i f^i(x) (known to a test harness, never to the designer)."""
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
      are means over the samples (paper eq. 13). Ragged players use the flat joint action.

    **Returns:** an array of shape (R, T, T) (R = `game.revealed_constraints` rows).

    ```python
    >>> import jax.numpy as jnp, jaxmd_rp as rp
    >>> game = rp.games.RiverPollution(probe_reading="station")
    >>> probes = jnp.array([[0.5, 0.25, 0.75], [1.0, 1.0, 1.0]])
    >>> x = jnp.array([[21.0, 16.0, 2.7], [10.0, 5.0, 1.0]])
    >>> rp.probe_values(game, probes, x).shape
    (2, 2, 2)

    ```
    """
    if not isinstance(game, AbstractGame):
        raise TypeError(f"`game` must be an AbstractGame; got {type(game).__name__}.")
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

    def g(probe, x):
        return checked_call(game, "revealed_constraints", (probe, x), ndim=1,
                            what="a 1-D float array (R,) of probe values")

    def g_at(probe, samples):  # mean over samples of g(probe, sample): (R,)
        return jnp.mean(jax.vmap(lambda x: g(probe, x))(samples), axis=0)

    # v[t, s, :] = g_t(mu_s)
    v = jax.vmap(lambda p: jax.vmap(lambda smp: g_at(p, smp))(strategies))(probes)
    return jnp.moveaxis(v, -1, 0)
