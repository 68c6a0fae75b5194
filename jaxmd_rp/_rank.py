r"""Rank optimality for finite outcome sets and ordinal preferences (paper App. B, Def. 7, Lemma 3).

There are D outcomes o = 0..D-1 (for a finite game: the D joint pure actions) and M agents. A
*preference profile* is an (M, D) array `prefs`, given either as utilities f^i(o) (`kind=
"utilities"`, the default) or directly as positions pos(succ_i, o) in {1..D}, 1 = most preferred
(`kind="positions"`). Utilities are turned into positions by standard competition ranking:
pos_i(o) = 1 + #{o' : f^i(o') > f^i(o)}, so tied outcomes share the better position.

- rank_k(o) = #{i : pos_i(o) <= k}, the number of agents having o among their top k choices;
- maxrank_k = max_o rank_k(o);
- a mixed strategy mu over outcomes is *rank-optimal* iff E_{o ~ mu}[rank_k(o)] = maxrank_k for
  every k in 1..D (Def. 7). Since rank_k(o) <= maxrank_k, this holds iff mu is supported on the
  outcomes that attain maxrank_k for *all* k at once (`rank_optimal_outcomes`); a rank-optimal
  strategy exists iff that set is non-empty, which it often is not.

**Lemma 3 and what actually holds.** With homogeneous utilities f^i(o) = U(pos_i(o)) (Def. 8) and
U(D+1) := 0, the social welfare is a non-negative combination of ranks (the first lines of the
paper's proof C.1, which are correct):

    sum_i f^i(o) = sum_{j=1}^{D} (U(j) - U(j+1)) rank_j(o),    U(j) - U(j+1) >= 0 for j < D,

and rank_D(o) = M for every o, so the j = D term is a constant whatever the sign of U(D). The
proof then replaces max_o sum_j w_j rank_j(o) by sum_j w_j max_o rank_j(o); that is only an
inequality (<=), with equality iff one outcome maximises every rank_j with w_j > 0 at once. So:

- *If* some outcome attains maxrank_k for every k (a rank-optimal strategy exists) and U is
  strictly decreasing, every socially optimal mixed strategy is rank-optimal: Lemma 3 holds.
- With ties in U (U(k) = U(k+1) for some k < D) only the k with U(k) > U(k+1) are guaranteed:
  a social optimum may have E[rank_k] < maxrank_k at the tied k (example in docs/indices.md and
  tests/test_rank.py).
- If no outcome maximises all ranks jointly -- e.g. four agents with preferences
  A>B>C, A>C>B, B>C>A, C>B>A: rank_1 is maximal only at A (2), rank_2 only at B and C (3) --
  then *no* strategy is rank-optimal, while a social optimum always exists: Lemma 3's conclusion
  fails. This happens for a sizeable fraction of random profiles (see tests/test_rank.py).
- Without homogeneity the welfare is not a combination of ranks at all, and a social optimum can
  fail rank-optimality even when a rank-optimal outcome exists.

Everything is vectorised over outcomes (no Python loops) and jit-able; batch over profiles with
`jax.vmap`.
"""

from typing import Literal

import jax.numpy as jnp
from jaxtyping import Array, Float, Int

from ._checks import real_param, refuse

PrefKind = Literal["utilities", "positions"]


def _as_positions(prefs, kind: PrefKind) -> Int[Array, "M D"]:
    prefs = jnp.asarray(prefs)
    if jnp.issubdtype(prefs.dtype, jnp.complexfloating):
        raise TypeError(f"`prefs` must be real; got dtype {prefs.dtype}.")
    if prefs.ndim != 2 or prefs.shape[0] == 0 or prefs.shape[1] == 0:
        raise ValueError(
            f"`prefs` must have shape (M, D) (agents x outcomes); got shape {prefs.shape}."
        )
    if kind == "utilities":
        return preference_positions(prefs)
    if kind != "positions":
        raise ValueError(f"`kind` must be 'utilities' or 'positions'; got {kind!r}.")
    D = prefs.shape[1]
    if jnp.issubdtype(prefs.dtype, jnp.floating):
        prefs = refuse(prefs, jnp.any(prefs != jnp.round(prefs)),
                             "`prefs` with kind='positions' must hold integer positions.")
    pos = prefs.astype(jnp.int32)
    return refuse(pos, jnp.any((pos < 1) | (pos > D)),
                        f"`prefs` with kind='positions' must hold positions in 1..D = 1..{D}.")


def preference_positions(utilities: Float[Array, "M D"]) -> Int[Array, "M D"]:
    """Positions pos_i(o) in 1..D from utilities (1 = best; ties share the better position)."""
    u = jnp.asarray(utilities)
    if jnp.issubdtype(u.dtype, jnp.complexfloating):
        raise TypeError(f"`utilities` must be real; got dtype {u.dtype}.")
    if u.ndim != 2:
        raise ValueError(f"`utilities` must have shape (M, D); got shape {u.shape}.")
    u = refuse(u, ~jnp.all(jnp.isfinite(u)), "`utilities` must be finite.")
    return 1 + jnp.sum(u[:, None, :] > u[:, :, None], axis=-1).astype(jnp.int32)


def rank_table(prefs, *, kind: PrefKind = "utilities") -> Int[Array, "D D"]:
    """R[k - 1, o] = rank_k(o) for k = 1..D and every outcome o, shape (D, D)."""
    pos = _as_positions(prefs, kind)
    D = pos.shape[1]
    ks = jnp.arange(1, D + 1, dtype=pos.dtype)
    return jnp.sum(pos[None, :, :] <= ks[:, None, None], axis=1).astype(jnp.int32)


def _check_k(k, D):
    k = jnp.asarray(k)
    if not jnp.issubdtype(k.dtype, jnp.integer):
        raise ValueError(f"`k` must be an integer (array); got dtype {k.dtype}.")
    return refuse(k, jnp.any((k < 1) | (k > D)), f"`k` must lie in 1..D = 1..{D}.")


def rank_k(outcome, prefs, k, *, kind: PrefKind = "utilities") -> Int[Array, "..."]:
    """rank_k(o) = number of agents with outcome `o` among their top `k` choices.

    **Arguments:**

    - `outcome`: integer outcome index (any shape) in 0..D-1.
    - `prefs`: (M, D) utilities or positions (see `kind`).
    - `k`: integer in 1..D (broadcast against `outcome`).
    - `kind`: `"utilities"` (default) or `"positions"`.

    ```python
    >>> import jax.numpy as jnp, jaxmd_rp as rp
    >>> pos = jnp.array([[1, 2, 3], [1, 3, 2], [2, 3, 1]])   # 3 agents, outcomes A, B, C
    >>> rp.rank_k(jnp.arange(3), pos, 1, kind="positions").tolist()
    [2, 0, 1]

    ```
    """
    pos = _as_positions(prefs, kind)
    M, D = pos.shape
    outcome = jnp.asarray(outcome)
    if not jnp.issubdtype(outcome.dtype, jnp.integer):
        raise ValueError(f"`outcome` must be an integer index (array); got dtype {outcome.dtype}.")
    outcome = refuse(outcome, jnp.any((outcome < 0) | (outcome >= D)),
                     f"`outcome` must lie in 0..D-1 = 0..{D - 1}.")
    k = _check_k(k, D)
    outcome, k = jnp.broadcast_arrays(outcome, k)
    p = pos[:, outcome]  # (M, ...)
    return jnp.sum(p <= k[None].astype(p.dtype), axis=0).astype(jnp.int32)


def maxrank_k(prefs, k, *, kind: PrefKind = "utilities") -> Int[Array, "..."]:
    """maxrank_k = max over outcomes of rank_k(o); `k` an integer (array) in 1..D."""
    R = rank_table(prefs, kind=kind)
    k = _check_k(k, R.shape[0])
    return jnp.max(R, axis=1)[k - 1]


def _as_distribution(mu, D, dtype=None):
    mu = jnp.asarray(mu)
    if jnp.issubdtype(mu.dtype, jnp.complexfloating):
        raise TypeError(f"`mu` must be real; got dtype {mu.dtype}.")
    if jnp.issubdtype(mu.dtype, jnp.integer):  # pure strategy: an outcome index
        mu = refuse(mu, jnp.any((mu < 0) | (mu >= D)),
                          f"`mu` (an outcome) must lie in 0..{D - 1}.")
        return jnp.eye(D, dtype=dtype or jnp.result_type(float))[mu]
    if mu.ndim < 1 or mu.shape[-1] != D:
        raise ValueError(
            f"`mu` must be an outcome index or a distribution of shape (..., D) = (..., {D}); "
            f"got shape {mu.shape}."
        )
    tol = jnp.sqrt(jnp.finfo(mu.dtype).eps) * D
    bad = jnp.any(mu < -tol) | jnp.any(jnp.abs(jnp.sum(mu, axis=-1) - 1.0) > tol)
    return refuse(mu, bad | ~jnp.all(jnp.isfinite(mu)),
                        "`mu` must be a probability vector over the D outcomes.")


def expected_rank(mu, prefs, *, kind: PrefKind = "utilities") -> Float[Array, "... D"]:
    """E_{o ~ mu}[rank_k(o)] for k = 1..D, shape (..., D).

    `mu`: an integer outcome (pure strategy, any shape) or distributions of shape (..., D).
    """
    R = rank_table(prefs, kind=kind)
    mu = _as_distribution(mu, R.shape[1])
    return jnp.einsum("...o,ko->...k", mu, R.astype(mu.dtype))


def rank_optimal_outcomes(prefs, *, kind: PrefKind = "utilities") -> Array:
    """Boolean (D,): outcomes with rank_k(o) = maxrank_k for every k (rank-optimal pure strategies).

    A mixed strategy is rank-optimal iff it is supported on these; none may exist.
    """
    R = rank_table(prefs, kind=kind)
    return jnp.all(R == jnp.max(R, axis=1, keepdims=True), axis=0)


def is_rank_optimal(mu, prefs, *, kind: PrefKind = "utilities", atol: float | None = None) -> Array:
    """Whether `mu` is rank-optimal (Def. 7): E_mu[rank_k] = maxrank_k for all k in 1..D.

    **Arguments:**

    - `mu`: an integer outcome (pure, any shape) or distributions over outcomes, shape (..., D).
    - `prefs`: (M, D) utilities or positions (see `kind`).
    - `atol`: tolerance on E_mu[rank_k] >= maxrank_k - atol; default sqrt(eps) * M (mixed
      strategies computed by a solver are exact only to rounding).

    **Returns:** boolean, shape `mu.shape` for an index, else `mu.shape[:-1]`.

    ```python
    >>> import jax.numpy as jnp, jaxmd_rp as rp
    >>> pos = jnp.array([[1, 2, 3], [1, 3, 2], [2, 3, 1]])
    >>> rp.is_rank_optimal(jnp.arange(3), pos, kind="positions").tolist()  # only A: ranks (2, 3, 3)
    [True, False, False]

    ```
    """
    R = rank_table(prefs, kind=kind)
    M = _as_positions(prefs, kind).shape[0]
    mu = _as_distribution(mu, R.shape[1])
    if atol is None:
        atol = float(jnp.sqrt(jnp.finfo(mu.dtype).eps)) * M
    atol = real_param(atol, "atol", mu.dtype, low=0.0)
    er = jnp.einsum("...o,ko->...k", mu, R.astype(mu.dtype))
    return jnp.all(er >= jnp.max(R, axis=1).astype(mu.dtype) - atol, axis=-1)


def homogeneous_utilities(
    positions: Int[Array, "M D"], U: Float[Array, " D"]
) -> Float[Array, "M D"]:
    """Homogeneous utilities (Def. 8): f^i(o) = U(pos_i(o)), U[j - 1] the value of a j-th choice."""
    pos = _as_positions(positions, "positions")
    U = jnp.asarray(U)
    if U.shape != (pos.shape[1],):
        raise ValueError(f"`U` must have shape (D,) = ({pos.shape[1]},); got shape {U.shape}.")
    return U[pos - 1]
