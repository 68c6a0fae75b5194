r"""The linear-budget exchange game of the paper's App. A.2 (the Figure 7 experiment).

Three agents i = 1, 2, 3 each buy a bundle b = (b_1, b_2) >= 0 of two goods. The designer's probe t
posts agent-specific prices alpha_t^i in R^2_{>0} (paper: alpha_t^i ~ U(0.1, 1.1)^2, T = 5), and
agent i's budget is

    g_t^i(b) = <alpha_t^i, b> - 1 <= 0,

the triangle with vertices 0, e_1 / alpha_1, e_2 / alpha_2. The probe vector is the (3, 2) price
array flattened (probe_dim 6). Utilities (paper eq. 22):

    f^1(b) = b_1 + b_2,    f^2(b) = b_1 + b_2^{1/4},    f^3(b) = b_1^{1/4} + b_2.

**No interaction.** Each f^i depends on agent i's own bundle only, so the "mixed Nash equilibrium"
of eq. (22) is each agent's own demand: `BudgetGame.demand(probe)` returns it in closed form (write
alpha = alpha_t^i):

- agent 1 spends everything on the cheaper good: b = e_j / alpha_j, j = argmin_j alpha_j;
- agent 2: b_2 = min((alpha_1 / (4 alpha_2))^{4/3}, 1 / alpha_2), b_1 = (1 - alpha_2 b_2) / alpha_1
  (the first-order condition; interior for every alpha in (0.1, 1.1)^2, where alpha_2 b_2 <= 0.386);
- agent 3 mirrors agent 2 with the goods swapped.

Every demand exhausts its budget (g_t^i = 0) and comes from a concave monotone utility, so the
nominal Pareto gap of these data is 0 (Theorem 1): any robust gap comes from the Wasserstein ball
(docs/robust.md). The generic `solve_equilibrium` is *not* the way to solve this game (b^{1/4} has
an infinite derivative at 0, which the semismooth Newton solver handles badly); use `demand`.

**Mixed strategies.** With `noise = 0` (the paper's eq. 22 read literally) the equilibrium is a pure
strategy and `sample_strategy` returns N copies of it. With `noise = s in (0, 1]` every observed
sample shrinks each good of the demand by an independent factor (1 - s u), u ~ U(0, 1): the agent
leaves a random share of its budget unspent. The samples are then genuinely mixed and, because
they are componentwise below the demand, they stay inside the budget set (as eq. (6) requires of a
mixed strategy) without `sample_strategy` needing the prices.

**Mechanism (an extension for Figure 5).** The paper's A.2 experiment has no mechanism. To run
Algorithm 1 on this game, `theta in [0, 1]^3` is a per-agent sales tax: agent i faces the prices
(1 + theta_i) alpha_t^i while the designer's probe stays g_t^i(b) = <alpha_t^i, b> - 1, so a taxed
agent spends only 1/(1 + theta_i) of its budget and the Pareto gap is at least
max_i theta_i / (1 + theta_i) (its self-loop). theta = 0 is the paper's game. The tax enters through
`demand(probe, theta)` / `equilibrium(theta, probe)` only: the game API's `constraints(probe, x)`
has no theta argument, so `solve_equilibrium` cannot see the tax (and is not the way to solve this
game anyway, see above).
"""

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from .._game import AbstractBudgetGame, AbstractClosedFormGame

_QUARTER = 0.25


def _root4(x):
    return jnp.maximum(x, 0.0) ** _QUARTER


class BudgetGame(AbstractBudgetGame, AbstractClosedFormGame):
    """The three-agent, two-good linear-budget game of paper App. A.2.

    **Arguments:**

    - `noise`: tremble of the observed samples in [0, 1] (default 0: pure strategies; see the
      module docstring).

    Probe = the prices alpha_t flattened from shape (3, 2); joint action x of shape (3, 2) (agent
    i's bundle is `x[i]`). `prices(probe)` reshapes a probe, `demand(probe)` is the equilibrium.

    ```python
    >>> import jax.numpy as jnp, jaxmd_rp as rp
    >>> game = rp.games.BudgetGame()
    >>> x = game.demand(jnp.array([0.5, 1.0, 0.5, 1.0, 1.0, 0.5]))
    >>> [round(float(v), 4) for v in x[0]]  # agent 1 buys only the cheaper good 1
    [2.0, 0.0]

    ```
    """

    num_agents = 3
    action_dim = 2
    theta_dim = 3
    probe_dim = 6

    noise: float = 0.0

    def __check_init__(self):
        if isinstance(self.noise, (int, float)) and not 0.0 <= self.noise <= 1.0:
            raise ValueError(f"`noise` must lie in [0, 1]; got {self.noise}.")

    @property
    def theta_bounds(self) -> tuple[Array, Array]:
        """Sales taxes theta_i in [0, 1] (0 = the paper's game)."""
        return jnp.zeros(3), jnp.ones(3)

    @property
    def probe_bounds(self) -> tuple[Array, Array]:
        """Prices alpha_t^i ~ U(0.1, 1.1)^2 (paper eq. 22)."""
        return jnp.full(6, 0.1), jnp.full(6, 1.1)

    def prices(self, probe: Float[Array, " 6"]) -> Float[Array, "3 2"]:
        """The (3, 2) price array alpha_t of a probe (row i = agent i's prices)."""
        probe = jnp.asarray(probe)
        if probe.shape[-1] != 6:
            raise ValueError(f"`probe` must have last axis 6 (3 agents x 2 goods); got {probe.shape}.")
        return probe.reshape(probe.shape[:-1] + (3, 2))

    def utilities(self, theta, x) -> Float[Array, " 3"]:
        """f^i(x_i) (the tax changes the agents' budgets, not their utilities)."""
        del theta
        x = jnp.asarray(x)
        return jnp.stack([
            x[0, 0] + x[0, 1],
            x[1, 0] + _root4(x[1, 1]),
            _root4(x[2, 0]) + x[2, 1],
        ])

    def constraints(self, probe, x) -> Float[Array, " 3"]:
        """The budgets themselves: the designer's probe g_t^i(x) = <alpha_t^i, x_i> - 1."""
        return self.revealed_constraints(probe, x)

    def demand(self, probe, theta=None) -> Float[Array, "3 2"]:
        """The closed-form demands at the probe's prices, shape (3, 2): the game's (unique, pure)
        Nash equilibrium, since the agents do not interact. With `theta` (sales taxes), agent i
        buys at the prices (1 + theta_i) alpha_t^i."""
        a = self.prices(probe)
        dt = a.dtype
        if theta is not None:
            a = a * (1.0 + jnp.asarray(theta, dt))[:, None]
        # agent 1: all income on the cheaper good (ties: good 1)
        a1 = a[0]
        cheap1 = a1[0] <= a1[1]
        x1 = jnp.where(cheap1, jnp.stack([1.0 / a1[0], jnp.zeros((), dt)]),
                       jnp.stack([jnp.zeros((), dt), 1.0 / a1[1]]))
        # agent 2: b1 + b2^(1/4)
        p1, p2 = a[1, 0], a[1, 1]
        b2 = jnp.minimum((p1 / (4.0 * p2)) ** (4.0 / 3.0), 1.0 / p2)
        x2 = jnp.stack([jnp.maximum(1.0 - p2 * b2, 0.0) / p1, b2])
        # agent 3: b1^(1/4) + b2 (mirror)
        q1, q2 = a[2, 0], a[2, 1]
        c1 = jnp.minimum((q2 / (4.0 * q1)) ** (4.0 / 3.0), 1.0 / q1)
        x3 = jnp.stack([c1, jnp.maximum(1.0 - q1 * c1, 0.0) / q2])
        return jnp.stack([x1, x2, x3])

    def equilibrium(self, theta, probe) -> Float[Array, "3 2"]:
        """`demand(probe, theta)` with the `(theta, probe)` argument order of the solvers."""
        return self.demand(probe, theta)

    def sample_strategy(self, key, x, num_samples: int) -> Array:
        """N samples of the equilibrium `x` (3, 2): copies for `noise = 0`, else each good shrunk
        by an independent factor (1 - noise * u), u ~ U(0, 1) (stays in the budget set)."""
        x = jnp.asarray(x)
        if isinstance(self.noise, (int, float)) and self.noise == 0:
            return jnp.broadcast_to(x, (num_samples,) + x.shape)
        u = jax.random.uniform(key, (num_samples,) + x.shape, dtype=x.dtype)
        return x * (1.0 - jnp.asarray(self.noise, x.dtype) * u)

