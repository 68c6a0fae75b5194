"""The one second-order (concavity) check at a KKT point, used by every solve.

A KKT point of the MCP is an equilibrium (or a social optimum) only if each block -- each player,
or the planner -- maximises its objective there. The check: for every block b, the Hessian of
block b's Lagrangian in its own coordinates,

    H_b = d^2/dx_b^2 [ f^b(x) - sum_c W_cb (lambda_c h_c(x) + nu_c e_c(x)) ],

restricted to the directions that keep every active constraint and active bound of that block
(the null space of their gradients), must be negative semidefinite:

    lambda_max(P H_b P) <= sqrt(eps) * (1 + max |H_b|),

with eps the machine epsilon of the dtype (about 1.5e-8 relative in float64, 3.5e-4 in float32).
A constraint counts as active where h_c >= -1e3 tol (1 + |x|_inf) *and* its multiplier exceeds
1e3 tol (1 + |G|_inf + |lambda|_inf) (equalities always); a bound where x_j is within
1e3 tol (1 + |bound|) of it and the reduced gradient G_j (its multiplier) exceeds the same level.
A weakly active constraint or bound (zero multiplier) leaves its direction free: its half-line is
part of the critical cone, and a quadratic form is nonpositive on a half-line iff it is on the
whole line, so the check is exact for one weakly active direction and conservative for several.
The stationary point x = 0 of the capped convex payoff sum(x) x (at its lower bounds, with zero
multipliers) is therefore `not_concave`, while the same game's corner at its caps is an
equilibrium. Failures are reported as
`RESULTS.not_concave`: the point found need not be an equilibrium (e.g. a convex payoff's
stationary point, which is a minimum) or a social optimum (convex welfare).
"""

import jax
import jax.numpy as jnp
import numpy as np

from ._kkt import MCP


def _block_check(mcp: MCP, b, start, k, z, act_h, at_bound, Jh, Je):
    """Block b's second-order condition (b and start may be traced; k is static)."""
    x, lam, nu = mcp.split(z)
    dtype = x.dtype
    w = 1.0 if mcp.inv_weight is None else mcp.inv_weight[start]
    own_i = np.asarray(mcp.owner_ineq, dtype=int)
    own_e = np.asarray(mcp.owner_eq, dtype=int)
    wi = jnp.where(own_i < 0, w, (own_i == b).astype(dtype))
    we = jnp.where(own_e < 0, w, (own_e == b).astype(dtype))

    def lagrangian(xb):  # f^b - sum_c W_cb (lambda_c h_c + nu_c e_c), the rest of x fixed
        full = jax.lax.dynamic_update_slice(x, xb, (start,))
        val = mcp.objective(full)[b]
        if mcp.C:
            val = val - jnp.sum(wi * lam * mcp.ineq(full))
        if mcp.E:
            val = val - jnp.sum(we * nu * mcp.eq(full))
        return val

    H = jax.hessian(lagrangian)(jax.lax.dynamic_slice(x, (start,), (k,)))
    cols = lambda J: jax.lax.dynamic_slice(J, (0, start), (J.shape[0], k))  # noqa: E731
    faces_i = (own_i < 0) | (own_i == b)  # the constraints block b faces
    faces_e = (own_e < 0) | (own_e == b)
    rows = [jnp.where((act_h & faces_i)[:, None], cols(Jh), 0.0),
            jnp.where(faces_e[:, None], cols(Je), 0.0),
            jnp.where(jax.lax.dynamic_slice(at_bound, (start,), (k,))[:, None],
                      jnp.eye(k, dtype=dtype), 0.0)]
    P = _free_projector(jnp.concatenate(rows), k, dtype)
    Hp = P @ H @ P
    lam_max = jnp.max(_eigh(0.5 * (Hp + Hp.T), vectors=False))
    return lam_max <= jnp.sqrt(jnp.finfo(dtype).eps) * (1.0 + jnp.max(jnp.abs(H)))


def _eigh(S, vectors=True):
    """`jnp.linalg.eigh` (or `eigvalsh`) of a symmetric S, without a LAPACK call when S is 1 x 1
    (players with one action): its eigenvalue is the entry and its eigenvector 1, as LAPACK
    returns them."""
    if S.shape[-1] == 1:
        return (S[..., 0], jnp.ones_like(S)) if vectors else S[..., 0]
    return jnp.linalg.eigh(S) if vectors else jnp.linalg.eigvalsh(S)


def _free_projector(rows, k, dtype):
    """Projector onto the null space of `rows` (m, k): I - V V^T over the row space's basis."""
    if rows.shape[0] == 0:
        return jnp.eye(k, dtype=dtype)
    w, V = _eigh(rows.T @ rows)
    thr = jnp.sqrt(jnp.finfo(dtype).eps) * (1.0 + jnp.max(jnp.abs(w)))
    Vs = jnp.where((w > thr)[None, :], V, 0.0)
    return jnp.eye(k, dtype=dtype) - Vs @ Vs.T


def concave_at(mcp: MCP, z, tol):
    """True where every block's Lagrangian is concave on its free directions at z (see the module
    docstring for the tolerances)."""
    x = z[: mcp.n]
    dtype = x.dtype
    n = mcp.n
    near = 1e3 * tol
    G = mcp.phi(z)[:n]  # the bounds' multipliers
    lam = z[n : n + mcp.C]
    strong = near * (1.0 + jnp.max(jnp.abs(G), initial=0.0) + jnp.max(lam, initial=0.0))
    lo, hi = mcp.lower[:n], mcp.upper[:n]
    lo_f = jnp.where(jnp.isfinite(lo), lo, 0.0)
    hi_f = jnp.where(jnp.isfinite(hi), hi, 0.0)
    at_bound = ((jnp.isfinite(lo) & (x - lo_f <= near * (1.0 + jnp.abs(lo_f))))
                | (jnp.isfinite(hi) & (hi_f - x <= near * (1.0 + jnp.abs(hi_f)))))
    at_bound = at_bound & (jnp.abs(G) > strong)
    Jh = jax.jacfwd(mcp.ineq)(x) if mcp.C else jnp.zeros((0, n), dtype)
    Je = jax.jacfwd(mcp.eq)(x) if mcp.E else jnp.zeros((0, n), dtype)
    act = near * (1.0 + jnp.max(jnp.abs(x), initial=0.0))
    act_h = (mcp.ineq(x) >= -act) & (lam > strong) if mcp.C else jnp.zeros((0,), bool)
    args = (z, act_h, at_bound, Jh, Je)
    sizes = {stop - start for start, stop in mcp.blocks}
    if len(sizes) == 1:  # equal blocks: one vmapped check
        k = sizes.pop()
        b = jnp.arange(len(mcp.blocks))
        return jnp.all(jax.vmap(lambda bb: _block_check(mcp, bb, bb * k, k, *args))(b))
    ok = jnp.array(True)
    for b, (start, stop) in enumerate(mcp.blocks):
        ok = ok & _block_check(mcp, b, start, stop - start, *args)
    return ok
