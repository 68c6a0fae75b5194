r"""A Cournot duopoly with a pollution externality and a per-unit emission tax (known optimal tax).

Two firms choose outputs q_i >= 0; each unit of output emits one unit of pollution. Inverse demand
is P(Q) = a - b Q (Q = q_1 + q_2), firm i has constant marginal cost c_i, and the designer sets a
per-unit tax theta (theta < 0 is a subsidy). Firm i's profit (its utility) is

    f^i(q) = (a - b Q - c_i - theta) q_i.

The environmental damage D(Q) = d_1 Q + (d_2 / 2) Q^2 is ignored by the firms. **Social welfare**
(`welfare`) is consumer surplus + profits + tax revenue - damage; the tax is a transfer, so

    W(q) = a Q - b Q^2 / 2 - sum_i c_i q_i - D(Q)            (independent of theta).

Note that `welfare` therefore is *not* the sum of the firms' utilities (the base-class default).

**Cournot equilibrium** (no caps, every firm active; n = 2 firms):

    Q(theta) = (n (a - theta) - sum_j c_j) / ((n + 1) b),
    q_i(theta) = (a - theta - (n + 1) c_i + sum_j c_j) / ((n + 1) b).

**Optimal (second-best) tax.** Every firm's output falls at the same rate 1/((n+1) b) in theta, so
dW/dtheta = 0 iff n (a - D'(Q) - b Q) = sum_j c_j, i.e. P(Q*) = c_bar + D'(Q*) with c_bar the mean
cost, and

    Q* = (a - c_bar - d_1) / (b + d_2),        theta* = D'(Q*) - b Q* / n
                                                      = d_1 + d_2 Q* - b Q* / n.

W(q(theta)) is a concave quadratic in theta, so theta* is its unique maximiser (while all firms
stay active). Under Cournot the optimal tax is *below* the marginal damage D'(Q*) by the market-
power term b Q*/n = |P'(Q*)| Q*/n (Buchanan 1969; Barnett 1980): the tax must correct the
externality and the oligopolist's output restriction at once, and it is a subsidy if marginal
damage is small. With equal costs the second best is the first best (W(q(theta*)) = max W). With
unequal costs it is not: the first best (`social_optimum`) lets only the cheapest firm produce,
Q_FB = (a - c_min - d_1)/(b + d_2), which no uniform tax achieves. With the defaults (a = 10,
b = 1, c = (1, 2), d_1 = 0, d_2 = 1): Q* = 4.25, theta* = 2.125 < D'(Q*) = 4.25.

**Probes and revealed preferences.** The probe is a production (equivalently emission) cap per
firm, kappa in [cap_min, cap_max]^2: constraints q_i <= kappa_i, revealed probe functions
g^i(q) = q_i / kappa_i - 1 (own output only). A firm exhausts its probe (g = 0) exactly when its
cap binds; otherwise g < 0 and the revealed-preference data show "budget left unspent", which the
Pareto gap counts against the data (L >= 1 - q_i/kappa_i for every non-binding cap). Each firm's
profit is increasing in its own output below its best response, so when every cap binds the data
are consistent (L = 0) whatever theta is. The Pareto gap therefore rewards taxes low enough that
the caps bind -- it measures Pareto optimality *for the firms*, not social welfare -- and does not
point to theta*: this game is the cleanest example that L -> 0 and the true welfare optimum differ.
"""

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array

from .._game import AbstractGame
from ._checks import check_number, check_shape


class CournotPollution(AbstractGame):
    """Cournot duopoly with linear demand, pollution damage and a per-unit tax (see module doc).

    **Arguments:**

    - `a`, `b`: inverse demand P(Q) = a - b Q (defaults 10, 1).
    - `costs`: marginal costs (c_1, c_2) (default (1, 2)).
    - `damage_linear`, `damage_quadratic`: D(Q) = d_1 Q + d_2 Q^2 / 2 (defaults 0, 1).
    - `cap_min`, `cap_max`: the probe box of production caps (defaults 0.5, 5).
    - `tax_max`: the mechanism box is theta in [-tax_max, tax_max] (default 10).

    theta = [tax], probe = [cap_1, cap_2], q has shape (2,).
    """

    num_agents = 2
    action_dim = None
    theta_dim = 1
    probe_dim = 2

    a: float = 10.0
    b: float = 1.0
    costs: Array = eqx.field(default_factory=lambda: jnp.asarray([1.0, 2.0]))
    damage_linear: float = 0.0
    damage_quadratic: float = 1.0
    cap_min: float = 0.5
    cap_max: float = 5.0
    tax_max: float = 10.0

    def __check_init__(self):
        if jnp.shape(self.costs) != (2,):
            raise ValueError(f"`costs` must have shape (2,); got {jnp.shape(self.costs)}.")
        cls = "CournotPollution"
        check_shape(cls, "costs", self.costs, (2,))
        check_number(cls, "a", self.a)
        check_number(cls, "b", self.b, lower=0.0, strict=True)
        check_number(cls, "damage_linear", self.damage_linear)
        check_number(cls, "damage_quadratic", self.damage_quadratic, lower=0.0)
        check_number(cls, "cap_min", self.cap_min, lower=0.0, strict=True)
        check_number(cls, "cap_max", self.cap_max, lower=self.cap_min)
        check_number(cls, "tax_max", self.tax_max, lower=0.0)

    @property
    def kkt_affine(self) -> bool:
        return True

    @property
    def theta_bounds(self):
        return jnp.array([-self.tax_max]), jnp.array([self.tax_max])

    @property
    def probe_bounds(self):
        return jnp.full(2, self.cap_min), jnp.full(2, self.cap_max)

    def utilities(self, theta, x):
        return (self.a - self.b * jnp.sum(x) - jnp.asarray(self.costs, x.dtype) - theta[0]) * x

    def constraints(self, probe, x):
        return x - probe

    def revealed_constraints(self, probe, x):
        return x / probe - 1.0

    # ------------------------------------------------------------------ known to a test harness
    def damage(self, total):
        """Environmental damage D(Q) = d_1 Q + d_2 Q^2 / 2."""
        return self.damage_linear * total + 0.5 * self.damage_quadratic * total**2

    def welfare(self, theta, x):
        """Social welfare W(q) = a Q - b Q^2/2 - sum c_i q_i - D(Q) (theta is a transfer)."""
        del theta
        Q = jnp.sum(x)
        return self.a * Q - 0.5 * self.b * Q**2 - jnp.sum(jnp.asarray(self.costs, x.dtype) * x) - self.damage(Q)

    def cournot_output(self, theta):
        """Closed-form Cournot equilibrium q(theta) without caps, valid while both q_i > 0."""
        n = self.num_agents
        t = jnp.asarray(theta).reshape(())
        return (self.a - t - (n + 1) * self.costs + jnp.sum(self.costs)) / ((n + 1) * self.b)

    def optimal_tax(self):
        """theta* = D'(Q*) - b Q*/n with Q* = (a - c_bar - d_1)/(b + d_2), shape (1,).

        Raises (via `eqx.error_if`) if some firm would not be active at theta* (the closed form
        assumes both firms produce).
        """
        n = self.num_agents
        Q = (self.a - jnp.mean(self.costs) - self.damage_linear) / (self.b + self.damage_quadratic)
        theta = self.damage_linear + self.damage_quadratic * Q - self.b * Q / n
        q = self.cournot_output(theta)
        theta = eqx.error_if(theta, jnp.any(q <= 0) | (Q <= 0),
                             "the closed-form optimal tax assumes every firm is active at theta*.")
        return jnp.reshape(theta, (1,))

    def social_optimum(self, theta=None, probe=None):
        """First-best outputs argmax_q W(q) s.t. q >= 0 (and q <= probe caps if given).

        Water-filling in order of cost: a firm produces while price minus marginal damage
        a - b Q - D'(Q) exceeds its cost. `theta` is unused (the tax is a transfer); it is accepted
        so that every game offers `social_optimum(theta, probe)`.
        """
        del theta
        c = jnp.asarray(self.costs)
        caps = jnp.full(c.shape, jnp.inf, c.dtype) if probe is None else jnp.asarray(probe)
        order = jnp.argsort(c)
        cs, ks = c[order], caps[order]
        before = jnp.concatenate([jnp.zeros(1, ks.dtype), jnp.cumsum(ks)[:-1]])
        target = (self.a - self.damage_linear - cs) / (self.b + self.damage_quadratic)
        q_sorted = jnp.clip(target - before, 0.0, ks)
        # once a firm is not filled to its cap, later (costlier) firms produce nothing
        filled = jnp.concatenate([jnp.ones(1, bool), jnp.cumprod(q_sorted >= ks)[:-1].astype(bool)])
        q_sorted = jnp.where(filled, q_sorted, 0.0)
        return jnp.zeros_like(q_sorted).at[order].set(q_sorted)
