"""A test library of generalized Nash equilibrium problems from the literature, with their published
solutions, written as jaxmd_rp games.

Sources:

- [FK] F. Facchinei and C. Kanzow, "Penalty methods for the solution of generalized Nash
  equilibrium problems (with complete test problems)", Sapienza University of Rome, technical
  report, 2009 (published as SIAM J. Optim. 20 (2010) 2228-2253); problems A.1, A.3, A.11, A.13,
  A.14, A.15, A.16, A.17 of its appendix, with the solutions it reports.
- [H] P. T. Harker, "Generalized Nash games and quasi-variational inequalities", European Journal
  of Operational Research 54 (1991) 81-94: the two-player game with the shared constraint
  x1 + x2 <= 15; variational equilibrium (5, 9), generalized equilibria
  {(5, 9)} U {(t, 15 - t) : 9 <= t <= 10} (also in Facchinei & Kanzow, 4OR 5 (2007) 173-210).
- [KU] J. B. Krawczyk and S. Uryasev, "Relaxation algorithms to find Nash equilibria with economic
  applications", Environmental Modeling and Assessment 5 (2000) 63-73: the river basin
  (= [FK] A.13), published (21.149, 16.028, 2.722).
- [MSS] F. H. Murphy, H. D. Sherali and A. L. Soyster, "A mathematical programming approach for
  determining oligopolistic market equilibrium", Math. Programming 24 (1982) 92-106: the
  five-firm Cournot oligopoly of [FK] A.16 (uncapacitated equilibrium
  (36.912, 41.842, 43.705, 42.665, 39.182)); the capacitated solutions are those of [FK] A.16
  (from Outrata, Kocvara & Zowe, "Nonsmooth approach to optimization problems with equilibrium
  constraints", Kluwer 1998, Table 12.1).
- [CKK] J. Contreras, M. Klusch and J. B. Krawczyk, "Numerical solutions to Nash-Cournot
  equilibria in coupled constraint electricity markets", IEEE Trans. Power Systems 19 (2004)
  195-206: the electricity market of [FK] A.15 (three companies with 1, 2 and 3 generators).
- [R] J. B. Rosen, "Existence and uniqueness of equilibrium points for concave n-person games",
  Econometrica 33 (1965) 520-534: normalized equilibria with weights r; the two-player game used
  here is written in its style and its normalized equilibria are derived below in closed form.

Costs theta_nu of the papers are minimised; the games here maximise utilities = -costs. Two
problems are reformulations whose published solutions carry over exactly: A.16 and A.17 with
their constraints written as equalities (both constraints are active with positive multipliers at
the published solutions, which the inequality versions verify).
"""

import dataclasses
from collections.abc import Callable

import equinox as eqx
import jax.numpy as jnp
import numpy as np

import jaxmd_rp as rp

# ------------------------------------------------------------------------------------- games


class Harker(rp.AbstractGame):
    """[H]: min x1^2 + 8/3 x1 x2 - a1 x1 and min x2^2 + 5/4 x1 x2 - a2 x2 over [0, 10]^2 with
    x1 + x2 <= 15; theta = (a1, a2) = (34, 24.25). `owned=True`: each player owns its copy of
    the constraint (the generalized equilibria), else it is shared (the variational one)."""

    num_agents = 2
    theta_dim = 2
    owned: bool = False

    @property
    def theta_bounds(self):
        return jnp.zeros(2), jnp.full(2, 100.0)

    @property
    def upper(self):
        return 10.0

    def utilities(self, theta, x):
        return -jnp.stack([x[0] ** 2 + 8.0 / 3.0 * x[0] * x[1] - theta[0] * x[0],
                           x[1] ** 2 + 1.25 * x[0] * x[1] - theta[1] * x[1]])

    def constraints(self, probe, x):
        c = x[0] + x[1] - 15.0
        return jnp.stack([c, c]) if self.owned else c[None]

    @property
    def constraint_owners(self):
        return (0, 1) if self.owned else None

    @property
    def kkt_affine(self):
        return True


def _switching_utilities(x, B=1.0):
    S = jnp.sum(x)
    return x / S * (1.0 - S / B)


class InternetSwitching(rp.AbstractGame):
    """[FK] A.14: ten players, theta_nu = -x_nu / S (1 - S / B), B = theta = 1, x_nu >= 0.01, the
    shared constraint S = sum x <= B. Published: x_nu = 0.09 (0.08999991899425 in [FK])."""

    num_agents = 10
    theta_dim = 1

    @property
    def theta_bounds(self):
        return jnp.array([0.5]), jnp.array([2.0])

    @property
    def lower(self):
        return 0.01

    def utilities(self, theta, x):
        return _switching_utilities(x, theta[0])

    def constraints(self, probe, x):
        return (jnp.sum(x) - 1.0)[None]


class PrivilegedSwitching(InternetSwitching):
    """[FK] A.1: A.14 where player 1 has the box [0.3, 0.5] and no coupled constraint, and each
    of players 2..10 owns the constraint S <= B (x_nu >= 0.01)."""

    @property
    def lower(self):
        return jnp.array([0.3] + [0.01] * 9)

    @property
    def upper(self):
        return jnp.array([0.5] + [jnp.inf] * 9)

    def constraints(self, probe, x):
        return jnp.full((9,), jnp.sum(x) - 1.0)

    @property
    def constraint_owners(self):
        return tuple(range(1, 10))


A3_A = (np.array([[20.0, 5, 3], [5, 5, -5], [3, -5, 15]]), np.array([[11.0, -1], [-1, 9]]),
        np.array([[48.0, 39], [39, 53]]))
A3_B = (np.array([[-6.0, 10, 11, 20], [10, -4, -17, 9], [15, 8, -22, 21]]),
        np.array([[20.0, 1, -3, 12, 1], [10, -4, 8, 16, 21]]),
        np.array([[10.0, -2, 22, 12, 16], [9, 19, 21, -4, 20]]))
A3_b = (np.array([1.0, -1, 1]), np.array([1.0, 0]), np.array([-1.0, 2]))


class FKA3(rp.AbstractGame):
    """[FK] A.3: three players with 3, 2 and 2 variables, theta_nu = 1/2 x_nu' A_nu x_nu +
    x_nu' (B_nu x_-nu + b_nu), -10 <= x <= 10, and player-owned coupled constraints
    (player 1: x11 + x12 + x13 <= 20, x11 + x12 - x13 - x21 + x32 <= 5; player 2:
    x21 - x22 - x12 - x13 + x31 <= 7; player 3: x32 - x11 - x13 + x21 <= 4). theta = b_1."""

    num_agents = 3
    action_dims = (3, 2, 2)
    theta_dim = 3

    @property
    def theta_bounds(self):
        return jnp.full(3, -10.0), jnp.full(3, 10.0)

    @property
    def lower(self):
        return -10.0

    @property
    def upper(self):
        return 10.0

    def utilities(self, theta, x):
        blocks = self.player_actions(x)
        b = (theta, jnp.asarray(A3_b[1], x.dtype), jnp.asarray(A3_b[2], x.dtype))
        out = []
        for i, xi in enumerate(blocks):
            others = jnp.concatenate([blocks[j] for j in range(3) if j != i])
            A, B = jnp.asarray(A3_A[i], x.dtype), jnp.asarray(A3_B[i], x.dtype)
            out.append(-(0.5 * xi @ A @ xi + xi @ (B @ others + b[i])))
        return jnp.stack(out)

    def constraints(self, probe, x):
        x1, x2, x3 = self.player_actions(x)
        return jnp.stack([
            jnp.sum(x1) - 20.0,
            x1[0] + x1[1] - x1[2] - x2[0] + x3[1] - 5.0,
            x2[0] - x2[1] - x1[1] - x1[2] + x3[0] - 7.0,
            x3[1] - x1[0] - x1[2] + x2[0] - 4.0,
        ])

    @property
    def constraint_owners(self):
        return (0, 0, 1, 2)

    @property
    def kkt_affine(self):
        return True


class FKA11(rp.AbstractGame):
    """[FK] A.11: theta_1 = (x1 - a1)^2, theta_2 = (x2 - a2)^2, free variables, the shared
    constraint x1 + x2 <= 1; theta = (a1, a2) = (1, 1/2). Variational equilibrium (3/4, 1/4)."""

    num_agents = 2
    theta_dim = 2

    @property
    def theta_bounds(self):
        return jnp.full(2, -5.0), jnp.full(2, 5.0)

    @property
    def lower(self):
        return -jnp.inf

    def utilities(self, theta, x):
        return -((x - theta) ** 2)

    def constraints(self, probe, x):
        return (x[0] + x[1] - 1.0)[None]

    @property
    def kkt_affine(self):
        return True


A15_C = (np.array([0.04]), np.array([0.035, 0.125]), np.array([0.0166, 0.05, 0.05]))
A15_D = (np.array([2.0]), np.array([1.75, 1.0]), np.array([3.25, 3.0, 3.0]))
A15_UPPER = np.array([80.0, 80, 50, 55, 30, 40])


class Electricity(rp.AbstractGame):
    """[FK] A.15 ([CKK]): companies with 1, 2 and 3 generators, price a - 2 Q (a = theta = 378.4),
    quadratic generation costs 1/2 c x^2 + d x, capacities as box bounds, no coupled constraint."""

    num_agents = 3
    action_dims = (1, 2, 3)
    theta_dim = 1

    @property
    def theta_bounds(self):
        return jnp.array([300.0]), jnp.array([450.0])

    @property
    def upper(self):
        return jnp.asarray(A15_UPPER)

    def utilities(self, theta, x):
        price = theta[0] - 2.0 * jnp.sum(x)
        out = []
        for i, xi in enumerate(self.player_actions(x)):
            c, d = jnp.asarray(A15_C[i], x.dtype), jnp.asarray(A15_D[i], x.dtype)
            out.append(price * jnp.sum(xi) - jnp.sum(0.5 * c * xi**2 + d * xi))
        return jnp.stack(out)

    @property
    def kkt_affine(self):
        return True


A16_C = np.array([10.0, 8, 6, 4, 2])
A16_K = np.array([5.0, 5, 5, 5, 5])
A16_BETA = np.array([1.2, 1.1, 1.0, 0.9, 0.8])


class Oligopoly(rp.AbstractGame):
    """[FK] A.16 ([MSS]): five firms, inverse demand p(Q) = 5000^(1/1.1) Q^(-1/1.1), costs
    c_i x + beta_i / (beta_i + 1) K_i^(-1/beta_i) x^((beta_i + 1) / beta_i), x >= 0 and the shared
    capacity Q <= P (the probe); `equality=True` writes it Q = P."""

    num_agents = 5
    probe_dim = 1
    equality: bool = False

    @property
    def probe_bounds(self):
        return jnp.array([1.0]), jnp.array([1000.0])

    def utilities(self, theta, x):
        dt = x.dtype
        c, K, beta = (jnp.asarray(v, dt) for v in (A16_C, A16_K, A16_BETA))
        Q = jnp.sum(x)
        price = 5000.0 ** (1 / 1.1) * Q ** (-1 / 1.1)
        xs = jnp.maximum(x, 0.0)
        cost = c * x + beta / (beta + 1) * K ** (-1 / beta) * xs ** ((beta + 1) / beta)
        return price * x - cost

    def constraints(self, probe, x):
        if self.equality:
            return super().constraints(probe, x)
        return (jnp.sum(x) - probe[0])[None]

    def equality_constraints(self, probe, x):
        if self.equality:
            return (jnp.sum(x) - probe[0])[None]
        return super().equality_constraints(probe, x)


class FKA17(rp.AbstractGame):
    """[FK] A.17: player 1 (x1, x2), player 2 (x3); theta_1 = x1^2 + x1 x2 + x2^2 + (x1 + x2) x3
    - a1 x1 - a2 x2, theta_2 = x3^2 + (x1 + x2) x3 - a3 x3 (theta = (a1, a2, a3) = (25, 38, 25)),
    x >= 0, shared x1 + 2 x2 - x3 <= 14 and 3 x1 + 2 x2 + x3 <= 30 (`equality=True`: = ).
    Published variational equilibrium (0, 11, 8)."""

    num_agents = 2
    action_dims = (2, 1)
    theta_dim = 3
    equality: bool = False

    @property
    def theta_bounds(self):
        return jnp.zeros(3), jnp.full(3, 100.0)

    def utilities(self, theta, x):
        x1, x2, x3 = x[0], x[1], x[2]
        return -jnp.stack([
            x1**2 + x1 * x2 + x2**2 + (x1 + x2) * x3 - theta[0] * x1 - theta[1] * x2,
            x3**2 + (x1 + x2) * x3 - theta[2] * x3,
        ])

    def _g(self, x):
        return jnp.stack([x[0] + 2 * x[1] - x[2] - 14.0, 3 * x[0] + 2 * x[1] + x[2] - 30.0])

    def constraints(self, probe, x):
        return super().constraints(probe, x) if self.equality else self._g(x)

    def equality_constraints(self, probe, x):
        return self._g(x) if self.equality else super().equality_constraints(probe, x)

    @property
    def kkt_affine(self):
        return True


class RosenPair(rp.AbstractGame):
    """[R]-style: phi_1 = -x1^2 / 2 + x1 x2, phi_2 = -x2^2 + x1 x2, x >= 0, the shared constraint
    x1 + x2 >= b (the probe, 1), Rosen weights r = `weights`. Normalized equilibrium (derived by
    hand: the stationarity conditions -x1 + x2 + mu / r1 = 0, -2 x2 + x1 + mu / r2 = 0 with the
    active constraint): x(r) = b (r1 + 2 r2, r1 + r2) / (2 r1 + 3 r2)."""

    num_agents = 2
    probe_dim = 1
    weights: jnp.ndarray = eqx.field(converter=jnp.asarray, default=(1.0, 2.0))

    @property
    def probe_bounds(self):
        return jnp.array([0.1]), jnp.array([10.0])

    @property
    def rosen_weights(self):
        return self.weights

    def utilities(self, theta, x):
        return jnp.stack([-0.5 * x[0] ** 2 + x[0] * x[1], -x[1] ** 2 + x[0] * x[1]])

    def constraints(self, probe, x):
        return (probe[0] - x[0] - x[1])[None]

    @property
    def kkt_affine(self):
        return True


def rosen_solution(r, theta=1.0):
    r1, r2 = r
    return theta * np.array([r1 + 2 * r2, r1 + r2]) / (2 * r1 + 3 * r2)


def switching_a1_solution():
    """[FK] A.1 exactly: player 1 at its lower bound 0.3 (its marginal utility is negative there),
    the others symmetric interior: (0.3 + 8 y) = (0.3 + 9 y)^2, i.e. 81 y^2 - 2.6 y - 0.21 = 0
    (S = 0.925 < 1: the owned constraints are slack)."""
    y = (2.6 + np.sqrt(2.6**2 + 4 * 81 * 0.21)) / (2 * 81)
    return np.array([0.3] + [y] * 9)


# ------------------------------------------------------------------------------------ library


NEWTON, ENUM, NIRA = "newton", "enumeration", "nira"


@dataclasses.dataclass(frozen=True)
class Problem:
    name: str
    game: rp.AbstractGame
    published: np.ndarray  # a published solution (flat joint action)
    published_tol: float  # the published solution's accuracy (max abs error allowed)
    solvers: tuple  # "enumeration", "newton", "nira"
    concept: str
    source: str
    theta: np.ndarray | None = None
    probe: np.ndarray | None = None  # (q,), or (K, q) for K instances (published then (K, n))
    exact: np.ndarray | None = None  # a tight independent solution (closed form), if any
    in_set: Callable | None = None  # for a continuum of solutions: is x one of them?
    published_by: tuple = (ENUM, NEWTON, NIRA)  # the solvers expected to reach `published`
    nira_steps: int = 200  # NikaidoIsoda's max_steps (linear convergence)

    @property
    def instances(self) -> int:
        return 0 if self.probe is None or np.ndim(self.probe) == 1 else len(self.probe)


A16_PUBLISHED = {
    75.0: [10.403965, 13.035817, 15.407354, 17.381556, 18.771308],
    100.0: [14.050088, 17.798379, 20.907187, 23.111429, 24.132916],
    150.0: [23.588799, 28.684248, 32.021533, 33.287258, 32.418182],
    200.0: [35.785329, 40.748959, 42.802485, 41.966381, 38.696846],
}


def _harker_set(x):
    x = np.asarray(x)
    return (np.allclose(x, [5.0, 9.0], atol=1e-7)
            or (abs(x[0] + x[1] - 15.0) <= 1e-7 and 9.0 - 1e-7 <= x[0] <= 10.0 + 1e-7))


PROBLEMS = [
    Problem("harker", Harker(), np.array([5.0, 9.0]), 1e-9, (ENUM, NEWTON, NIRA), "variational",
            "[H]", theta=np.array([34.0, 24.25]), exact=np.array([5.0, 9.0]), nira_steps=1000),
    Problem("harker_owned", Harker(owned=True), np.array([5.0, 9.0]), np.inf, (ENUM, NEWTON),
            "generalized", "[H]: the generalized equilibria {(5, 9)} U {(t, 15 - t): 9 <= t <= 10}",
            theta=np.array([34.0, 24.25]), in_set=_harker_set),
    Problem("fk_a1", PrivilegedSwitching(),
            np.array([0.29923815223336] + [0.06951127617805] * 9), 1e-3, (NEWTON,),
            "generalized", "[FK] A.1 (published to about 1e-3: its x1 lies below the bound 0.3)",
            theta=np.array([1.0]), exact=switching_a1_solution()),
    Problem("fk_a3", FKA3(), np.array([-0.38046562696294, -0.12266997083590, -0.99322817120634,
                                       0.39034789080558, 1.16385412688026, 0.05039533464023,
                                       0.01757740533476]), 3e-5, (ENUM, NEWTON), "generalized",
            "[FK] A.3 (published to about 1e-5; several generalized equilibria exist: Newton from "
            "the default start reaches the published one, the enumeration another)",
            theta=np.array(A3_b[0]), published_by=(NEWTON,)),
    Problem("fk_a11", FKA11(), np.array([0.75, 0.25]), 1e-9, (ENUM, NEWTON, NIRA), "variational",
            "[FK] A.11", theta=np.array([1.0, 0.5]), exact=np.array([0.75, 0.25])),
    Problem("fk_a14", InternetSwitching(), np.full(10, 0.08999991899425), 1e-6, (NEWTON, NIRA),
            "variational", "[FK] A.14", theta=np.array([1.0]), exact=np.full(10, 0.09)),
    Problem("fk_a15", Electricity(), np.array([46.66150692423980, 32.15293850189938,
                                              15.00419467998705, 22.10485810522063,
                                              12.34076570922471, 12.34076570922471]), 3e-3,
            (ENUM, NEWTON, NIRA), "nash", "[FK] A.15, [CKK] (published to about 2e-3)",
            theta=np.array([378.4])),
    Problem("fk_a16", Oligopoly(), np.array(list(A16_PUBLISHED.values())), 2e-4, (NEWTON, NIRA),
            "variational", "[FK] A.16, [MSS] (published to about 1e-4)",
            probe=np.array(list(A16_PUBLISHED))[:, None]),
    Problem("fk_a16_equality", Oligopoly(equality=True), np.array(list(A16_PUBLISHED.values())),
            2e-4, (NEWTON, NIRA), "variational", "[FK] A.16 with Q = P",
            probe=np.array(list(A16_PUBLISHED))[:, None]),
    Problem("fk_a17", FKA17(), np.array([0.0, 11.0, 8.0]), 1e-9, (ENUM, NEWTON, NIRA),
            "variational", "[FK] A.17", theta=np.array([25.0, 38.0, 25.0])),
    Problem("fk_a17_equality", FKA17(equality=True), np.array([0.0, 11.0, 8.0]), 1e-9,
            (ENUM, NEWTON, NIRA), "variational", "[FK] A.17 with equalities",
            theta=np.array([25.0, 38.0, 25.0])),
    Problem("river", rp.games.RiverPollution(),
            np.array([21.14480155732168, 16.02785326538717, 2.7259709656438]), 1e-4,
            (ENUM, NEWTON, NIRA), "variational", "[KU], [FK] A.13",
            theta=np.array(rp.games.DEFAULT_THETA), probe=np.array(rp.games.DEFAULT_PROBE)),
    Problem("rosen_weights", RosenPair(), rosen_solution((1.0, 2.0)), 1e-9, (ENUM, NEWTON, NIRA),
            "normalized", "[R] (closed form derived in RosenPair)", probe=np.array([1.0]),
            exact=rosen_solution((1.0, 2.0))),
]

BY_NAME = {p.name: p for p in PROBLEMS}
