r"""Goodness-of-fit indices for consumer data beyond Afriat's CCEI: Varian's and Houtman-Maks'.

Data as in `jaxmd_rp.ccei`: prices p_t and chosen bundles x_t, t = 1..T, arrays of shape
(..., T, K). Write E[t, s] = <p_t, x_s> and rho[t, s] = E[t, s] / E[t, t] (the share of budget t
that bundle s would have cost). Every expenditure E[t, t] must be positive.

**Varian's efficiency index** (Varian 1990, "Goodness-of-fit in optimizing models"). Give every
observation its own efficiency e_t in [0, 1]: x_t R0_e x_s iff e_t E[t, t] >= E[t, s] and
x_t P0_e x_s iff e_t E[t, t] > E[t, s]; GARP_e holds iff x_t R_e x_s (transitive closure) never
comes with x_s P0_e x_t. The index is

    VI = sup { (1/T) sum_t e_t : e in [0, 1]^T, GARP_e holds }.

Afriat's CCEI is the same supremum with all e_t equal, so CCEI <= VI <= 1. What the paper's
Sec. 4.4.1 calls "the CCEI" (the largest *average* of a per-observation vector e^i) is this index,
not Afriat's CCEI (`jaxmd_rp.ccei`).

*Exact algorithm.* For e just below a vector c, GARP_e holds iff the digraph with edges t -> s
for rho[t, s] < c_t is acyclic, i.e. iff the observations can be ranked so that no edge points up.
For a fixed ranking, the best e_t is the largest threshold that creates no upward edge:
c_t = min(1, min over s ranked above t of rho[t, s]); it depends only on the *set* of
observations above t. Hence VI = max over rankings of mean_t c_t, and a dynamic programme over
subsets (the set of observations ranked so far) computes it exactly in O(T^2 2^T) time and
O(T 2^T) memory. Computing VI is NP-hard (Smeulders, Cherchye, De Rock & Spieksma 2014), so some
exponential cost is unavoidable. The supremum is generally not attained (e_t must stay strictly
below a ratio rho[t, s]); the returned efficiencies c are the limit point.

**Houtman-Maks index** (Houtman & Maks 1985). The largest number of observations whose sub-dataset
satisfies GARP (reported as a count; divide by T for a fraction). Also NP-hard. Computed exactly by
checking GARP on all 2^T subsets at once (a transitive closure per subset), O(T^3 2^T) time.

**Size limits.** `method="exact"` (default) is jit-able, vmap-able and batched over leading axes,
for T <= `max_size` (default 16: the Varian table holds T 2^T floats, 8 MiB per dataset at T = 16 in
float64, doubling with every extra observation; the Houtman-Maks check holds T^2 2^T booleans,
16 MiB at T = 16). Beyond it a `ValueError` is raised at trace time; raise `max_size` if memory
allows, or use `method="milp"`: an exact mixed-integer programme solved by SciPy's HiGHS
(`scipy.optimize.milp`, imported lazily: `pip install jaxmd_rp[milp]`). The MILP path runs on the
host (not jit-able); it loops over the batch and returns NumPy arrays. Its Varian programme is a
linear-ordering model (binary o_ts "t ranked above s", no 3-cycles, e_t <= rho[t, s] whenever s is
above t) with O(T^3) constraints; its Houtman-Maks programme keeps observation t iff a_t = 1 and
assigns integer levels U_t in [0, T-1] with U_t >= U_s on kept R0 edges and U_t >= U_s + 1 on kept
P0 edges (a weak order refining the data). Both are exact (the MILP gap tolerance is set to zero);
their cost grows quickly beyond T of a few dozen.

Like the CCEI, VI = 1 does not imply GARP (a cycle of ties with one strict relation can be broken
at no cost); HM = T does (`jaxmd_rp.garp` is the exact yes/no test).

**References.** H. R. Varian, J. Econometrics 46 (1990) 125-140. J. Houtman & J. A. H. Maks,
Kwantitatieve Methoden 19 (1985) 89-104. B. Smeulders et al., ACM Trans. Econ. Comput. 2 (2014).
T. Demuynck & J. Rehbeck, Econ. Theory 75 (2023) (integer programmes for these indices).
"""

from typing import Literal

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from ._consumer import _check

_DEFAULT_MAX_SIZE = 16


def _expenditures(prices, bundles):
    prices, bundles = _check(prices, bundles)
    E = jnp.einsum("...tk,...sk->...ts", prices, bundles)
    own = jnp.diagonal(E, axis1=-2, axis2=-1)
    own = eqx.error_if(own, jnp.any(own <= 0), "every expenditure <p_t, x_t> must be positive.")
    return E, own


def _subset_masks(T: int) -> np.ndarray:
    """(2^T, T) booleans: bit t of mask A."""
    return ((np.arange(2**T)[:, None] >> np.arange(T)[None, :]) & 1).astype(bool)


def _varian_one(rho):
    """Exact Varian index of one dataset from its (T, T) ratio matrix; returns (index, e)."""
    T = rho.shape[-1]
    dtype = rho.dtype
    c0 = jnp.minimum(rho, 1.0)  # c0[t, s]: cap on e_t when s is ranked above t
    # cmin[A, t] = min(1, min_{s in A} c0[t, s]), built by doubling over the bits of A
    cmin = jnp.ones((1, T), dtype)
    for j in range(T):
        cmin = jnp.concatenate([cmin, jnp.minimum(cmin, c0[:, j][None, :])], axis=0)
    masks = _subset_masks(T)  # (2^T, T)
    bits = 1 << np.arange(T)
    prev = np.arange(2**T)[:, None] ^ bits[None, :]  # A \ {t} (or A + {t} where t not in A)
    member = jnp.asarray(masks)
    prev_j = jnp.asarray(prev)
    gain = cmin[prev, np.arange(T)[None, :]]  # (2^T, T): value of t placed below A \ {t}
    neg = jnp.asarray(-jnp.inf, dtype)
    f0 = jnp.full((2**T,), neg, dtype).at[0].set(0.0)

    def layer(_, f):
        cand = jnp.where(member, f[prev_j] + gain, neg)
        return jnp.maximum(f, jnp.max(cand, axis=1)).at[0].set(0.0)

    f = jax.lax.fori_loop(0, T, layer, f0)
    full = 2**T - 1

    # backtrack: the bottom observation of the best ranking of A, then of A \ {t}, ...
    def back(_, carry):
        A, e = carry
        cand = jnp.where(member[A], f[prev_j[A]] + gain[A], neg)
        t = jnp.argmax(cand)
        return A ^ (1 << t), e.at[t].set(gain[A, t])

    _, e = jax.lax.fori_loop(0, T, back, (jnp.asarray(full), jnp.zeros(T, dtype)))
    return f[full] / T, e


def _hm_one(R0, P0):
    """Exact Houtman-Maks index of one dataset from its (T, T) relations R0, P0."""
    T = R0.shape[-1]
    masks = jnp.asarray(_subset_masks(T))  # (2^T, T)
    keep = masks[:, :, None] & masks[:, None, :]
    H = R0[None] & keep
    for k in range(T):  # Warshall, all subsets at once
        H = H | (H[:, :, k : k + 1] & H[:, k : k + 1, :])
    violated = jnp.any(H & jnp.swapaxes(P0, -1, -2)[None], axis=(-2, -1))
    sizes = jnp.sum(masks, axis=1)
    return jnp.max(jnp.where(violated, -1, sizes))


def _batched(fn, *arrays):
    """Apply a one-dataset function over any leading axes of (..., T, T) arrays."""
    lead = arrays[0].shape[:-2]
    flat = [a.reshape((-1,) + a.shape[-2:]) for a in arrays]
    out = jax.vmap(fn)(*flat)
    return jax.tree_util.tree_map(lambda o: o.reshape(lead + o.shape[1:]), out)


def _check_size(prices, max_size, name):
    T = jnp.shape(prices)[-2] if jnp.ndim(prices) >= 2 else 0  # shapes are checked later
    if T > max_size:
        raise ValueError(
            f"{name} with method='exact' enumerates 2^T subsets; T = {T} exceeds `max_size` = "
            f"{max_size}. Raise `max_size` if memory allows (cost doubles per observation) or use "
            "method='milp' (needs SciPy)."
        )


def varian_index(
    prices: Float[Array, "... T K"],
    bundles: Float[Array, "... T K"],
    *,
    method: Literal["exact", "milp"] = "exact",
    max_size: int = _DEFAULT_MAX_SIZE,
    return_efficiencies: bool = False,
):
    """Varian's (1990) efficiency index in [0, 1], exact; shape `prices.shape[:-2]`.

    The supremum over per-observation efficiencies e in [0, 1]^T with GARP_e of mean(e) (see the
    module docstring). This is what the paper's Sec. 4.4.1 calls "the CCEI"; Afriat's CCEI
    (`jaxmd_rp.ccei`, one common e) is never larger.

    **Arguments:**

    - `prices`, `bundles`: non-negative arrays of shape (..., T, K) with <p_t, x_t> > 0.
    - `method`: `"exact"` (subset dynamic programme, jit/vmap-able, T <= `max_size`) or
      `"milp"` (SciPy HiGHS mixed-integer programme on the host, any T, NumPy output).
    - `max_size`: largest T accepted by `method="exact"` (default 16; memory ~ T 2^T floats).
    - `return_efficiencies`: also return the maximising efficiencies e, shape (..., T): GARP_e
      holds for every e' < e componentwise close enough to e (the supremum is a limit).

    **Returns:** the index, or `(index, e)` if `return_efficiencies`.

    ```python
    >>> import jax.numpy as jnp, jaxmd_rp as rp
    >>> p = jnp.array([[1.0, 2.0], [2.0, 1.0]]); x = jnp.array([[1.0, 1.0], [2.0, 0.0]])
    >>> float(rp.varian_index(p, x))  # e = (1, 3/4) or (2/3, 1): the best mean is 7/8
    0.875
    >>> float(rp.ccei(p, x))
    0.75

    ```
    """
    if method == "milp":
        return _varian_milp(prices, bundles, return_efficiencies)
    if method != "exact":
        raise ValueError(f"`method` must be 'exact' or 'milp'; got {method!r}.")
    _check_size(prices, max_size, "varian_index")
    index, e = _varian_exact(prices, bundles)
    return (index, e) if return_efficiencies else index


@jax.jit
def _varian_exact(prices, bundles):
    E, own = _expenditures(prices, bundles)
    return _batched(_varian_one, E / own[..., :, None])


def houtman_maks_index(
    prices: Float[Array, "... T K"],
    bundles: Float[Array, "... T K"],
    *,
    method: Literal["exact", "milp"] = "exact",
    max_size: int = _DEFAULT_MAX_SIZE,
) -> Array:
    """Houtman-Maks index: the size of the largest GARP-consistent subset of the observations.

    An integer in [1, T] (a single observation always satisfies GARP); equal to T iff GARP holds.
    Shape `prices.shape[:-2]`.

    **Arguments:** as `varian_index` (`method="exact"`: all 2^T subsets, T <= `max_size`;
    `method="milp"`: SciPy HiGHS on the host).

    ```python
    >>> import jax.numpy as jnp, jaxmd_rp as rp
    >>> p = jnp.array([[1.0, 2.0], [2.0, 1.0]]); x = jnp.array([[1.0, 1.0], [2.0, 0.0]])
    >>> int(rp.houtman_maks_index(p, x))  # the two observations violate GARP together
    1

    ```
    """
    if method == "milp":
        return _hm_milp(prices, bundles)
    if method != "exact":
        raise ValueError(f"`method` must be 'exact' or 'milp'; got {method!r}.")
    _check_size(prices, max_size, "houtman_maks_index")
    return _hm_exact(prices, bundles)


@jax.jit
def _hm_exact(prices, bundles):
    E, own = _expenditures(prices, bundles)
    return _batched(_hm_one, own[..., :, None] >= E, own[..., :, None] > E)


# ----------------------------------------------------------------------------------------------
# MILP formulations (host-side, SciPy HiGHS)


def _host_data(prices, bundles):
    try:
        p = np.asarray(prices, dtype=float)
        x = np.asarray(bundles, dtype=float)
    except jax.errors.TracerArrayConversionError as err:
        raise ValueError(
            "method='milp' runs SciPy on the host and cannot be traced (jit/vmap/grad); use "
            "method='exact' inside JAX transformations."
        ) from err
    if p.ndim < 2 or p.shape != x.shape:
        raise ValueError(
            "`prices` and `bundles` must have the same shape (..., T, K); got "
            f"{p.shape} and {x.shape}."
        )
    if not (np.all(np.isfinite(p)) and np.all(p >= 0)):
        raise ValueError("`prices` must be finite and non-negative.")
    if not (np.all(np.isfinite(x)) and np.all(x >= 0)):
        raise ValueError("`bundles` must be finite and non-negative.")
    E = np.einsum("...tk,...sk->...ts", p, x)
    own = np.diagonal(E, axis1=-2, axis2=-1)
    if np.any(own <= 0):
        raise ValueError("every expenditure <p_t, x_t> must be positive.")
    return E, own


def _milp():
    try:
        from scipy.optimize import Bounds, LinearConstraint, milp
    except ImportError as err:  # pragma: no cover - scipy is a test dependency
        raise ImportError(
            "method='milp' needs SciPy (>= 1.9): pip install 'jaxmd_rp[milp]'."
        ) from err
    return milp, LinearConstraint, Bounds


def _sparse(*args, **kwargs):
    from scipy.sparse import csr_array

    return csr_array(*args, **kwargs)


def _solve_milp(c, A, lo, hi, integrality, lb, ub):
    milp, LinearConstraint, Bounds = _milp()
    res = milp(
        c, constraints=[LinearConstraint(A, lo, hi)], integrality=integrality,
        bounds=Bounds(lb, ub), options={"mip_rel_gap": 0.0},
    )
    if res.status != 0 or res.x is None:
        raise RuntimeError(f"scipy.optimize.milp failed: {res.message}")
    return res.x


def _varian_milp_one(E, own):
    T = E.shape[0]
    rho = E / own[:, None]
    if T == 1:
        return 1.0, np.ones(1)
    pairs = [(t, s) for t in range(T) for s in range(t + 1, T)]
    pid = {p: k for k, p in enumerate(pairs)}
    nv = T + len(pairs)  # e_0..e_{T-1}, then o_ts (t < s): 1 iff t ranked above s

    def above(a, b):  # "a above b" as (coef index, sign, constant): o or 1 - o
        return (T + pid[(a, b)], 1.0, 0.0) if a < b else (T + pid[(b, a)], -1.0, 1.0)

    entries, hi = [], []  # sparse rows: (row, column, value); every row is "<= hi"

    def add_row(coefs, bound):
        r = len(hi)
        entries.extend((r, j, v) for j, v in coefs)
        hi.append(bound)

    for t in range(T):
        for s in range(T):
            if s == t or rho[t, s] >= 1.0:
                continue
            # e_t <= rho_ts + (1 - rho_ts) (1 - [s above t])
            j, sg, cst = above(s, t)
            add_row([(t, 1.0), (j, (1.0 - rho[t, s]) * sg)], 1.0 - (1.0 - rho[t, s]) * cst)
    for a in range(T):
        for b in range(a + 1, T):
            for d in range(a + 1, T):
                if d == b:
                    continue  # each directed 3-cycle a > b > d > a once (a smallest): <= 2 arcs
                terms = [above(u, v) for u, v in ((a, b), (b, d), (d, a))]
                add_row([(j, sg) for j, sg, _ in terms], 2.0 - sum(cst for _, _, cst in terms))
    if not hi:
        return 1.0, np.ones(T)
    r, col, val = map(np.asarray, zip(*entries, strict=True))
    A = _sparse((val, (r, col)), shape=(len(hi), nv))
    lo = np.full(len(hi), -np.inf)
    c = np.concatenate([-np.ones(T), np.zeros(len(pairs))])
    integrality = np.concatenate([np.zeros(T), np.ones(len(pairs))])
    sol = _solve_milp(c, A, lo, hi, integrality, np.zeros(nv), np.ones(nv))
    e = np.clip(sol[:T], 0.0, 1.0)
    return float(np.mean(e)), e


def _hm_milp_one(E, own):
    T = E.shape[0]
    R0 = own[:, None] >= E
    P0 = own[:, None] > E
    nv = 2 * T  # a_0..a_{T-1} (keep), U_0..U_{T-1} (integer levels)
    rows, lo = [], []
    for t in range(T):
        for s in range(T):
            if s == t or not R0[t, s]:
                continue
            # kept t, s: U_t - U_s >= 1 (P0) or >= 0 (R0 only); else slack by T
            row = np.zeros(nv)
            row[T + t], row[T + s] = 1.0, -1.0
            row[t] -= T
            row[s] -= T
            rows.append(row)
            lo.append((1.0 if P0[t, s] else 0.0) - 2.0 * T)
    if not rows:
        return T
    A = np.array(rows)
    c = np.concatenate([-np.ones(T), np.zeros(T)])
    sol = _solve_milp(
        c, A, lo, np.full(len(lo), np.inf), np.ones(nv), np.zeros(nv),
        np.concatenate([np.ones(T), np.full(T, T - 1.0)]),
    )
    return int(round(float(np.sum(sol[:T]))))


def _varian_milp(prices, bundles, return_efficiencies):
    E, own = _host_data(prices, bundles)
    lead, T = E.shape[:-2], E.shape[-1]
    Ef, of = E.reshape(-1, T, T), own.reshape(-1, T)
    out = [_varian_milp_one(Ef[b], of[b]) for b in range(Ef.shape[0])]  # host loop, not jit
    index = np.array([o[0] for o in out]).reshape(lead)
    e = np.array([o[1] for o in out]).reshape(lead + (T,))
    return (index, e) if return_efficiencies else index


def _hm_milp(prices, bundles):
    E, own = _host_data(prices, bundles)
    lead, T = E.shape[:-2], E.shape[-1]
    Ef, of = E.reshape(-1, T, T), own.reshape(-1, T)
    return np.array([_hm_milp_one(Ef[b], of[b]) for b in range(Ef.shape[0])]).reshape(lead)
