"""A Cournot duopoly with a per-unit tax (theta < 0: a subsidy), probed with output caps."""
import jax.numpy as jnp

import jaxmd_rp as rp


class TaxedDuopoly(rp.AbstractGame):
    num_agents, action_dim, theta_dim, probe_dim = 2, None, 1, 2  # x = (q1, q2), theta = [tax]
    demand: float = 10.0  # inverse demand: price = demand - q1 - q2

    theta_bounds = property(lambda self: (jnp.full(1, -3.0), jnp.full(1, 5.0)))  # the tax
    probe_bounds = property(lambda self: (jnp.full(2, 0.5), jnp.full(2, 4.0)))  # output caps
    kkt_affine = property(lambda self: True)  # quadratic profits, linear caps: exact solver

    def utilities(self, theta, x):  # profit = (price - unit cost 1 - tax) * output
        return (self.demand - jnp.sum(x) - 1.0 - theta[0]) * x

    def constraints(self, probe, x):  # firm i produces at most cap_i
        return x - probe

    def revealed_constraints(self, probe, x):  # g^i = q_i / cap_i - 1 (0: the cap binds)
        return x / probe - 1.0


def make_game(demand: float = 10.0) -> TaxedDuopoly:
    return TaxedDuopoly(demand=demand)
