r"""Ask-tell: Algorithm 1 for a system that jaxmd_rp cannot run, only observe.

`ParetoGapObjective(game)` enacts the game itself (it solves the equilibria from the utilities).
A laboratory experiment, a field trial or an outside simulator cannot be called from JAX; with
`AskTell` the designer asks which mechanisms to deploy, the outside world plays them, and the
designer is told what it observed:

    designer = AskTell(SPSA(lower, upper), probe_functions)
    state = designer.init(theta0, probes, keys)        # P paths: theta0 (P, p), probes (P, T, q)
    query = designer.ask(state)                        # deploy query.theta (P, K, p) on query.probes
    state, info = designer.tell(state, query, strategies)   # observed: (P, K, T, [N,] *action)

**What the designer supplies.** Only its own probe functions g_t^i (`ProbeFunctions(fn, ...)`
with `fn(probe, x) -> (R,)`, or a game whose `revealed_constraints` are used): never utilities.

**The query.** `theta[k]` holds, for path k, the mechanisms of one SPSA iteration: theta_n (when
the method tracks L(theta_n)), theta_n + c_n Delta_n and theta_n - c_n Delta_n (K = 3, or 2).
Every one is enacted on the path's T probes `probes[k]`. `keys[k, j]` is the key of evaluation j:
a JAX simulator that draws its samples from it as `Observer` does (`fold_in(key, 11)` for the
samples, `fold_in(key, 13)` for noise) reproduces `ParetoGapObjective` exactly (`simulate`).
`active[k]` is False for a path that has stopped (L(theta_n) <= stop_tol): its theta no longer
moves, and observing it only re-measures the gap (NaN is accepted).

**The observations.** `strategies` has shape (P, K, T, *action_shape) (pure strategies: the
observed play itself) or (P, K, T, N, *action_shape) (N samples of each mixed or noisy strategy,
paper eq. 12). NaN anywhere in the observations of evaluation (k, j) marks it as missing: its gap is
NaN and path k's step is skipped and flagged (`info.failed`), exactly as a failed equilibrium
solve is today. inf is refused.

**The gap and its uncertainty.** `tell` computes the Pareto gap L_hat of each evaluation (eq. 13),
or with `epsilon` set the Wasserstein-robust gap L_DR^eps of radius epsilon (Figure 5), and
reports for the empirical Pareto gap a half-width `halfwidth` with P(|L_hat - L| <= halfwidth) >=
`confidence` (Theorem 2: Hoeffding's inequality for each of the R T^2 probe values, a union bound,
and the 1-Lipschitz property of the gap in the sup norm):

    halfwidth = range * sqrt(log(2 R T^2 / (1 - confidence)) / (2 N)).

`range` is `value_range` if the designer knows the range of its probe functions on the strategy
sets (then the bound is Theorem 2's, rigorous), else the largest spread max_k g - min_k g of the
observed per-sample probe values (a plug-in estimate: it can only underestimate the true range,
so the bound is then approximate; it is 0 when every sample of every strategy gives the same
probe values). Pure observations (no sample axis) have halfwidth 0; N = 1 without `value_range`
has halfwidth NaN (one sample says nothing about the spread). A bootstrap was not chosen: the gap
is a max-min of the probe values, and the bootstrap is inconsistent for such non-smooth
functionals exactly at the points that matter (L = 0, ties between cycles); it would also need B
extra gap evaluations and its own random stream, where the bound is a deterministic function of
the observations.

**Equivalence.** With the exact observer in the middle (`simulate(Observer(game), query)`), ask
and tell compute bit for bit what `spsa_minimise(ParetoGapObjective(game), ...)` and `run_study`
compute with the same per-path keys: path k's iteration n uses `fold_in(keys[k], n)`, and
`SPSA.step` is `ask`, the objective, `tell`.

**Saving between ask and tell.** `ask` is a pure function of the state: asking twice gives the
same query. `tell` recomputes the query from the state and refuses (an error at run time) a
`query` of another iteration or other mechanisms (told twice, or observations of another query).
(The deployed mechanisms are compared to the recomputed ones to a few ulps: a separately compiled
`ask` may round the last bit differently; the update always uses the recomputed ones.) The state
is a pytree of arrays (save it with `jaxmd_rp.load_checkpoint`'s machinery, or the
`jaxmd-rp init / ask / tell` commands, which keep it sealed on disk between the two halves).
"""

from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float

from .._game import AbstractGame, probe_values
from .._observe import Observer, as_leaf, is_concrete
from .._pareto_gap import pareto_gap_unchecked
from .._robust import robust_pareto_gap_game
from ._base import AbstractDesignInfo, AbstractDesignState
from ._blackbox import AbstractBlackBoxMethod
from ._driver import check_paths


class ProbeFunctions(AbstractGame):
    """The designer's probe functions g_t^i, and nothing else: a game without utilities.

    **Arguments:**

    - `fn`: `fn(probe, x) -> (R,)`, the probe values g^1..g^R of the joint action `x` (shape
      `action_shape`) under `probe` (shape (probe_dim,)); feasibility is g <= 0 and a strategy
      that exhausts its probe has g = 0 (see `jaxmd_rp.probe_values`).
    - `num_agents`: M; `probe_dim`: the length of a probe vector.
    - `action_dim`: `None` for scalar actions (x has shape (M,)), else k (x has shape (M, k)).
    - `action_lower`: the action lower bound (default 0; the robust gap uses it).
    - `probe_box`: optional (lower, upper) of admissible probes (for `sample_probes`).

    `utilities` and `constraints` raise: the designer never knows them.

    ```python
    >>> import jax.numpy as jnp, jaxmd_rp as rp
    >>> g = rp.ProbeFunctions(lambda probe, x: x / probe - 1.0, num_agents=2, probe_dim=2)
    >>> rp.probe_values(g, jnp.array([[1.0, 2.0]]), jnp.array([[1.0, 1.0]])).ravel().tolist()
    [0.0, -0.5]

    ```
    """

    fn: Callable
    num_agents: int = eqx.field(static=True)
    probe_dim: int = eqx.field(static=True)
    action_dim: int | None = eqx.field(static=True, default=None)
    action_lower: Array = eqx.field(default=0.0, converter=as_leaf)
    probe_box: tuple | None = None
    theta_dim: int = eqx.field(static=True, default=0)

    def __check_init__(self):
        if not callable(self.fn):
            raise TypeError(f"`fn` must be callable as fn(probe, x) -> (R,); got "
                            f"{type(self.fn).__name__}.")
        for name in ("num_agents", "probe_dim"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise ValueError(f"`{name}` must be an integer >= 1; got {v!r}.")
        k = self.action_dim
        if k is not None and (isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1):
            raise ValueError(f"`action_dim` must be None or an integer >= 1; got {k!r}.")

    def utilities(self, theta, x):
        raise NotImplementedError("ProbeFunctions are what the designer measures; the agents' "
                                  "utilities are unknown to it.")

    def constraints(self, probe, x):
        raise NotImplementedError("ProbeFunctions are what the designer measures; the agents' "
                                  "constraints are not modelled (use `revealed_constraints`).")

    def revealed_constraints(self, probe, x):
        return self.fn(probe, x)

    @property
    def lower(self) -> Array:
        return jnp.broadcast_to(jnp.asarray(self.action_lower), self.action_shape)

    @property
    def probe_bounds(self):
        if self.probe_box is None:
            return super().probe_bounds
        lo, hi = self.probe_box
        return (jnp.broadcast_to(jnp.asarray(lo), (self.probe_dim,)),
                jnp.broadcast_to(jnp.asarray(hi), (self.probe_dim,)))


class AskTellState(eqx.Module):
    """The designer's state: `design` (the method's state of every path, leading axis P), the
    per-path `probes` (P, T, q) and per-path `keys` (P,)."""

    design: AbstractDesignState
    probes: Array
    keys: Array


class AskTellQuery(eqx.Module):
    """What to deploy next (see the module docstring): `theta` (P, K, p), `probes` (P, T, q),
    per-evaluation `keys` (P, K), the iteration `n` (P,) and `active` (P,)."""

    theta: Float[Array, "P K p"]
    probes: Float[Array, "P T q"]
    keys: Array
    n: Array
    active: Bool[Array, " P"]


class AskTellInfo(AbstractDesignInfo):
    """What one tell measured, for every path.

    `value` (P,): the gap at theta_n (NaN if not tracked or missing); `gap` (P, K): the gap of
    every evaluation (robust with `epsilon`); `nominal_gap` (P, K): the empirical Pareto gap;
    `halfwidth` (P, K): its Theorem-2 half-width at the designer's `confidence`; `observed`
    (P, K): the observations were complete; `stopped`, `failed` (P,): as the method's info;
    `step`: the method's own info (e.g. `SPSAInfo`, leading axis P).
    """

    value: Array
    gap: Array
    nominal_gap: Array
    halfwidth: Array
    observed: Array
    stopped: Array
    failed: Array
    step: AbstractDesignInfo


def hoeffding_halfwidth(confidence, num_samples, num_values, value_range):
    """eps with 1 - num_values * 2 exp(-2 eps^2 N / range^2) = confidence: the half-width that
    `concentration_bound(eps, N, T, M, range)` (form "union", num_values = M T^2) certifies."""
    delta = 1.0 - confidence
    return value_range * jnp.sqrt(jnp.log(2.0 * num_values / delta) / (2.0 * num_samples))


class AskTell(eqx.Module):
    """Algorithm 1 as a pure ask-tell pair for a system observed from outside (module docstring).

    **Arguments:**

    - `method`: a black-box design method (`SPSA`).
    - `probe_functions`: the designer's probe functions: `ProbeFunctions(fn, ...)` or a game
      (only its `revealed_constraints`, `action_shape`, `lower` and, for budget games, `prices`
      are used).
    - `epsilon`: `None` (default) minimises the Pareto gap; a radius >= 0 minimises the
      Wasserstein-robust gap (`robust_pareto_gap_game`, with `support`, `rounds`, `golden`;
      `bound="lower"` uses its certified lower bound).
    - `confidence`: the level of `info.halfwidth` (default 0.95).
    - `value_range`: the known range of the probe values on the strategy sets (makes the
      half-width rigorous); `None` estimates it from the samples.

    ```python
    >>> import jax, jax.numpy as jnp, jaxmd_rp as rp
    >>> jax.config.update("jax_enable_x64", True)
    >>> game = rp.games.CournotPollution()
    >>> designer = rp.AskTell(rp.SPSA(*game.theta_bounds), game)
    >>> P, T = 4, 5
    >>> keys = rp.path_keys(jax.random.PRNGKey(0), P)
    >>> probes = jax.vmap(lambda k: rp.sample_probes(game, k, T))(keys)
    >>> state = designer.init(jnp.zeros((P, 1)), probes, keys)
    >>> query = designer.ask(state)              # deploy query.theta on query.probes ...
    >>> query.theta.shape, query.probes.shape
    ((4, 3, 1), (4, 5, 2))
    >>> observed = rp.simulate(rp.Observer(game), query)   # ... here: the exact equilibria
    >>> state, info = designer.tell(state, query, observed)
    >>> info.gap.shape, bool(jnp.all(info.halfwidth == 0))
    ((4, 3), True)

    ```
    """

    method: AbstractBlackBoxMethod
    probe_functions: AbstractGame
    epsilon: Array | None = eqx.field(default=None, converter=as_leaf)
    support: str = eqx.field(static=True, default="triangle")
    rounds: int = eqx.field(static=True, default=16)
    golden: int = eqx.field(static=True, default=32)
    bound: str = eqx.field(static=True, default="value")
    confidence: Array = eqx.field(default=0.95, converter=as_leaf)
    value_range: Array | None = eqx.field(default=None, converter=as_leaf)

    def __check_init__(self):
        if not isinstance(self.method, AbstractBlackBoxMethod):
            raise TypeError("`method` must be a black-box design method with ask/tell (e.g. "
                            f"SPSA); got {type(self.method).__name__}.")
        if not isinstance(self.probe_functions, AbstractGame):
            raise TypeError("`probe_functions` must be ProbeFunctions(fn, ...) or a game; got "
                            f"{type(self.probe_functions).__name__}.")
        if self.bound not in ("value", "upper", "lower"):
            raise ValueError(f"`bound` must be 'value', 'upper' or 'lower'; got {self.bound!r}.")
        _check_number("epsilon", self.epsilon, lambda v: v >= 0, "a finite radius >= 0")
        _check_number("confidence", self.confidence, lambda v: 0 < v < 1, "in (0, 1)")
        _check_number("value_range", self.value_range, lambda v: v > 0, "a finite number > 0")

    # ----------------------------------------------------------------------------- the pair
    def init(self, theta0: Float[Array, "P p"], probes: Float[Array, "P T q"],
             keys: Array) -> AskTellState:
        """The state of P paths.

        **Arguments:**

        - `theta0`: (P, p) the starting mechanisms (projected onto Theta).
        - `probes`: (P, T, probe_dim) each path's probes (fixed, Algorithm 1 lines 3-7).
        - `keys`: (P,) per-path keys (`path_keys`); path k's iteration n uses
          `fold_in(keys[k], n)`.

        **Returns:** an `AskTellState`.
        """
        theta0 = check_paths(theta0, self.method)
        P = theta0.shape[0]
        probes = _real("probes", probes)
        q = self.probe_functions.probe_dim
        if probes.ndim != 3 or probes.shape[0] != P or probes.shape[2] != q or probes.shape[1] < 1:
            raise ValueError(f"`probes` must have shape (P, T, probe_dim) = ({P}, T, {q}) with "
                             f"T >= 1; got {probes.shape}.")
        if is_concrete(probes) and not bool(jnp.all(jnp.isfinite(probes))):
            raise ValueError("`probes` contains NaN or inf.")
        keys = jnp.asarray(keys)
        typed = jax.dtypes.issubdtype(keys.dtype, jax.dtypes.prng_key)
        if keys.shape[:1] != (P,) or (not typed and keys.ndim != 2):
            raise ValueError(f"`keys` must hold one key per path ({P},) (`path_keys(key, {P})`); "
                             f"got shape {keys.shape}.")
        design = jax.vmap(self.method.init)(theta0)
        return AskTellState(design=design, probes=probes.astype(design.theta.dtype), keys=keys)

    def ask(self, state: AskTellState) -> AskTellQuery:
        """The mechanisms to deploy next (pure: asking twice gives the same query).

        **Returns:** an `AskTellQuery` (module docstring).
        """
        q = self._method_queries(state)
        K = q.theta.shape[1]
        keys = jax.vmap(lambda k: jnp.stack([k] * K))(q.key)
        return AskTellQuery(theta=q.theta, probes=state.probes, keys=keys, n=q.n,
                            active=~state.design.stopped)

    def tell(self, state: AskTellState, query: AskTellQuery,
             strategies: Float[Array, "P K T ..."]) -> tuple[AskTellState, AskTellInfo]:
        """Update every path from what was observed on `query`.

        **Arguments:**

        - `state`: the state `query` was asked from.
        - `query`: the `AskTellQuery` that `ask(state)` returned.
        - `strategies`: (P, K, T, *action_shape) or (P, K, T, N, *action_shape); NaN marks a
          missing observation (module docstring).

        **Returns:** `(new_state, AskTellInfo)`.
        """
        q = self._method_queries(state)
        P, K = q.theta.shape[:2]
        strategies = self.check_strategies(strategies, P, K, state.probes.shape[1])
        strategies = _check_answers(query, q.theta, q.n, state.probes, strategies)
        gap, nominal, half, observed = jax.vmap(
            lambda pr, st: jax.vmap(lambda s: self.evaluate(pr, s))(st))(state.probes, strategies)
        design, step = jax.vmap(self.method.tell)(state.design, q, gap.astype(q.theta.dtype))
        info = AskTellInfo(value=step.value, gap=gap, nominal_gap=nominal, halfwidth=half,
                           observed=observed, stopped=step.stopped, failed=step.failed, step=step)
        return AskTellState(design=design, probes=state.probes, keys=state.keys), info

    # ----------------------------------------------------------------------------- pieces
    def _method_queries(self, state: AskTellState):
        def one(key, st):
            return self.method.ask(jax.random.fold_in(key, st.n), st)

        return jax.vmap(one)(state.keys, state.design)

    def check_strategies(self, strategies, P: int, K: int, T: int) -> Array:
        """The observations as a real array of shape (P, K, T, [N,] *action_shape) (trace-time
        shape check; inf refused at run time)."""
        s = _real("strategies", strategies)
        shape = self.probe_functions.action_shape
        pure, sampled = (P, K, T, *shape), len(shape) + 4
        if s.shape != pure and (s.ndim != sampled or s.shape[:3] != (P, K, T)
                                or s.shape[4:] != shape or s.shape[3] < 1):
            raise ValueError(
                f"`strategies` must have shape (P, K, T, *action_shape) = {pure} (the observed "
                f"play) or (P, K, T, N, *action_shape) = {(P, K, T, 'N', *shape)} (N >= 1 samples "
                f"of each strategy); got {s.shape}.")
        return eqx.error_if(s, jnp.any(jnp.isinf(s)),
                            "`strategies` contains inf; mark a missing observation with NaN.")

    def evaluate(self, probes, strategies):
        """(gap, nominal gap, half-width, observed) of one evaluation: `probes` (T, q) and the
        strategies observed on them, (T, [N,] *action_shape); NaN marks a missing one."""
        game = self.probe_functions
        observed = ~jnp.any(jnp.isnan(strategies))
        x = jnp.where(observed, strategies, jnp.zeros((), strategies.dtype))
        values = probe_values(game, probes, x)
        nominal = pareto_gap_unchecked(values)
        if self.epsilon is None:
            gap = nominal
        else:
            sol = robust_pareto_gap_game(game, probes, x, self.epsilon, support=self.support,
                                         rounds=self.rounds, golden=self.golden, throw=False)
            gap = sol.lower if self.bound == "lower" else sol.value
        half = self.halfwidth(probes, x, values.shape[0])
        nan = lambda v: jnp.where(observed, v, jnp.nan)  # noqa: E731
        return nan(gap), nan(nominal), nan(half), observed

    def halfwidth(self, probes, strategies, num_rows: int) -> Array:
        """Theorem 2's half-width for one evaluation (module docstring)."""
        game = self.probe_functions
        T = probes.shape[0]
        dtype = strategies.dtype
        if strategies.shape == (T, *game.action_shape):
            return jnp.zeros((), dtype)
        N = strategies.shape[1]
        if self.value_range is not None:
            spread = jnp.asarray(self.value_range, dtype)
        elif N == 1:
            return jnp.full((), jnp.nan, dtype)
        else:
            per_sample = jax.vmap(lambda s: probe_values(game, probes, s), in_axes=1)(strategies)
            spread = jnp.max(jnp.max(per_sample, axis=0) - jnp.min(per_sample, axis=0))
        conf = jnp.asarray(self.confidence, dtype)
        return hoeffding_halfwidth(conf, N, num_rows * T * T, spread)


def _check_answers(query: AskTellQuery, theta, n, probes, strategies):
    """`strategies`, with a run-time check that `query` is the state's pending ask."""
    if not isinstance(query, AskTellQuery):
        raise TypeError(f"`query` must be the AskTellQuery that `ask` returned; got "
                        f"{type(query).__name__}.")
    if query.theta.shape != theta.shape or query.probes.shape != probes.shape:
        raise ValueError(f"`query` does not answer this state's ask: its mechanisms have shape "
                         f"{query.theta.shape} and its probes {query.probes.shape}, the pending "
                         f"ask has {theta.shape} and {probes.shape}.")
    same_n = jnp.all(jnp.asarray(query.n) == n)
    # The mechanisms are recomputed from the state inside `tell`; a separately compiled `ask`
    # may round the last bit differently (XLA fuses `theta + c_n Delta_n` differently), so they
    # are compared to a few ulps. Another iteration's mechanisms differ by c_n Delta_n.
    tol = 16 * jnp.finfo(theta.dtype).eps * (1 + jnp.abs(theta))
    close = jnp.all(jnp.abs(jnp.asarray(query.theta, theta.dtype) - theta) <= tol)
    same = same_n & close & jnp.all(query.probes == probes)
    strategies = eqx.error_if(strategies, ~same_n, "`query` was asked at another iteration than "
                              "the state's pending ask (told twice, or observations of an older "
                              "query).")
    return eqx.error_if(strategies, ~same, "`query` does not answer this state's pending ask "
                        "(other mechanisms or probes).")


def _real(name: str, a) -> Array:
    a = jnp.asarray(a)
    if jnp.iscomplexobj(a):
        raise TypeError(f"`{name}` must be real; got dtype {a.dtype}.")
    if not jnp.issubdtype(a.dtype, jnp.floating):
        a = a.astype(jnp.result_type(float))
    return a


def _check_number(name: str, v, ok, rule: str):
    if v is None or not is_concrete(v):
        return
    a = np.asarray(v)
    if a.ndim != 0 or not np.isrealobj(a) or not np.isfinite(a) or not ok(float(a)):
        raise ValueError(f"`{name}` must be {rule}; got {a.item()!r}.")


def simulate(observer: Observer, query: AskTellQuery) -> Array:
    """The observations a JAX simulator makes of a query: `observer(theta, probes, key)` for
    every path and evaluation, NaN where the observer could not obtain a strategy. Shape
    (P, K, T, [N,] *action_shape), as `AskTell.tell` expects."""

    def one(theta, probes, key):
        x, ok = observer(theta, probes, key)
        ok = jnp.reshape(ok, ok.shape + (1,) * (x.ndim - 1))
        return jnp.where(ok, x, jnp.nan)

    def path(thetas, probes, keys):
        return jax.vmap(one, in_axes=(0, None, 0))(thetas, probes, keys)

    return jax.vmap(path)(query.theta, query.probes, query.keys)
