"""Building one study combination: the game, the objective, the design method and every path's
inputs (theta_1, probes, run keys), as `experiments.study` describes."""

import dataclasses

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax

from .._design._driver import path_keys
from .._design._gradient import GradientDesign
from .._design._objectives import ParetoGapObjective, SmoothedGapObjective
from .._design._spsa import SPSA
from .._objective import sample_probes
from .._robust import RobustGapObjective
from ._inputs import make_game, read_array
from ._restarts import Restarts
from ._study_config import ConfigError, StudyConfig, StudyError


@dataclasses.dataclass
class Combination:
    """One point of the sweep grid, built: its settings, game, objective, method and inputs."""

    index: int
    values: dict  # the swept settings of this combination ({} without a sweep)
    config: StudyConfig
    game: object
    objective: object
    method: object
    theta0: np.ndarray  # (paths, p)
    probes: np.ndarray  # (paths, T, probe_dim)
    keys: np.ndarray  # (paths, ...) the run keys fold_in(p_k, 2)


def _coords(key: str, values, p: int) -> np.ndarray:
    a = np.asarray(values, np.float64)
    if a.shape != (p,):
        raise ConfigError(key, f"must have p = {p} entries (the game's theta_dim); got {a.size}")
    return a


def _starting_points(cfg: StudyConfig, game, lo, hi):
    """(theta_1 from a file, None) or (None, (low, high)): the box theta_1 is drawn from."""
    p = int(game.theta_dim)
    if cfg.theta0 != "uniform":
        a = read_array("theta0", cfg.theta0)
        if a.shape == (p,) or a.shape == (1, p):
            a = np.broadcast_to(a.reshape(1, p), (cfg.paths, p))
        if a.shape != (cfg.paths, p):
            raise ConfigError("theta0", f"{cfg.theta0!r} must have shape (p,) = ({p},) or "
                                        f"(paths, p) = ({cfg.paths}, {p}); got {a.shape}")
        if np.any(a < lo) or np.any(a > hi):
            raise ConfigError("theta0", f"{cfg.theta0!r} holds points outside the game's Theta")
        return np.array(a), None
    low = lo if cfg.theta0_low is None else _coords("theta0_low", cfg.theta0_low, p)
    high = hi if cfg.theta0_high is None else _coords("theta0_high", cfg.theta0_high, p)
    for key, b in (("theta0_low", low), ("theta0_high", high)):
        if not np.all(np.isfinite(b)):
            raise ConfigError(key, f"is needed: the game's Theta is unbounded ({lo.tolist()} .. "
                                   f"{hi.tolist()}); give a finite box for theta_1")
        if np.any(b < lo) or np.any(b > hi):
            raise ConfigError(key, f"= {b.tolist()} lies outside the game's Theta "
                                   f"({lo.tolist()} .. {hi.tolist()})")
    if np.any(low > high):
        raise ConfigError("theta0_low", f"must be <= theta0_high componentwise; got "
                                        f"{low.tolist()} and {high.tolist()}")
    return None, (low, high)


@eqx.filter_jit
def _draw(game, key, paths: int, low, high, num_probes):
    """Every path's key streams (module docstring) in one compiled call: base keys p_k, theta_1
    (if `low` is given), probes (if `num_probes` is given) and the run keys."""
    base = path_keys(key, paths)
    theta0 = probes = None
    if low is not None:
        theta0 = jax.vmap(lambda k: jax.random.uniform(jax.random.fold_in(k, 0), low.shape,
                                                       minval=low, maxval=high))(base)
    if num_probes is not None:
        probes = jax.vmap(lambda k: sample_probes(game, jax.random.fold_in(k, 1), num_probes))(base)
    return theta0, probes, jax.vmap(lambda k: jax.random.fold_in(k, 2))(base)


def _probes(cfg: StudyConfig, game) -> np.ndarray | None:
    """The probes from a file (None: they are drawn)."""
    q = int(game.probe_dim)
    if isinstance(cfg.probes, int):
        lo, hi = (np.asarray(b) for b in game.probe_bounds)
        if not (np.all(np.isfinite(lo)) and np.all(np.isfinite(hi))):
            raise ConfigError("probes", f"cannot be drawn from the game's probe box ({lo.tolist()}"
                                        f" .. {hi.tolist()}): it is unbounded; give a probes file")
        return None
    a = read_array("probes", cfg.probes)
    if a.ndim == 2 and a.shape[1] == q:
        a = np.broadcast_to(a, (cfg.paths, *a.shape))
    if a.ndim != 3 or a.shape[0] != cfg.paths or a.shape[2] != q:
        raise ConfigError("probes", f"{cfg.probes!r} must have shape (T, probe_dim) = (T, {q}) or "
                                    f"(paths, T, probe_dim) = ({cfg.paths}, T, {q}); got {a.shape}")
    lo, hi = (np.asarray(b, np.float64) for b in game.probe_bounds)
    if np.any(a < lo) or np.any(a > hi):
        raise ConfigError("probes", f"{cfg.probes!r} holds probes outside the game's probe box "
                                    f"({lo.tolist()} .. {hi.tolist()})")
    return np.array(a)


def make_objective(cfg: StudyConfig, game):
    """The objective a configuration names (gap, smoothed or robust)."""
    if cfg.objective == "robust":
        kw = {} if cfg.num_samples is None else {"num_samples": cfg.num_samples}
        return RobustGapObjective(game, cfg.epsilon, **kw)
    T = cfg.probes if isinstance(cfg.probes, int) else None
    gap = ParetoGapObjective(game, num_samples=cfg.num_samples, noise=cfg.noise,
                             fresh_probes=cfg.fresh_probes,
                             num_probes=T if cfg.fresh_probes else None, max_steps=cfg.max_steps)
    return SmoothedGapObjective(gap, tau0=cfg.tau0) if cfg.objective == "smoothed" else gap


def make_method(cfg: StudyConfig, lower, upper):
    """The design method a configuration names (SPSA or gradient design) on Theta."""
    stop_tol = cfg.zero_tol if cfg.stop else None
    if cfg.method == "gradient":
        return GradientDesign(lower, upper, optimizer=getattr(optax, cfg.optimizer),
                              learning_rate=cfg.learning_rate, stop_tol=stop_tol)
    return SPSA(lower=lower, upper=upper, a=cfg.a, c=cfg.c, eta=cfg.eta, q=cfg.q,
                loglog_floor=cfg.loglog_floor, stop_tol=stop_tol, perturbation=cfg.perturbation)


def build(cfg: StudyConfig, index: int = 0, values: dict | None = None) -> Combination:
    """Build one combination (a configuration without a sweep): game, objective, method, and
    every path's theta_1, probes and run keys (see the module docstring for the keys)."""
    game = make_game(cfg.game, cfg.game_args)
    lower, upper = game.theta_bounds
    lo, hi = np.asarray(lower, np.float64), np.asarray(upper, np.float64)
    try:
        objective = make_objective(cfg, game)
        method = make_method(cfg, lower, upper)
    except (ValueError, TypeError) as e:
        raise StudyError(f"the game cannot be used as configured: {e}") from None
    if cfg.theta_names is not None and len(cfg.theta_names) != int(game.theta_dim):
        raise ConfigError("theta_names", f"must name p = {game.theta_dim} coordinates (the "
                                         f"game's theta_dim); got {len(cfg.theta_names)}")
    theta0, box = _starting_points(cfg, game, lo, hi)
    probes = _probes(cfg, game)
    low, high = box if box is not None else (None, None)
    drawn = _draw(game, jax.random.PRNGKey(cfg.seed), cfg.paths, low, high,
                  cfg.probes if probes is None else None)
    if cfg.restart_after is not None:
        method = Restarts(method, jnp.asarray(low), jnp.asarray(high), after=cfg.restart_after)
    theta0 = np.asarray(drawn[0]) if theta0 is None else theta0
    probes = np.asarray(drawn[1]) if probes is None else probes
    run_keys = np.asarray(drawn[2])
    return Combination(index, dict(values or {}), cfg, game, objective, method, theta0, probes,
                       run_keys)


