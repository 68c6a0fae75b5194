r"""Finite-action games in mixed strategies, and the inspection game (unique mixed equilibrium).

**Finite games on the game API** (`AbstractFiniteGame`). M players each have K pure actions.
Player i's action x_i is a *mixed strategy*, a probability vector in R^K: x has shape (M, K),
x >= 0 (the default action bound) and the simplex is imposed by two inequalities per player,
sum_k x_ik - 1 <= 0 and 1 - sum_k x_ik <= 0 (`simplex_constraints`). Utilities are expected
payoffs, f^i(x) = sum_a P^i[a] prod_j x_{j, a_j} with the payoff tensor P(theta) of shape
(M, K, ..., K). They are linear in the player's own strategy, so every KKT point of the
normalized-equilibrium system is a Nash equilibrium of the mixed extension; with two players the
KKT system is affine (a linear complementarity problem) and `solve_equilibrium` uses the exact
active-set enumeration by default. A game with several equilibria returns one of them.

Observations are *samples* (paper eqs. 12-13): `sample_strategy` draws N pure action profiles
from the equilibrium, each player independently from x_i, as one-hot vectors (shape (N, M, K)).
Probe functions should be linear in x_i so that the mean over samples of g(sample) equals g at the
empirical frequencies.

**The inspection game** (`InspectionGame`; Tsebelis 1989; Avenhaus, von Stengel & Zamir 2002).
A firm chooses comply / violate, an inspector inspect / not inspect. Violating gains g; a caught
violator pays the fine theta (the mechanism). Inspecting costs k; catching a violation is worth
r to the inspector, an undetected violation costs it h. Payoffs (rows: firm's comply, violate;
columns: inspector's inspect, not):

    firm       [[0,          0],          inspector  [[-k,      0],
                [g - theta,  g]]                      [r - k,  -h]]

**Known answer.** For theta > g and k < r + h there is no pure equilibrium and the unique
equilibrium is mixed, with

    P(violate) = p* = k / (r + h),       P(inspect) = q* = g / theta.

The inspector's indifference fixes the violation rate, so p* does *not* depend on the fine:
raising theta only lowers the inspection rate (the "paradox of penalties"). For theta < g
violating is dominant (p = 1) and the inspector inspects. Defaults g = 1, k = 1, r = h = 2:
p* = 1/4, q* = 1/theta.

**Probe.** A cap per player on its "active" action: the firm's violation probability and the
inspector's inspection probability (an inspection capacity), kappa in [cap_min, 1]^2. The
constraints are x_{firm, violate} <= kappa_1 and x_{inspector, inspect} <= kappa_2; the revealed
probe functions are g^1(x) = x_{1, violate}/kappa_1 - 1 and g^2(x) = x_{2, inspect}/kappa_2 - 1
(linear, so the sample mean is g at the empirical frequency). With the capped box the equilibrium
is, in closed form (`equilibrium`), with q_bar = g / theta:

- kappa_1 > p* and kappa_2 > q_bar: the interior mixed equilibrium (p*, q_bar), no cap binds;
- kappa_1 > p* and kappa_2 < q_bar: (kappa_1, kappa_2), both caps bind (g = 0 for both);
- kappa_1 < p*: (kappa_1, 0), the firm's cap binds and the inspector never inspects.

The default probe box has cap_min = 0.3 > p*, so the last case does not occur. The Pareto gap is 0
exactly when every probe is of the second kind -- low fines (theta < g / max_t kappa_2) make the
data consistent with Pareto optimality *for the two players* (the firm's gain, the inspector's
saved effort) -- while the interior case leaves both caps slack (L > 0). With samples, the
empirical frequencies fluctuate around the caps and L > 0 even at binding probes.
"""

import abc
import string

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from .._game import AbstractGame
from ._checks import check_number


class AbstractFiniteGame(AbstractGame):
    """A finite normal-form game in mixed strategies: x has shape (M, K), each row in the simplex.

    Subclasses set `num_agents`, `action_dim` (= K), `theta_dim`, `probe_dim`, implement
    `payoffs(theta)` (shape (M, K, ..., K)), `constraints` (include `simplex_constraints(x)`) and
    `revealed_constraints`.
    """

    @abc.abstractmethod
    def payoffs(self, theta) -> Float[Array, "M ..."]:
        """Payoff tensor P[i, a_1, ..., a_M] of every pure action profile, shape (M, K, ..., K)."""

    @property
    def kkt_affine(self) -> bool:
        """Expected payoffs are multilinear: affine own-gradients iff there are two players."""
        return self.num_agents == 2

    def joint_distribution(self, x) -> Float[Array, " D"]:
        """The product distribution over the D = K^M pure profiles (C order), shape (D,)."""
        M = self.num_agents
        letters = string.ascii_lowercase[:M]
        spec = ",".join(letters) + "->" + letters
        return jnp.einsum(spec, *[x[i] for i in range(M)]).reshape(-1)

    def outcome_utilities(self, theta) -> Float[Array, "M D"]:
        """Payoffs of the D = K^M pure profiles, shape (M, D): preferences for `rank_k` etc."""
        P = self.payoffs(theta)
        return P.reshape(self.num_agents, -1)

    def utilities(self, theta, x):
        return self.outcome_utilities(theta) @ self.joint_distribution(x)

    def simplex_constraints(self, x):
        """sum_k x_ik - 1 <= 0 and 1 - sum_k x_ik <= 0 for every player, shape (2M,)."""
        s = jnp.sum(x, axis=1) - 1.0
        return jnp.concatenate([s, -s])

    def sample_strategy(self, key, x, num_samples):
        """N pure profiles drawn from the mixed strategy x, one-hot: shape (N, M, K)."""
        p = jnp.clip(x, 0.0, None)
        p = p / jnp.sum(p, axis=1, keepdims=True)
        logits = jnp.where(p > 0, jnp.log(jnp.where(p > 0, p, 1.0)), -jnp.inf)
        a = jax.random.categorical(key, logits, axis=-1, shape=(num_samples, self.num_agents))
        return jax.nn.one_hot(a, self.action_dim, dtype=x.dtype)


class InspectionGame(AbstractFiniteGame):
    """The inspection game: firm (comply, violate) vs inspector (inspect, not); see module doc.

    **Arguments:**

    - `gain`: the firm's gain g from violating (default 1).
    - `inspection_cost`: k (default 1).
    - `reward`: r, the inspector's value of catching a violation (default 2).
    - `harm`: h, the inspector's loss from an undetected violation (default 2).
    - `cap_min`: lower end of the probe box [cap_min, 1]^2 (default 0.3).
    - `fine_max`: the mechanism box theta in [0, fine_max] (default 10).

    theta = [fine]; probe = [cap on P(violate), cap on P(inspect)]; x has shape (2, 2) with rows
    firm (comply, violate) and inspector (inspect, not inspect).
    """

    num_agents = 2
    action_dim = 2
    theta_dim = 1
    probe_dim = 2

    gain: float = 1.0
    inspection_cost: float = 1.0
    reward: float = 2.0
    harm: float = 2.0
    cap_min: float = 0.3
    fine_max: float = 10.0

    def __check_init__(self):
        if not self.cap_min > 0:
            raise ValueError(f"`cap_min` must be positive; got {self.cap_min}.")
        cls = "InspectionGame"
        check_number(cls, "cap_min", self.cap_min, lower=0.0, upper=1.0, strict=True)
        check_number(cls, "fine_max", self.fine_max, lower=0.0, strict=True)
        for name in ("gain", "inspection_cost", "reward", "harm"):
            check_number(cls, name, getattr(self, name))

    @property
    def theta_bounds(self):
        return jnp.zeros(1), jnp.array([self.fine_max])

    @property
    def probe_bounds(self):
        return jnp.full(2, self.cap_min), jnp.ones(2)

    def payoffs(self, theta):
        g, k, r, h = self.gain, self.inspection_cost, self.reward, self.harm
        fine = theta[0]
        firm = jnp.stack([jnp.zeros(2, fine.dtype), jnp.stack([g - fine, g + 0 * fine])])
        insp = jnp.array([[-k, 0.0], [r - k, -h]], dtype=fine.dtype)
        return jnp.stack([firm, insp])

    def active(self, x):
        """(P(violate), P(inspect)), shape (2,)."""
        return jnp.stack([x[0, 1], x[1, 0]])

    def constraints(self, probe, x):
        return jnp.concatenate([self.simplex_constraints(x), self.active(x) - probe])

    def revealed_constraints(self, probe, x):
        return self.active(x) / probe - 1.0

    # ------------------------------------------------------------------ known to a test harness
    def mixed_equilibrium(self, theta):
        """(p*, q*) = (k/(r+h), g/theta) of the uncapped game (valid for theta > g, k < r+h)."""
        fine = jnp.asarray(theta).reshape(())
        return jnp.stack([self.inspection_cost / (self.reward + self.harm) + 0 * fine,
                          self.gain / fine])

    def equilibrium(self, theta, probe=None):
        """Closed-form equilibrium (P(violate), P(inspect)) with caps (see module doc), shape (2,).

        Assumes generic caps (no equality in the case conditions) and k < r + h.
        """
        fine = jnp.asarray(theta).reshape(())
        k1, k2 = self._caps(probe, fine.dtype)
        p_star = self.inspection_cost / (self.reward + self.harm)
        q_bar = jnp.where(fine > 0, self.gain / jnp.where(fine > 0, fine, 1.0), jnp.inf)
        interior = (k1 > p_star) & (k2 > q_bar)
        both = (k1 > p_star) & ~interior
        p = jnp.where(interior, p_star, k1)
        q = jnp.where(interior, q_bar, jnp.where(both, k2, 0.0))
        return jnp.stack([p, q])

    def _caps(self, probe, dtype):
        if probe is None:
            return jnp.ones(2, dtype)
        probe = jnp.asarray(probe)
        if probe.shape != (2,):
            raise ValueError(f"`probe` must have shape (2,); got {probe.shape}.")
        return jnp.minimum(probe, 1.0)

    def to_strategy(self, pq) -> Array:
        """(P(violate), P(inspect)) -> x of shape (2, 2)."""
        p, q = pq[0], pq[1]
        return jnp.stack([jnp.stack([1 - p, p]), jnp.stack([q, 1 - q])])

    def social_optimum(self, theta, probe=None):
        """argmax of the expected total payoff over (capped) mixed strategies, as x (2, 2).

        The total payoff is bilinear in (p, q), so the maximum over the box is at a vertex.
        """
        fine = jnp.asarray(theta).reshape(())
        k1, k2 = self._caps(probe, fine.dtype)
        ps = jnp.stack([0 * k1, k1])
        qs = jnp.stack([0 * k2, k2])
        cand = jnp.stack(jnp.meshgrid(ps, qs, indexing="ij"), -1).reshape(-1, 2)
        W = jax.vmap(lambda pq: self.welfare(theta, self.to_strategy(pq)))(cand)
        return self.to_strategy(cand[jnp.argmax(W)])
