r"""The Wasserstein-robust Pareto gap (paper §5, eqs. 15-19) and Algorithm 2 (the exchange method).

Notation: M agents, T probes, N joint samples, goods in R^k (k <= 2). Indices of edge arrays are
`[k, i, s, t]`: sample k, agent i, *block* s (the experiment whose bundle is moved) and probe t.
(`pareto_gap` uses `values[i, t, s]`; the transpose does not change any cycle.)

**The problem.** Agent i's probe-t budget is A_t^i = {x >= 0 : g_t^i(x) = <alpha_t^i, x> - 1 <= 0}.
A data set Phi = (gamma_s^i) lies in Gamma = prod A_s^i; the empirical distribution puts mass 1/N
on each joint sample Phi_k = (gamma_{s,k}^i) (the N atoms of eq. 17). For psi = (u, lambda > 0) the
loss is the smallest r of (15),

    h(psi, Phi) = max(0, max_{i,s,t} [c_st^i - g_t^i(gamma_s^i)]),   c_st^i = (u_s^i - u_t^i)/lambda_t^i,

and the robust gap is L_DR = inf_psi sup_{Q : W(Q, P_N) <= eps, supp Q in Gamma} E_Q h(psi, Phi),
with transport cost d(Phi, Phi') = sum_{i,s} ||gamma_s^i - gamma'_s^i||_2 (eq. 17; the plain
Euclidean cost of the definition under (15) gives the same value because h is a maximum of terms
that each depend on one block, so a worst-case move touches one block only).

**Orders (the closure).** psi enters h only through the sign pattern of c: for strict total orders
sigma^i of [T] and U(sigma^i) = {(s, t) : s at or above t},

    h_sigma(Phi) = max(0, max_i max_{(s,t) in U(sigma^i)} -g_t^i(gamma_s^i)),
    inf_psi J(h(psi, .)) = min_sigma J(h_sigma)

for every J that is monotone and shifts by constants (here J = the worst-case expectation), because
h(psi, .) >= h_sigma for sigma = the order of u, and `certificate_from_orders` builds psi_eta with
h(psi_eta, .) <= h_sigma + eta for every eta > 0 (docs/robust.md). Certificates are therefore
*orders*; the infimum over psi is in general not attained.

**Duality and separation.** For fixed sigma (Gao & Kleywegt; Mohajerin Esfahani & Kuhn),

    sup_Q E_Q h_sigma = min_{kappa >= 0} eps kappa + (1/N) sum_k max(0, max_i max_{U(sigma^i)} a_k[i, s, t](kappa)),
    a_k[i, s, t](kappa) = sup_{gamma in A_s^i} [-g_t^i(gamma) - kappa ||gamma - gamma_{s,k}^i||]
                        = 1 - rho(alpha_t^i; A_s^i, gamma_{s,k}^i, kappa),

with rho(a; A, g, kappa) = min_{gamma in A} <a, gamma> + kappa ||gamma - g|| in closed form
(`budget_rho`). This is the separation problem (19), taken over Gamma (the paper's max over the
finite set Gamma~_k would always return CV <= 0). Each a is convex and non-increasing in kappa.

**The robust gap.** Hence L_DR = min_kappa eps kappa + min_sigma (1/N) sum_k max_i max_U a_k(kappa).
For one sample (or N identical samples) the minimum over sigma is a bottleneck closure,

    L_DR = min_{kappa >= 0} eps kappa + max_i B(a^i(kappa)),   B(w) = max over cycles of the smallest weight,

exactly, and F(kappa) = max_i B(a^i(kappa)) is continuous and non-increasing. `robust_pareto_gap`
minimises it by a fixed-shape branch and bound over kappa (on [l, r] the objective is at least
eps l + F(r)): `lower` is certified, `upper` is attained by an explicit (sigma, kappa). For distinct
samples the orders are shared across samples and the exact problem is combinatorial (a MILP over
orders); JAX returns certified bounds (lower: orders chosen per sample; upper: the best of several
candidate orders, each with its convex 1-D problem in kappa solved by golden section), and
`exact=True` runs the exchange method with an exact MILP master (SciPy/HiGHS, optional).

**Algorithm 2** (`exchange_method`): separation (19) over Gamma for every sample, record
max_k CV_k and the bounds, stop when max_k CV_k <= delta, add the maximisers as cuts, solve the
master (18) over orders: exactly by a bottleneck closure and kappa branch and bound for identical
samples (`master="closure"`, JAX, `vmap`-able), or by a MILP (`master="milp"`, SciPy, any samples).
"""

from ._exchange import exchange_method as exchange_method
from ._game_gap import robust_pareto_gap_game as robust_pareto_gap_game
from ._gap import robust_pareto_gap as robust_pareto_gap
from ._host import milp_master as milp_master
from ._objective import RobustGapObjective as RobustGapObjective
from ._orders import certificate_from_orders as certificate_from_orders
from ._orders import upper_mask as upper_mask
from ._results import (
    ExchangeSolution as ExchangeSolution,
)
from ._results import (
    RobustGap as RobustGap,
)
from ._results import (
    Separation as Separation,
)
from ._separation import budget_rho as budget_rho
from ._separation import separation_oracle as separation_oracle
