"""Bad input to the design methods, objectives, drivers and the study runner."""

import tempfile

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax

import jaxmd_rp as rp
from tests.corpus import correct, refused
from tests.helpers import BOX, noisy_quadratic, quadratic

RIVER = rp.games.RiverPollution()
PROBES = jnp.full((4, 3), 0.5)
Z3 = jnp.zeros(3)


class _Unbounded(rp.AbstractGame):
    """A game with the default probe box [0, inf)."""

    num_agents = 2
    action_dim = None
    theta_dim = 1
    probe_dim = 1

    def utilities(self, theta, x):
        return (10.0 - theta[0] * jnp.sum(x)) * x

    def constraints(self, probe, x):
        return x - probe[0]

    def revealed_constraints(self, probe, x):
        return x / probe[0] - 1.0


def _apply_if_finite_step(theta):
    """One optax step guarded by apply_if_finite on the gap's gradient: skipped when NaN."""
    opt = optax.apply_if_finite(optax.sgd(0.1), max_consecutive_errors=5)
    state = opt.init(theta)
    grad = jax.grad(rp.ParetoGapObjective(RIVER))(theta, PROBES)
    updates, state = opt.update(grad, state, theta)
    return optax.apply_updates(theta, updates), state.notfinite_count


def _spsa(**kw):
    return lambda: rp.SPSA(*BOX, **kw)


def _gd(**kw):
    return lambda: rp.GradientDesign(*BOX, **kw)


GAINS = [
    ("a-zero", dict(a=0.0), r"`a` = 0.0 is out of range \(need a > 0\)"),
    ("a-negative", dict(a=-1.0), r"`a` = -1.0 is out of range \(need a > 0\)"),
    ("a-nan", dict(a=float("nan")), r"`a` = nan is out of range"),
    ("a-inf", dict(a=float("inf")), r"`a` = inf is out of range"),
    ("c-zero", dict(c=0.0), r"`c` = 0.0 is out of range \(need c > 0\)"),
    ("q-negative", dict(q=-0.1), r"`q` = -0.1 is out of range \(need q >= 0\)"),
    ("eta-zero", dict(eta=0.0), r"`eta` = 0.0 is out of range \(need 0 < eta <= 1"),
    ("eta-two", dict(eta=2.0), r"`eta` = 2.0 is out of range"),
    ("loglog-zero", dict(q=0.0, loglog_floor=0.0), r"`loglog_floor` = 0.0 is out of range"),
    ("loglog-negative", dict(loglog_floor=-1.0), r"`loglog_floor` = -1.0 is out of range"),
    ("a-vector", dict(a=jnp.ones(2)), r"`a` must be a real scalar"),
    ("a-complex", dict(a=1j), r"`a` must be a real scalar"),
]

CASES = [refused(f"design/SPSA/{i}", _spsa(**kw), ValueError, m) for i, kw, m in GAINS]
CASES += [
    refused("design/SPSA/box-2d", lambda: rp.SPSA(jnp.zeros((2, 2)), jnp.ones((2, 2))), ValueError,
            r"`lower` and `upper` must be 1-D arrays of the same shape \(p,\)"),
    refused("design/SPSA/box-mismatch", lambda: rp.SPSA(jnp.zeros(2), jnp.ones(3)), ValueError,
            r"`lower` and `upper` must be 1-D arrays of the same shape"),
    refused("design/SPSA/box-empty", lambda: rp.SPSA(jnp.ones(2), jnp.zeros(2)), ValueError,
            r"`lower` must be <= `upper` componentwise"),
    refused("design/SPSA/box-nan", lambda: rp.SPSA(jnp.array([0.0, jnp.nan]), jnp.ones(2)),
            ValueError, r"`lower` and `upper` must not contain NaN"),
    refused("design/SPSA/box-complex", lambda: rp.SPSA(jnp.zeros(2, jnp.complex128),
                                                     jnp.ones(2, jnp.complex128)),
            TypeError, r"`lower` must be a real array; got dtype complex"),
    refused("design/SPSA/perturbation", _spsa(perturbation="clip"), ValueError,
            r"`perturbation` must be 'project' or 'raw'; got 'clip'"),
    refused("design/SPSA/stop-tol-negative", _spsa(stop_tol=-1.0), ValueError,
            r"`stop_tol` must be a number >= 0 or None; got -1.0"),
    refused("design/SPSA/stop-without-value", _spsa(track_value=False), ValueError,
            r"`stop_tol` needs `track_value=True`"),
    refused("design/SPSA/init-wrong-shape", lambda: rp.SPSA(*BOX).init(jnp.zeros(2)), ValueError,
            r"`theta0` must have shape \(p,\) = \(3,\) to match the box Theta; got \(2,\)"),
    refused("design/SPSA/init-complex", lambda: rp.SPSA(*BOX).init(jnp.zeros(3, jnp.complex128)), TypeError,
            r"`theta0` must be real; got dtype complex"),
    refused("design/SPSA/init-nan", lambda: eqx.filter_jit(rp.SPSA(*BOX).init)(jnp.full(3, jnp.nan)),
            eqx.EquinoxRuntimeError, r"`theta0` contains NaN or inf"),
    refused("design/GradientDesign/lr-zero", _gd(learning_rate=0.0), ValueError,
            r"`learning_rate` must be > 0; got 0.0"),
    refused("design/GradientDesign/optimizer-not-callable", _gd(optimizer="adam"), TypeError,
            r"`optimizer` must be an optax optimiser factory"),
    refused("design/GradientDesign/stop-tol", _gd(stop_tol="small"), ValueError,
            r"`stop_tol` must be a number >= 0 or None"),
    refused("design/GradientDesign/box-empty", lambda: rp.GradientDesign(jnp.ones(2), jnp.zeros(2)),
            ValueError, r"`lower` must be <= `upper` componentwise"),
    correct("design/GradientDesign/ready-transformation",
            lambda: rp.GradientDesign(*BOX, optimizer=optax.sgd(0.1)).init(Z3).theta,
            lambda th: bool(jnp.all(th == 0))),
]

# the drivers
T0 = jnp.zeros((2, 3))
ARGS = jnp.full((2, 3), 0.2)
K = jax.random.PRNGKey(0)
CASES += [
    refused("design/design_minimise/theta0-1d", lambda: rp.design_minimise(
        quadratic, rp.SPSA(*BOX), Z3, key=K, num_steps=1), ValueError,
        r"`theta0` must have shape \(P, p\) = \(P, 3\)"),
    refused("design/design_minimise/theta0-p1-broadcast", lambda: rp.design_minimise(
        quadratic, rp.SPSA(jnp.zeros(2), jnp.ones(2)), jnp.zeros((4, 1)), key=K, num_steps=1),
        ValueError, r"`theta0` must have shape \(P, p\) = \(P, 2\) \(p from the box Theta\); got \(4, 1\)"),
    refused("design/design_minimise/vector-objective", lambda: rp.design_minimise(
        lambda th, a, k: th, rp.SPSA(*BOX), T0, key=K, num_steps=1), ValueError,
        r"must return a scalar; it returned shape \(3,\)"),
    refused("design/design_minimise/integer-objective", lambda: rp.design_minimise(
        lambda th, a, k: jnp.sum(th > 0), rp.SPSA(*BOX), T0, key=K, num_steps=1), TypeError,
        r"must return a real floating scalar; got dtype"),
    refused("design/design_minimise/vector-objective-gradient", lambda: rp.design_minimise(
        lambda th, a, k: th, rp.GradientDesign(*BOX), T0, key=K, num_steps=1), TypeError,
        r"Gradient only defined for scalar-output functions"),
    refused("design/design_minimise/steps-negative", lambda: rp.design_minimise(
        quadratic, rp.SPSA(*BOX), T0, key=K, num_steps=-1), ValueError,
        r"`num_steps` must be an integer >= 0; got -1"),
    refused("design/design_minimise/steps-float", lambda: rp.design_minimise(
        quadratic, rp.SPSA(*BOX), T0, key=K, num_steps=2.5), ValueError,
        r"`num_steps` must be an integer >= 0; got 2.5"),
    refused("design/design_minimise/args-not-per-path", lambda: rp.design_minimise(
        quadratic, rp.SPSA(*BOX), T0, jnp.zeros(3), key=K, num_steps=1), ValueError,
        r"`args` are per-path: every array needs a leading axis of length P = 2; got an array of "
        r"shape \(3,\)"),
    refused("design/design_minimise/not-a-method", lambda: rp.design_minimise(
        quadratic, optax.adam(0.1), T0, key=K, num_steps=1), TypeError,
        r"`method` must be a design method \(SPSA, GradientDesign or another AbstractDesignMethod\)"),
    refused("design/design_steps/not-a-method", lambda: rp.design_steps(
        "spsa", quadratic, None, ARGS, None, 1), TypeError, r"`method` must be a design method"),
    refused("design/path_keys/negative", lambda: rp.path_keys(K, -1), ValueError,
            r"`num_paths` must be an integer >= 0; got -1"),
    refused("design/path_keys/none", lambda: rp.path_keys(K), ValueError,
            r"`num_paths` must be an integer >= 0; got None"),
    correct("design/design_minimise/zero-steps", lambda: rp.design_minimise(
        quadratic, rp.SPSA(*BOX), T0, ARGS, key=K, num_steps=0),
        lambda tr: tr.theta.shape == (1, 2, 3) and tr.value.shape == (0, 2)),
]

# the objectives
CASES += [
    refused("design/ParetoGapObjective/random-without-key",
            lambda: rp.ParetoGapObjective(RIVER, num_samples=3)(jnp.full(7, 0.3), PROBES),
            ValueError, r"`key` is required: ParetoGapObjective is random"),
    refused("design/ParetoGapObjective/fresh-without-key",
            lambda: rp.ParetoGapObjective(RIVER, fresh_probes=True, num_probes=3)(jnp.full(7, 0.3)),
            ValueError, r"`key` is required"),
    refused("design/ParetoGapObjective/fresh-without-T",
            lambda: rp.ParetoGapObjective(RIVER, fresh_probes=True), ValueError,
            r"`fresh_probes=True` needs `num_probes` \(T\)"),
    refused("design/ParetoGapObjective/no-probes",
            lambda: rp.ParetoGapObjective(RIVER)(jnp.full(7, 0.3)), ValueError,
            r"`probes` \(shape \(T, probe_dim\)\) are required unless `fresh_probes=True`"),
    refused("design/ParetoGapObjective/noise-negative",
            lambda: rp.ParetoGapObjective(RIVER, num_samples=2, noise=-0.1), ValueError,
            r"`noise` must be a finite real number >= 0; got"),
    refused("design/ParetoGapObjective/noise-nan",
            lambda: rp.ParetoGapObjective(RIVER, num_samples=2, noise=float("nan")), ValueError,
            r"`noise` must be a finite real number >= 0"),
    refused("design/ParetoGapObjective/noise-without-samples",
            lambda: rp.ParetoGapObjective(RIVER, noise=0.1), ValueError,
            r"`noise` perturbs samples: set `num_samples` \(N >= 1\) as well"),
    refused("design/ParetoGapObjective/samples-zero",
            lambda: rp.ParetoGapObjective(RIVER, num_samples=0), ValueError,
            r"`num_samples` must be an integer >= 1 or None; got 0"),
    refused("design/ParetoGapObjective/samples-bool",
            lambda: rp.ParetoGapObjective(RIVER, num_samples=True), ValueError,
            r"`num_samples` must be an integer >= 1 or None; got True"),
    refused("design/ParetoGapObjective/samples-float",
            lambda: rp.ParetoGapObjective(RIVER, num_samples=2.0), ValueError,
            r"`num_samples` must be an integer >= 1 or None; got 2.0"),
    refused("design/ParetoGapObjective/not-a-game", lambda: rp.ParetoGapObjective("river"),
            TypeError, r"`game` must be an AbstractGame; got str"),
    refused("design/Observer/noise-model", lambda: rp.Observer(RIVER, num_samples=2,
            noise_model="laplace"), ValueError,
            r"`noise_model` must be 'gaussian' or 'tremble'; got 'laplace'"),
    refused("design/Observer/tremble-above-one", lambda: rp.Observer(RIVER, num_samples=2,
            noise=1.5, noise_model="tremble"), ValueError,
            r"`noise` must be in \[0, 1\] for noise_model='tremble'"),
    correct("design/ParetoGapObjective/failed-solve-nan-gradient",
            lambda: (rp.ParetoGapObjective(RIVER)(jnp.full(7, 1.5), PROBES),
                     jax.grad(rp.ParetoGapObjective(RIVER))(jnp.full(7, 1.5), PROBES)),
            lambda vg: bool(jnp.isnan(vg[0])) and bool(jnp.all(jnp.isnan(vg[1])))),
    correct("design/ParetoGapObjective/apply-if-finite-skips",
            lambda: _apply_if_finite_step(jnp.full(7, 1.5)),
            lambda out: bool(jnp.all(out[0] == 1.5)) and int(out[1]) == 1),
    correct("design/ParetoGapObjective/deterministic-without-key",
            lambda: rp.ParetoGapObjective(RIVER)(jnp.full(7, 0.3), PROBES),
            lambda L: bool(jnp.isfinite(L)) and float(L) >= 0),
    refused("design/sample_probes/zero", lambda: rp.sample_probes(RIVER, K, 0), ValueError,
            r"`num_probes` must be an integer >= 1; got 0"),
    refused("design/sample_probes/unbounded",
            lambda: rp.sample_probes(_Unbounded(), K, 3), ValueError,
            r"`game.probe_bounds` must be finite to sample probes uniformly"),
    refused("design/pareto_gap_smooth/negative",
            lambda: rp.pareto_gap_smooth(jnp.zeros((1, 2, 2)), -0.05), ValueError,
            r"`temperature` must be finite and > 0; got -0.05"),
    refused("design/pareto_gap_smooth/zero",
            lambda: rp.pareto_gap_smooth(jnp.zeros((1, 2, 2)), 0.0), ValueError,
            r"`temperature` must be finite and > 0; got 0.0"),
    refused("design/pareto_gap_smooth/nan",
            lambda: rp.pareto_gap_smooth(jnp.zeros((1, 2, 2)), float("nan")), ValueError,
            r"`temperature` must be finite and > 0"),
    refused("design/pareto_gap_smooth/complex",
            lambda: rp.pareto_gap_smooth(jnp.zeros((1, 2, 2)), 0.1j), TypeError,
            r"`temperature` must be real"),
    refused("design/pareto_gap_smooth/traced-negative",
            lambda: eqx.filter_jit(rp.pareto_gap_smooth)(jnp.zeros((1, 2, 2)), -0.05),
            eqx.EquinoxRuntimeError, r"`temperature` must be finite and > 0"),
    refused("design/SmoothedGapObjective/tau-zero",
            lambda: rp.SmoothedGapObjective(rp.ParetoGapObjective(RIVER), 0.0), ValueError,
            r"`tau0` must be > 0; got 0.0"),
    refused("design/SmoothedGapObjective/not-gap-objective",
            lambda: rp.SmoothedGapObjective(quadratic), TypeError,
            r"`objective` must be a ParetoGapObjective; got function"),
    correct("design/pareto_gap_smooth/upper-bound",
            lambda: (rp.pareto_gap_smooth(jnp.array([[[0.0, -0.5], [-0.25, 0.0]]]), 1e-3),
                     rp.pareto_gap(jnp.array([[[0.0, -0.5], [-0.25, 0.0]]]))),
            lambda sv: float(sv[1]) <= float(sv[0]) <= float(sv[1]) + 1e-2),
]


def _study(run_dir=None, **kw):
    base = dict(keys=rp.path_keys(K, 2), num_steps=2, chunk=1)
    base.update(kw)
    method = base.pop("method", rp.SPSA(*BOX, stop_tol=None))
    theta0 = base.pop("theta0", T0)
    args = base.pop("args", ARGS)
    fn = base.pop("fn", noisy_quadratic)
    return rp.run_study(fn, method, theta0, args, run_dir=run_dir, **base)


def _resume_with(**changes):
    """Run 2 steps with checkpoints, then resume to 3 steps with one input changed."""
    d = tempfile.mkdtemp(prefix="jaxmd_rp_resume_")
    _study(d, checkpoint_every=1)
    return _study(d, checkpoint_every=1, num_steps=3, resume=True, **changes)


def _twice(**kw):
    d = tempfile.mkdtemp(prefix="jaxmd_rp_twice_")
    _study(d)
    return _study(d, **kw)


CASES += [
    refused("study/run_study/chunk-zero", lambda: _study(chunk=0), ValueError,
            r"`chunk` must be an integer >= 1; got 0"),
    refused("study/run_study/steps-negative", lambda: _study(num_steps=-2), ValueError,
            r"`num_steps` must be an integer >= 0; got -2"),
    refused("study/run_study/checkpoint-zero", lambda: _study(tempfile.mkdtemp(),
            checkpoint_every=0), ValueError, r"`checkpoint_every` must be an integer >= 1 or None"),
    refused("study/run_study/checkpoint-without-dir", lambda: _study(checkpoint_every=1), ValueError,
            r"`checkpoint_every` and `resume` need a `run_dir`"),
    refused("study/run_study/resume-without-dir", lambda: _study(resume=True), ValueError,
            r"`checkpoint_every` and `resume` need a `run_dir`"),
    refused("study/run_study/batch-zero", lambda: _study(max_paths_per_batch=0), ValueError,
            r"`max_paths_per_batch` must be an integer >= 1 or None; got 0"),
    refused("study/run_study/budget-zero", lambda: _study(memory_budget=0), ValueError,
            r"`memory_budget` must be a finite number of bytes > 0; got 0"),
    refused("study/run_study/budget-inf", lambda: _study(memory_budget=float("inf")), ValueError,
            r"`memory_budget` must be a finite number of bytes > 0; got inf"),
    refused("study/run_study/keys-mismatch", lambda: _study(keys=rp.path_keys(K, 3)), ValueError,
            r"`keys` must hold one key per path \(2\); got shape \(3, 2\)"),
    refused("study/run_study/devices-zero", lambda: _study(devices=0), ValueError,
            r"`devices` must be >= 1; got 0"),
    refused("study/run_study/devices-too-many", lambda: _study(devices=jax.device_count() + 1),
            ValueError, r"but only \d+ devices are visible"),
    refused("study/run_study/devices-string", lambda: _study(devices="two"), TypeError,
            r"`devices` must be None, an integer or a list of devices; got str"),
    refused("study/run_study/theta0-wrong-p", lambda: _study(theta0=jnp.zeros((2, 4))), ValueError,
            r"`theta0` must have shape \(P, p\) = \(P, 3\)"),
    refused("study/run_study/args-not-per-path", lambda: _study(args=jnp.zeros(3)), ValueError,
            r"`args` are per-path: every array needs a leading axis of length P = 2"),
    refused("study/run_study/resume-empty-dir", lambda: _study(tempfile.mkdtemp(), resume=True),
            rp.CheckpointError, r"nothing to resume: .* holds no complete checkpoint"),
    refused("study/run_study/previous-run", lambda: _twice(), FileExistsError,
            r"holds a previous run \(run.json\); pass overwrite=True"),
    correct("study/run_study/overwrite", lambda: _twice(overwrite=True),
            lambda r: r.value.shape == (2, 2)),
    refused("study/run_study/resume-other-probes",
            lambda: _resume_with(args=ARGS + 0.1), rp.CheckpointError,
            r"its per-path arguments \(e.g. the probes\) differ"),
    refused("study/run_study/resume-other-gains",
            lambda: _resume_with(method=rp.SPSA(*BOX, a=0.7, stop_tol=None)), rp.CheckpointError,
            r"its design method differs \(gains, box or settings\)"),
    refused("study/run_study/resume-other-method",
            lambda: _resume_with(method=rp.GradientDesign(*BOX, stop_tol=None)), rp.CheckpointError,
            r"its design method differs"),
    refused("study/run_study/resume-other-theta0",
            lambda: _resume_with(theta0=T0 + 0.1), rp.CheckpointError,
            r"its starting points theta_1 differ"),
    refused("study/run_study/resume-other-keys",
            lambda: _resume_with(keys=rp.path_keys(jax.random.PRNGKey(1), 2)), rp.CheckpointError,
            r"its per-path keys differ \(another seed\?\)"),
    refused("study/run_study/resume-other-objective",
            lambda: _resume_with(fn=quadratic), rp.CheckpointError,
            r"its objective differs \(game, solver, sampling or its code\)"),
    refused("study/run_study/resume-other-river-objective",
            lambda: _resume_with(fn=lambda th, a, k: jnp.sum((th - a) ** 2) * 2.0),
            rp.CheckpointError, r"its objective differs"),
    correct("study/run_study/resume-same", lambda: _resume_with(),
            lambda r: r.start_iteration == 2 and r.value.shape == (3, 2)),
    correct("study/fingerprint/static-field", lambda: (
        rp._study.fingerprint(rp.ParetoGapObjective(RIVER)),
        rp._study.fingerprint(rp.ParetoGapObjective(rp.games.RiverPollution(probe_reading="own")))),
        lambda f: f[0] != f[1]),
    correct("study/fingerprint/stable", lambda: (
        rp._study.fingerprint(rp.SPSA(*BOX, a=0.5)), rp._study.fingerprint(rp.SPSA(*BOX, a=0.5))),
        lambda f: f[0] == f[1]),
    correct("study/fingerprint/array-bytes", lambda: (
        rp._study.fingerprint(np.zeros(3)), rp._study.fingerprint(np.zeros(3, np.float32))),
        lambda f: f[0] != f[1]),
]
