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
satisfies GARP. Also NP-hard. Computed exactly by
checking GARP on all 2^T subsets at once (a transitive closure per subset), O(T^3 2^T) time.

**Size limits.** `method="exact"` (default) is jit-able, vmap-able and batched over leading axes,
for T <= `max_size` (default 16: the Varian table holds T 2^T floats, 8 MiB per dataset at T = 16 in
float64, doubling with every extra observation; the Houtman-Maks check holds T^2 2^T booleans,
16 MiB at T = 16). Beyond it a `ValueError` is raised at trace time; raise `max_size` if memory
allows, or use `method="milp"`: an exact mixed-integer programme solved by SciPy's HiGHS
(`scipy.optimize.milp`, imported lazily: `pip install jaxmd_rp[milp]`). The MILP path runs on the
host (not jit-able); it loops over the batch and returns NumPy arrays. Every MILP answer is checked
exactly before it is returned (`jaxmd_rp._indices_milp`); a data set whose answer cannot be verified
is reported as `RESULTS.milp_failed` (raised with `throw=True`, NaN with `throw=False`).

**Units.** Varian's index is a mean efficiency in [0, 1] (1 = consistent); `units="waste"` reports
1 - VI, the mean share of budget wasted (0 = consistent). The Houtman-Maks index is a count of
observations in [1, T] (T = consistent); `units="fraction"` reports HM / T, and
`units="removed_fraction"` reports (T - HM) / T, the share of observations to drop (0 =
consistent), as prefgraph's `compute_houtman_maks_index` does.

**Arithmetic.** The relations come from the scale-safe expenditures of `jaxmd_rp.garp` (exact
power-of-two scaling, products in float64 when enabled): no overflow whatever the input dtype.

Like the CCEI, VI = 1 does not imply GARP (a cycle of ties with one strict relation can be broken
at no cost); HM = T does (`jaxmd_rp.garp` is the exact yes/no test).

**References.** H. R. Varian, J. Econometrics 46 (1990) 125-140. J. Houtman & J. A. H. Maks,
Kwantitatieve Methoden 19 (1985) 89-104. B. Smeulders et al., ACM Trans. Econ. Comput. 2 (2014).
T. Demuynck & J. Rehbeck, Econ. Theory 75 (2023) (integer programmes for these indices).
"""

from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from . import _indices_milp
from ._checks import real_param, settle, work_dtype
from ._consumer import DATA_ERRORS, _check, expenditures
from ._scipy import require_scipy
from ._solution import RESULTS, raise_on_host

_DEFAULT_MAX_SIZE = 16
_VARIAN_UNITS = ("mean", "waste")
_HM_UNITS = ("count", "fraction", "removed_fraction")


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


def _check_size(T, max_size, name):
    if T > max_size:
        raise ValueError(
            f"{name} with method='exact' enumerates 2^T subsets; T = {T} exceeds `max_size` = "
            f"{max_size}. Raise `max_size` if memory allows (cost doubles per observation) or use "
            "method='milp' (needs SciPy)."
        )


def _check_options(method, units, allowed):
    if method not in ("exact", "milp"):
        raise ValueError(f"`method` must be 'exact' or 'milp'; got {method!r}.")
    if units not in allowed:
        raise ValueError(f"`units` must be one of {allowed}; got {units!r}.")


def varian_index(
    prices: Float[Array, "... T K"],
    bundles: Float[Array, "... T K"],
    *,
    method: Literal["exact", "milp"] = "exact",
    max_size: int = _DEFAULT_MAX_SIZE,
    return_efficiencies: bool = False,
    units: Literal["mean", "waste"] = "mean",
    throw: bool = True,
):
    """Varian's (1990) efficiency index, exact; shape `prices.shape[:-2]`.

    The supremum over per-observation efficiencies e in [0, 1]^T with GARP_e of mean(e) (see the
    module docstring). This is what the paper's Sec. 4.4.1 calls "the CCEI"; Afriat's CCEI
    (`jaxmd_rp.ccei`, one common e) is never larger.

    **Arguments:**

    - `prices`, `bundles`: non-negative arrays of shape (..., T, K) with <p_t, x_t> > 0.
    - `method`: `"exact"` (subset dynamic programme, jit/vmap-able, T <= `max_size`) or
      `"milp"` (SciPy HiGHS mixed-integer programme on the host, any T, NumPy output, every
      answer verified exactly).
    - `max_size`: largest T accepted by `method="exact"` (default 16; memory ~ T 2^T floats).
    - `return_efficiencies`: also return the maximising efficiencies e, shape (..., T): GARP_e
      holds for every e' < e componentwise close enough to e (the supremum is a limit).
    - `units`: `"mean"` (default: the mean efficiency, in [0, 1], 1 = consistent) or `"waste"`
      (1 - the index: the mean share of budget wasted, 0 = consistent).
    - `throw`: if True (default) invalid data raise a `ValueError` and an unverifiable MILP answer
      raises `RESULTS.milp_failed`; if False such a data set gets NaN and the others are computed.

    **Returns:** the index, or `(index, e)` if `return_efficiencies`.

    ```python
    >>> import jax.numpy as jnp, jaxmd_rp as rp
    >>> p = jnp.array([[1.0, 2.0], [2.0, 1.0]]); x = jnp.array([[1.0, 1.0], [2.0, 0.0]])
    >>> float(rp.varian_index(p, x))  # e = (1, 3/4) or (2/3, 1): the best mean is 7/8
    0.875
    >>> float(rp.varian_index(p, x, units="waste"))
    0.125
    >>> float(rp.ccei(p, x))
    0.75

    ```
    """
    _check_options(method, units, _VARIAN_UNITS)
    prices, bundles = _check(prices, bundles)
    if method == "milp":
        index, e = _varian_milp(prices, bundles, throw)
    else:
        _check_size(prices.shape[-2], max_size, "varian_index")
        index, e, code = _varian_exact(prices, bundles)
        index, e = settle((index, e), code, DATA_ERRORS, throw)
    if units == "waste":
        index = 1.0 - index
    return (index, e) if return_efficiencies else index


@jax.jit
def _varian_exact(prices, bundles):
    E, own, code = expenditures(prices, bundles)
    rho = jnp.where((code > 0)[..., None, None], 1.0, E / jnp.where(own > 0, own, 1.0)[..., :, None])
    index, e = _batched(_varian_one, rho)
    bad = code > 0
    index = jnp.where(bad, jnp.nan, index).astype(prices.dtype)
    return index, jnp.where(bad[..., None], jnp.nan, e).astype(prices.dtype), code


def houtman_maks_index(
    prices: Float[Array, "... T K"],
    bundles: Float[Array, "... T K"],
    *,
    method: Literal["exact", "milp"] = "exact",
    max_size: int = _DEFAULT_MAX_SIZE,
    tol=0.0,
    units: Literal["count", "fraction", "removed_fraction"] = "count",
    throw: bool = True,
) -> Array:
    """Houtman-Maks index: the size of the largest GARP-consistent subset of the observations.

    With `units="count"` (default) an integer in [1, T] (a single observation always satisfies
    GARP), equal to T iff GARP holds; `units="fraction"` gives HM / T and
    `units="removed_fraction"` gives (T - HM) / T (the share to drop, as prefgraph reports it).
    Shape `prices.shape[:-2]`.

    **Arguments:** as `varian_index` (`method="exact"`: all 2^T subsets, T <= `max_size`;
    `method="milp"`: a hitting-set programme on the host, every answer verified), and `tol`, the
    relative tie tolerance of `jaxmd_rp.garp` (default 0: exact). With `throw=False` a failed
    data set is NaN, so the counts are returned as floats.

    ```python
    >>> import jax.numpy as jnp, jaxmd_rp as rp
    >>> p = jnp.array([[1.0, 2.0], [2.0, 1.0]]); x = jnp.array([[1.0, 1.0], [2.0, 0.0]])
    >>> int(rp.houtman_maks_index(p, x))  # the two observations violate GARP together
    1
    >>> float(rp.houtman_maks_index(p, x, units="removed_fraction"))
    0.5

    ```
    """
    _check_options(method, units, _HM_UNITS)
    prices, bundles = _check(prices, bundles)
    tol = real_param(tol, "tol", work_dtype(), low=0.0)
    T = prices.shape[-2]
    if method == "milp":
        count = _hm_milp(prices, bundles, tol, throw)
    else:
        _check_size(T, max_size, "houtman_maks_index")
        count, code = _hm_exact(prices, bundles, tol)
        if not throw:
            count = jnp.where(code > 0, jnp.nan, count.astype(jnp.result_type(float)))
        count = settle(count, code, DATA_ERRORS, throw)
    if units == "count":
        return count
    frac = count / T
    return frac if units == "fraction" else 1.0 - frac


def _relations(E, own, tol):
    W = (own[..., :, None] - E) / jnp.where(own > 0, own, 1.0)[..., :, None]
    return W >= -tol, W > tol


@jax.jit
def _hm_exact(prices, bundles, tol):
    E, own, code = expenditures(prices, bundles)
    return _batched(_hm_one, *_relations(E, own, tol)), code


# ----------------------------------------------------------------------------------------------
# MILP paths (host-side, SciPy HiGHS; `_indices_milp` verifies every answer)


def _host(prices, bundles, tol=None):
    """Exact relations on the host: (rho, R0, P0) NumPy arrays flattened over the batch."""
    require_scipy("method='milp'")
    if isinstance(prices, jax.core.Tracer) or isinstance(bundles, jax.core.Tracer):
        raise ValueError(
            "method='milp' runs SciPy on the host and cannot be traced (jit/vmap/grad); use "
            "method='exact' inside JAX transformations."
        )
    E, own, code = _host_jit(prices, bundles)
    settle(jnp.zeros(()), code, DATA_ERRORS, True)
    tol = jnp.zeros((), work_dtype()) if tol is None else tol
    R0, P0 = _relations(E, own, tol)
    T = E.shape[-1]
    rho = E / own[..., :, None]
    return tuple(np.asarray(a).reshape(-1, T, T) for a in (rho, R0, P0))


_host_jit = jax.jit(expenditures)


def _fail(out, failed, throw, what):
    if failed.any():
        raise_on_host(RESULTS.milp_failed, throw,
                      f"({what}: data set(s) {np.flatnonzero(failed).tolist()} not verified.)")
    return out


def _varian_milp(prices, bundles, throw):
    rho, _, _ = _host(prices, bundles)
    lead, T = prices.shape[:-2], prices.shape[-2]
    out = [_indices_milp.varian_one(r) for r in rho]  # host loop, not jit
    failed = np.array([o[0] is None for o in out], bool)
    index = np.array([np.nan if o[0] is None else o[0] for o in out]).reshape(lead)
    e = np.stack([np.full(T, np.nan) if o[0] is None else o[1] for o in out]).reshape(lead + (T,))
    return _fail((index, e), failed, throw, "varian_index")


def _hm_milp(prices, bundles, tol, throw):
    _, R0, P0 = _host(prices, bundles, tol)
    counts = [_indices_milp.houtman_maks_one(r, p)[0] for r, p in zip(R0, P0, strict=True)]
    failed = np.array([c is None for c in counts], bool)
    lead = prices.shape[:-2]
    if failed.any():
        out = np.array([np.nan if c is None else float(c) for c in counts]).reshape(lead)
    else:
        out = np.array(counts, dtype=np.int64).reshape(lead)
    return _fail(out, failed, throw, "houtman_maks_index")
