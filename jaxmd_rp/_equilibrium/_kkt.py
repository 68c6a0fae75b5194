"""The KKT system of a game, assembled once for equilibria and social optima.

Every solve in jaxmd_rp -- the equilibrium of any concept and the planner's social optimum -- is a
mixed complementarity problem (MCP) in z = (x, lambda, nu):

    z in [L, U]  _|_  Phi(z) = [ G(x, lambda, nu);  -h(x);  -e(x) ],

meaning, coordinate by coordinate: Phi_j >= 0 where z_j = L_j, Phi_j <= 0 where z_j = U_j and
Phi_j = 0 in between. The action box [lower, upper] of the game is the box of x (infinite bounds
are free variables); inequality multipliers lambda lie in [0, inf), equality multipliers nu are
free. The reduced gradient is

    G_j = F_j(x) + sum_c W_cj dh_c/dx_j lambda_c + sum_e W'_ej de_e/dx_j nu_e,

with F the pseudo-gradient -[d f^i / d x_i]_i (or -grad W for the planner) and the weights
W_cj = 1 / r_{i(j)} for a shared constraint (Rosen's weights r, default 1) and
W_cj = [owner(c) == i(j)] for a constraint owned by one player (i(j) is the player of
coordinate j). All shared constraints with equal weights give the variational equilibrium, Rosen
weights a normalized equilibrium, owned constraints a generalized Nash equilibrium with
player-owned multipliers, no constraints a Nash equilibrium, and the planner the social optimum.

`MCP` holds this system; the solvers see nothing else. `fb` is its Fischer-Burmeister
reformulation for box MCPs (Billups 1995; Facchinei & Pang 2003, 9.4), with
phi(a, b) = a + b - sqrt(a^2 + b^2) evaluated without cancellation; `natural_residual` is
max |z - clip(z - Phi, L, U)| with the part decided by a finite bound measured relative to
1 + |bound| (a solution at lower = -1e6 is accurate to rounding, not to an absolute 1e-10).
"""

from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array

from .._game_checks import action_bounds, checked_call, owners, weights

FREE, LOWER, UPPER, BOTH = 0, 1, 2, 3


def fischer_burmeister(a, b):
    """phi(a, b) = a + b - sqrt(a^2 + b^2) (0 iff a, b >= 0 and ab = 0), computed as
    2ab / (a + b + sqrt(a^2 + b^2)) where a + b > 0 (no cancellation), with the derivative (1, 1)
    at (0, 0)."""
    s = a + b
    r2 = a * a + b * b
    pos = r2 > 0
    r = jnp.where(pos, jnp.sqrt(jnp.where(pos, r2, 1.0)), 0.0)
    stable = 2.0 * a * b / jnp.where(s > 0, s + r, 1.0)
    return jnp.where(s > 0, stable, s - r)


class MCP(eqx.Module):
    """A box-constrained mixed complementarity problem z in [L, U] _|_ Phi(z) (module docstring).

    Built by `assemble`; `n` actions, `C` inequality and `E` equality multipliers.
    """

    F: Callable  # x (n,) -> pseudo-gradient (n,)
    ni_values: Callable  # (x, y) -> (f^b(y_b, x_-b))_b: the Nikaido-Isoda terms, for NIRA
    objective: Callable  # x (n,) -> objective of every block (B,) (utilities, or [welfare])
    ineq: Callable  # x (n,) -> h(x) (C,)
    eq: Callable  # x (n,) -> e(x) (E,)
    lower: Array  # (N,), N = n + C + E
    upper: Array  # (N,)
    inv_weight: Array | None  # (n,) 1 / r_{i(j)}, or None (equal weights)
    n: int = eqx.field(static=True)
    C: int = eqx.field(static=True)
    E: int = eqx.field(static=True)
    block_of: tuple = eqx.field(static=True)  # block (player) of each action coordinate
    blocks: tuple = eqx.field(static=True)  # (start, stop) of each block
    owner_ineq: tuple = eqx.field(static=True)  # -1 = shared, else the owning block
    owner_eq: tuple = eqx.field(static=True)
    kinds: tuple | None = eqx.field(static=True)  # FREE/LOWER/UPPER/BOTH per z coordinate
    concept: str = eqx.field(static=True)

    def response(self, x):
        """NIRA's optimum-response gradient at x: y -> -grad_y sum_b f^b(y_b, x_-b)."""
        return lambda y: -jax.grad(lambda yy: jnp.sum(self.ni_values(x, yy)))(y)

    def ni_gap(self, x, y):
        """sum_b r_b [f^b(y_b, x_-b) - f^b(x)] (Rosen weights r; >= 0 when x is feasible and y is
        the optimum response at x)."""
        gain = self.ni_values(x, y) - self.objective(x)
        if self.inv_weight is None:
            return jnp.sum(gain)
        r = 1.0 / self.inv_weight[np.asarray([b[0] for b in self.blocks])]
        return jnp.sum(r * gain)

    def split(self, z):
        """(x, lambda, nu) of z."""
        return z[: self.n], z[self.n : self.n + self.C], z[self.n + self.C :]

    def _weighted(self, fn, x, mult, own):
        """(sum_c W_cj dfn_c/dx_j mult_c)_j for the constraints `fn` with owners `own`."""
        own = np.asarray(own, dtype=int)
        if np.all(own < 0):  # all shared: one vector-Jacobian product
            out = jax.vjp(fn, x)[1](mult)[0]
            return out if self.inv_weight is None else out * self.inv_weight
        J = jax.jacfwd(fn)(x)  # (K, n)
        block = np.asarray(self.block_of)
        owned = (own[:, None] == block[None, :]).astype(x.dtype)
        shared = (own < 0)[:, None].astype(x.dtype)
        w = jnp.ones((1, self.n), x.dtype) if self.inv_weight is None else self.inv_weight[None]
        return ((owned + shared * w) * J).T @ mult

    def reduced_gradient(self, x, lam, nu, F=None):
        """(G, h, e) at (x, lambda, nu); `F` overrides the pseudo-gradient function."""
        G = (self.F if F is None else F)(x)
        h = self.ineq(x)
        e = self.eq(x)
        if self.C:
            G = G + self._weighted(self.ineq, x, lam, self.owner_ineq)
        if self.E:
            G = G + self._weighted(self.eq, x, nu, self.owner_eq)
        return G, h, e

    def phi(self, z, F=None):
        """Phi(z) = [G; -h; -e]."""
        x, lam, nu = self.split(z)
        G, h, e = self.reduced_gradient(x, lam, nu, F)
        return jnp.concatenate([G, -h, -e])

    def _kinds(self):
        if self.kinds is not None:
            return np.asarray(self.kinds)
        return None

    def fb(self, z, F=None):
        """The Fischer-Burmeister reformulation: zero exactly at the solutions of the MCP."""
        P = self.phi(z, F)
        kinds = self._kinds()
        if kinds is not None and np.all(kinds == LOWER):
            return fischer_burmeister(z - self.lower, P)
        has_l = jnp.isfinite(self.lower) if kinds is None else (kinds == LOWER) | (kinds == BOTH)
        has_u = jnp.isfinite(self.upper) if kinds is None else (kinds == UPPER) | (kinds == BOTH)
        a = z - jnp.where(has_l, self.lower, 0.0)
        c = jnp.where(has_u, self.upper, 0.0) - z
        inner = fischer_burmeister(c, -P)
        out = jnp.where(has_l, fischer_burmeister(a, jnp.where(has_u, -inner, P)),
                        jnp.where(has_u, -inner, P))
        return out

    def natural_residual(self, z, F=None):
        """max_j |median(z_j - L_j, Phi_j, z_j - U_j)|, relative to 1 + |bound| where a finite
        bound decides the component (see the module docstring)."""
        P = self.phi(z, F)
        lo_gap, hi_gap = z - self.lower, z - self.upper
        r = jnp.clip(P, hi_gap, lo_gap)
        at_lo, at_hi = P > lo_gap, P < hi_gap
        one = jnp.ones_like(z)
        scale = jnp.where(at_lo, one + jnp.abs(jnp.where(at_lo, self.lower, 0.0)),
                          jnp.where(at_hi, one + jnp.abs(jnp.where(at_hi, self.upper, 0.0)), one))
        return jnp.max(jnp.abs(r) / scale, initial=0.0)

    def feasibility(self, x):
        """Largest violation of h(x) <= 0 and e(x) = 0 (0 when there are no constraints)."""
        v = jnp.concatenate([self.ineq(x), jnp.abs(self.eq(x))])
        return jnp.maximum(jnp.max(v, initial=0.0), 0.0)


def _concept(planner, own_ineq, own_eq, weights_given):
    if planner:
        return "social_optimum"
    if own_ineq.size + own_eq.size == 0:
        return "nash"
    if np.any(own_ineq >= 0) or np.any(own_eq >= 0):
        return "generalized"
    return "normalized" if weights_given else "variational"


def _static_kinds(lo, hi, C, E):
    """FREE/LOWER/UPPER/BOTH per z coordinate, or None when the bounds are traced."""
    try:
        nlo, nhi = np.asarray(lo), np.asarray(hi)
    except (jax.errors.TracerArrayConversionError, jax.errors.ConcretizationTypeError):
        return None
    k = np.isfinite(nlo) * LOWER + np.isfinite(nhi) * UPPER
    return tuple(int(v) for v in np.concatenate([k, np.full(C, LOWER), np.full(E, FREE)]))


def game_functions(game, theta, probe, dtype):
    """The checked, flat-action versions of the game's methods: (utilities, ineq, eq, welfare)."""
    shape, M = game.action_shape, game.num_agents

    def utilities(x):
        u = checked_call(game, "utilities", (theta, jnp.reshape(x, shape)), shape=(M,),
                         what="one utility per player, a float array")
        return u.astype(dtype)

    def ineq(x):
        h = checked_call(game, "constraints", (probe, jnp.reshape(x, shape)), ndim=1,
                         what="a 1-D float array (C,) of constraint values h(x) <= 0")
        return h.astype(dtype)

    def eq(x):
        e = checked_call(game, "equality_constraints", (probe, jnp.reshape(x, shape)), ndim=1,
                         what="a 1-D float array (E,) of equality constraint values e(x) = 0")
        return e.astype(dtype)

    def welfare(x):
        w = checked_call(game, "welfare", (theta, jnp.reshape(x, shape)), shape=(),
                         what="a float scalar (the social welfare)")
        return w.astype(dtype)

    return utilities, ineq, eq, welfare


def _equilibrium_gradients(utilities, block_of, M):
    """(F, ni_values): the pseudo-gradient x -> -[d f^i / d x_i]_i and the Nikaido-Isoda sum
    terms (x, y) -> (f^i(y_i, x_-i))_i (the y-gradient of their sum is NIRA's optimum-response
    gradient)."""
    block = np.asarray(block_of)
    cols = np.arange(block.size)

    def F(x):
        jac = jax.jacfwd(utilities)(x).reshape(M, block.size)  # (M, n)
        return -jac[block, cols]

    def ni_values(x, y):
        def own(i):  # f^i with player i's block from y, the others' from x
            return utilities(jnp.where(block == i, y, x))[i]

        return jax.vmap(own)(jnp.arange(M))

    return F, ni_values


def assemble(game, theta, probe, dtype, *, planner: bool = False) -> MCP:
    """The MCP of `game` at (`theta`, `probe`): the equilibrium system, or with `planner=True` the
    social optimum's (one player maximising `game.welfare` under every constraint)."""
    utilities, ineq, eq, welfare = game_functions(game, theta, probe, dtype)
    n, M = game.action_size, game.num_agents
    lo, hi = action_bounds(game, dtype)
    x_probe = jax.ShapeDtypeStruct((n,), dtype)
    C = jax.eval_shape(ineq, x_probe).shape[0]
    E = jax.eval_shape(eq, x_probe).shape[0]
    if planner:
        jax.eval_shape(welfare, x_probe)
        block_of = (0,) * n
        blocks = ((0, n),)
        own_i, own_e = np.full(C, -1), np.full(E, -1)
        inv_w = None

        def F(x):
            return -jax.grad(welfare)(x)

        def ni_values(x, y):
            del x
            return welfare(y)[None]

        objective = lambda x: welfare(x)[None]  # noqa: E731
    else:
        jax.eval_shape(utilities, x_probe)
        block_of = tuple(int(i) for i, k in enumerate(game.player_dims) for _ in range(k))
        blocks = tuple((s.start, s.stop) for s in game.player_slices)
        own_i = owners(game, "constraint_owners", C)
        own_e = owners(game, "equality_owners", E)
        w = weights(game, dtype)
        inv_w = None if w is None else (1.0 / w)[np.asarray(block_of)]
        F, ni_values = _equilibrium_gradients(utilities, block_of, M)
        objective = utilities
    zeros_m = jnp.zeros(C + E, dtype)
    lower = jnp.concatenate([lo, zeros_m.at[C:].set(-jnp.inf)])
    upper = jnp.concatenate([hi, jnp.full(C + E, jnp.inf, dtype)])
    return MCP(F=F, ni_values=ni_values, objective=objective, ineq=ineq, eq=eq, lower=lower,
               upper=upper, inv_weight=inv_w, n=n, C=C, E=E, block_of=block_of, blocks=blocks,
               owner_ineq=tuple(int(o) for o in own_i), owner_eq=tuple(int(o) for o in own_e),
               kinds=_static_kinds(lo, hi, C, E),
               concept=_concept(planner, own_i, own_e, not planner and w is not None))
