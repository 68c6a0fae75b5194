r"""A linear-quadratic public-goods game with a matching subsidy (known Nash, optimum and subsidy).

M = 3 players contribute x_i >= 0 to a public good G = sum_j x_j. Everyone enjoys the benefit
B(G) = alpha G - (gamma / 2) G^2; contributing costs (c / 2) x_i^2; the designer pays a subsidy
theta per unit contributed (financed outside the game, e.g. by lump-sum taxes that do not depend
on x). Player i's utility is

    f^i(x) = alpha G - (gamma / 2) G^2 - (c / 2) x_i^2 + theta x_i.

**Social welfare** (`welfare`) counts the subsidy as a transfer:
W(x) = sum_i [B(G) - (c/2) x_i^2] = M B(G) - (c/2) sum_i x_i^2.

**Closed forms** (no budget binds):

- Nash equilibrium (free riding): x_i = (alpha + theta - gamma G)/c, so
  x^N(theta) = (alpha + theta) / (c + gamma M) for every i.
- Social optimum (Samuelson condition M B'(G) = c x_i):
  x^SO = M alpha / (c + gamma M^2).
- Optimal (Pigouvian) subsidy, x^N(theta*) = x^SO: theta* equals the marginal external benefit
  (M - 1) B'(G^SO), i.e.

      theta* = (M - 1) alpha c / (c + gamma M^2),

  and it attains the first best, W(x^N(theta*)) = max W. With the defaults (alpha = 10,
  gamma = 0.5, c = 1): x^N(0) = 4, x^SO = 60/11, theta* = 40/11.

With budgets, both solve x_i = min(w_i, s) with a common level s (s = (alpha + theta - gamma G)/c
at Nash, s = M (alpha - gamma G)/c at the optimum): `nash_contributions` and `social_optimum`
compute them exactly by water-filling over the sorted budgets.

**Probes and revealed preferences.** The probe is an endowment (budget) per player,
w in [budget_min, budget_max]^3: constraints x_i <= w_i and revealed probe functions
g^i(x) = x_i / w_i - 1. Contributions are under-provided, so budgets bind only for poor players
or high subsidies: player i exhausts its probe iff (alpha + theta - gamma G)/c >= w_i. When every
budget binds (for all probes in the box iff theta >= (c + gamma M) budget_max - alpha) the data are
trivially consistent (L = 0); the Pareto gap therefore favours over-subsidising (theta above
theta*), again showing that L -> 0 (Pareto optimality for the players, who are paid the subsidy)
and the true welfare optimum differ.
"""

import jax.numpy as jnp

from .._game import AbstractGame
from ._checks import check_number


def _water_fill(caps, A, gamma, c):
    """x_i = clip(s, 0, caps_i) with s = (A - gamma sum_j x_j)/c, exactly (A, gamma, c > 0)."""
    M = caps.shape[0]
    w = jnp.sort(caps)
    W = jnp.concatenate([jnp.zeros(1, w.dtype), jnp.cumsum(w)])  # sum of the j smallest caps
    j = jnp.arange(M + 1, dtype=w.dtype)
    s = (A - gamma * W) / (c + gamma * (M - j))  # level if exactly the j smallest caps bind
    lo = jnp.concatenate([jnp.full(1, -jnp.inf, w.dtype), w])  # w_(j)
    hi = jnp.concatenate([w, jnp.full(1, jnp.inf, w.dtype)])  # w_(j+1)
    valid = (s >= lo) & (s <= hi)
    level = s[jnp.argmax(valid)]
    return jnp.clip(level, 0.0, caps)


class PublicGoods(AbstractGame):
    """Three-player linear-quadratic public-goods game with a matching subsidy (see module doc).

    **Arguments:**

    - `alpha`, `gamma`: benefit B(G) = alpha G - gamma G^2 / 2 (defaults 10, 0.5).
    - `cost`: contribution cost c x_i^2 / 2 (default 1).
    - `budget_min`, `budget_max`: probe box of endowments (defaults 0.5, 8).
    - `subsidy_max`: mechanism box theta in [0, subsidy_max] (default 10).

    theta = [subsidy], probe = budgets (3,), x has shape (3,).
    """

    num_agents = 3
    action_dim = None
    theta_dim = 1
    probe_dim = 3

    alpha: float = 10.0
    gamma: float = 0.5
    cost: float = 1.0
    budget_min: float = 0.5
    budget_max: float = 8.0
    subsidy_max: float = 10.0

    def __check_init__(self):
        cls = "PublicGoods"
        check_number(cls, "alpha", self.alpha)
        check_number(cls, "gamma", self.gamma, lower=0.0, strict=True)
        check_number(cls, "cost", self.cost, lower=0.0, strict=True)
        check_number(cls, "budget_min", self.budget_min, lower=0.0, strict=True)
        check_number(cls, "budget_max", self.budget_max, lower=self.budget_min)
        check_number(cls, "subsidy_max", self.subsidy_max, lower=0.0)

    @property
    def kkt_affine(self) -> bool:
        return True

    @property
    def theta_bounds(self):
        return jnp.zeros(1), jnp.array([self.subsidy_max])

    @property
    def probe_bounds(self):
        return jnp.full(3, self.budget_min), jnp.full(3, self.budget_max)

    def benefit(self, total):
        """B(G) = alpha G - gamma G^2 / 2."""
        return self.alpha * total - 0.5 * self.gamma * total**2

    def utilities(self, theta, x):
        return self.benefit(jnp.sum(x)) - 0.5 * self.cost * x**2 + theta[0] * x

    def constraints(self, probe, x):
        return x - probe

    def revealed_constraints(self, probe, x):
        return x / probe - 1.0

    # ------------------------------------------------------------------ known to a test harness
    def welfare(self, theta, x):
        """W(x) = M B(G) - (c/2) sum x_i^2 (the subsidy is a transfer)."""
        del theta
        return self.num_agents * self.benefit(jnp.sum(x)) - 0.5 * self.cost * jnp.sum(x**2)

    def nash_contributions(self, theta, probe=None):
        """Closed-form Nash equilibrium (budgets `probe` optional), shape (3,)."""
        caps = self._caps(probe)
        A = self.alpha + jnp.asarray(theta).reshape(())
        return _water_fill(caps, A, self.gamma, self.cost)

    def social_optimum(self, theta=None, probe=None):
        """argmax W(x) s.t. 0 <= x (<= budgets if given); `theta` unused (a transfer)."""
        del theta
        M = self.num_agents
        return _water_fill(self._caps(probe), M * self.alpha, M * self.gamma, self.cost)

    def optimal_subsidy(self):
        """theta* = (M - 1) alpha c / (c + gamma M^2), shape (1,)."""
        M = self.num_agents
        return jnp.array([(M - 1) * self.alpha * self.cost / (self.cost + self.gamma * M**2)])

    def _caps(self, probe):
        if probe is None:
            return jnp.full(3, jnp.inf)
        probe = jnp.asarray(probe)
        if probe.shape != (3,):
            raise ValueError(f"`probe` must have shape (3,); got {probe.shape}.")
        return probe
