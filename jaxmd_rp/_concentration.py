r"""Theorem 2 of the paper: how far the empirical Pareto gap (13) can be from the true one (10).

The gap is a max-min of probe values, so it is 1-Lipschitz in the sup norm:
|L_hat - L| <= max_{i,t,s} |g_t^i(mu_hat_s) - g_t^i(mu_s)|. Each g_t^i(mu_hat_s) is a mean of N
i.i.d. terms with values in an interval of length `value_range`, so by Hoeffding's inequality

    P(|g_t^i(mu_hat_s) - g_t^i(mu_s)| > eps) <= 2 exp(-2 eps^2 N / value_range^2),

and by the union bound over the M T^2 values

    P(|L_hat - L| <= eps) >= 1 - 2 M T^2 exp(-2 eps^2 N / value_range^2)       (form="union").

The paper states the product form prod_{t,i} (max{1 - 2 exp(-2 eps^2 N / G^2), 0})^T
(form="paper"), which treats the M T^2 deviations as independent -- they are not (g_t^i(mu_hat_s)
for different t share the samples of experiment s) -- and takes the range G = |inf g_t^i(0)|, which
covers g on the probe's own budget set but not g_t evaluated at strategies of other experiments
(those can be positive). The paper also writes the event as "L <= c + eps" with c = E[L_hat]; L is
deterministic, so the meaningful statement is about |L_hat - L| (which implies L <= L_hat + eps).
`tests/test_pareto_gap.py::test_concentration_bound_monte_carlo` checks both forms by Monte Carlo
on data with mixed strategies.
"""

import jax.numpy as jnp

from ._checks import real_param, work_dtype


def concentration_bound(epsilon, num_samples, num_probes, num_agents, value_range, form="union"):
    """Lower bound on P(|L_hat - L| <= epsilon) (Theorem 2; see module docstring).

    **Arguments:**

    - `epsilon`: deviation (finite, >= 0).
    - `num_samples`: N >= 1, samples per mixed strategy.
    - `num_probes`: T >= 1; `num_agents`: M >= 1.
    - `value_range`: the length of an interval containing every g_t^i(gamma) over the supports
      of the strategies, > 0 (for the paper's G, pass |inf g_t^i(0)| -- valid only on budget sets).
    - `form`: `"union"` (Hoeffding + union bound, rigorous) or `"paper"` (the printed product).
    """
    if form not in ("union", "paper"):
        raise ValueError(f"`form` must be 'union' or 'paper'; got {form!r}.")
    dt = work_dtype()
    eps = real_param(epsilon, "epsilon", dt, low=0.0)
    N = real_param(num_samples, "num_samples", dt, low=1.0)
    T = real_param(num_probes, "num_probes", dt, low=1.0)
    M = real_param(num_agents, "num_agents", dt, low=1.0)
    G = real_param(value_range, "value_range", dt, low=0.0, strict=True)
    tail = 2.0 * jnp.exp(-2.0 * eps**2 * N / G**2)
    k = M * T**2
    if form == "union":
        return jnp.clip(1.0 - k * tail, 0.0, 1.0)
    return jnp.maximum(1.0 - tail, 0.0) ** k
