"""Bad input to ask-tell (AskTell, ProbeFunctions, the drivers, the files, jaxmd-rp init/ask/tell)
and to the learning dynamics."""

import os
import tempfile

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

import jaxmd_rp as rp
from jaxmd_rp._design._asktell_io import read_observations
from jaxmd_rp._study import CheckpointError
from jaxmd_rp._study._asktell import AskTellRun
from tests.cli_helpers import CliRefusal, refuse, run_cli
from tests.corpus import correct, refused

COURNOT = rp.games.CournotPollution()
SPSA = rp.SPSA(*COURNOT.theta_bounds)
P, T = 2, 3
KEYS = rp.path_keys(jax.random.PRNGKey(0), P)
PROBES = jnp.full((P, T, 2), 2.0)
THETA0 = jnp.zeros((P, 1))


def _designer(**kw):
    return rp.AskTell(SPSA, COURNOT, **kw)


def _state():
    return _designer().init(THETA0, PROBES, KEYS)


def _tell(obs, query=None):
    d, s = _designer(), _state()
    return lambda: d.tell(s, d.ask(s) if query is None else query(d, s), obs)


def _obs(shape=(P, 3, T, 2), fill=1.0):
    return jnp.full(shape, fill)


def _csv(text):
    d = tempfile.mkdtemp(prefix="jaxmd_rp_obs_")
    path = os.path.join(d, "obs.csv")
    with open(path, "w") as f:
        f.write(text)
    return path


def _read(text, qid=None):
    return lambda: read_observations(_csv(text), num_paths=P, num_evaluations=3, num_probes=T,
                                     action_shape=(2,), qid=qid)


def _tmp():
    return tempfile.mkdtemp(prefix="jaxmd_rp_asktell_")


CASES = [
    # ---------------------------------------------------------------- AskTell
    refused("asktell/AskTell/gradient-method", lambda: rp.AskTell(
        rp.GradientDesign(*COURNOT.theta_bounds), COURNOT), TypeError,
        r"`method` must be a black-box design method with ask/tell \(e.g. SPSA\); got "
        r"GradientDesign"),
    refused("asktell/AskTell/probe-functions-callable", lambda: rp.AskTell(SPSA, lambda p, x: x),
            TypeError, r"`probe_functions` must be ProbeFunctions\(fn, ...\) or a game; got function"),
    refused("asktell/AskTell/epsilon-negative", lambda: _designer(epsilon=-0.1), ValueError,
            r"`epsilon` must be a finite radius >= 0; got -0.1"),
    refused("asktell/AskTell/epsilon-nan", lambda: _designer(epsilon=float("nan")), ValueError,
            r"`epsilon` must be a finite radius >= 0; got nan"),
    refused("asktell/AskTell/confidence-one", lambda: _designer(confidence=1.0), ValueError,
            r"`confidence` must be in \(0, 1\); got 1.0"),
    refused("asktell/AskTell/confidence-zero", lambda: _designer(confidence=0.0), ValueError,
            r"`confidence` must be in \(0, 1\); got 0.0"),
    refused("asktell/AskTell/value-range-zero", lambda: _designer(value_range=0.0), ValueError,
            r"`value_range` must be a finite number > 0; got 0.0"),
    refused("asktell/AskTell/value-range-inf", lambda: _designer(value_range=float("inf")),
            ValueError, r"`value_range` must be a finite number > 0; got inf"),
    refused("asktell/AskTell/bound", lambda: _designer(bound="middle"), ValueError,
            r"`bound` must be 'value', 'upper' or 'lower'; got 'middle'"),
    # ---------------------------------------------------------------- init
    refused("asktell/init/theta0-1d", lambda: _designer().init(jnp.zeros(1), PROBES, KEYS),
            ValueError, r"`theta0` must have shape \(P, p\) = \(P, 1\)"),
    refused("asktell/init/probes-2d", lambda: _designer().init(THETA0, PROBES[0], KEYS),
            ValueError, r"`probes` must have shape \(P, T, probe_dim\) = \(2, T, 2\) with T >= 1; "
            r"got \(3, 2\)"),
    refused("asktell/init/probes-wrong-dim", lambda: _designer().init(THETA0, PROBES[..., :1],
                                                                      KEYS),
            ValueError, r"`probes` must have shape \(P, T, probe_dim\) = \(2, T, 2\)"),
    refused("asktell/init/probes-nan", lambda: _designer().init(THETA0, PROBES.at[0, 0, 0].set(
        jnp.nan), KEYS), ValueError, r"`probes` contains NaN or inf"),
    refused("asktell/init/probes-complex", lambda: _designer().init(THETA0, PROBES + 0j, KEYS),
            TypeError, r"`probes` must be real; got dtype complex"),
    refused("asktell/init/keys-one", lambda: _designer().init(THETA0, PROBES,
                                                              jax.random.PRNGKey(0)),
            ValueError, r"`keys` must hold one key per path \(2,\) \(`path_keys\(key, 2\)`\); got "
            r"shape \(2,\)"),
    refused("asktell/init/keys-three", lambda: _designer().init(THETA0, PROBES,
                                                                rp.path_keys(KEYS[0], 3)),
            ValueError, r"`keys` must hold one key per path \(2,\)"),
    # ---------------------------------------------------------------- tell
    refused("asktell/tell/strategies-shape", _tell(_obs((P, 3, T))), ValueError,
            r"`strategies` must have shape \(P, K, T, \*action_shape\) = \(2, 3, 3, 2\)"),
    refused("asktell/tell/strategies-other-K", _tell(_obs((P, 2, T, 2))), ValueError,
            r"`strategies` must have shape"),
    refused("asktell/tell/strategies-empty-samples", _tell(_obs((P, 3, T, 0, 2))), ValueError,
            r"\(N >= 1 samples of each strategy\)"),
    refused("asktell/tell/strategies-complex", _tell(_obs() + 0j), TypeError,
            r"`strategies` must be real; got dtype complex"),
    refused("asktell/tell/strategies-inf", _tell(_obs().at[0, 0, 0, 0].set(jnp.inf)),
            eqx.EquinoxRuntimeError, r"`strategies` contains inf; mark a missing observation"),
    refused("asktell/tell/query-other-type", _tell(_obs(), lambda d, s: d.ask(s).theta),
            TypeError, r"`query` must be the AskTellQuery that `ask` returned; got"),
    refused("asktell/tell/query-other-paths", _tell(_obs(), lambda d, s: eqx.tree_at(
        lambda q: q.theta, d.ask(s), d.ask(s).theta[:1])), ValueError,
        r"`query` does not answer this state's ask: its mechanisms have shape \(1, 3, 1\)"),
    refused("asktell/tell/query-other-probes", _tell(_obs(), lambda d, s: eqx.tree_at(
        lambda q: q.probes, d.ask(s), d.ask(s).probes + 0.5)), eqx.EquinoxRuntimeError,
        r"`query` does not answer this state's pending ask \(other mechanisms or probes\)"),
    refused("asktell/tell/query-other-iteration", _tell(_obs(), lambda d, s: eqx.tree_at(
        lambda q: q.n, d.ask(s), d.ask(s).n + 1)), eqx.EquinoxRuntimeError,
        r"`query` was asked at another iteration than the state's pending ask"),
    correct("asktell/tell/all-missing-flagged", _tell(_obs(fill=jnp.nan)),
            lambda out: bool(np.all(out[1].failed)) and bool(np.all(np.isnan(out[1].gap)))),
    # ---------------------------------------------------------------- ProbeFunctions
    refused("asktell/ProbeFunctions/fn", lambda: rp.ProbeFunctions(3, num_agents=2,
                                                                   probe_dim=1),
            TypeError, r"`fn` must be callable as fn\(probe, x\) -> \(R,\); got int"),
    refused("asktell/ProbeFunctions/num-agents-zero", lambda: rp.ProbeFunctions(
        lambda p, x: x, num_agents=0, probe_dim=1), ValueError,
        r"`num_agents` must be an integer >= 1; got 0"),
    refused("asktell/ProbeFunctions/probe-dim-bool", lambda: rp.ProbeFunctions(
        lambda p, x: x, num_agents=2, probe_dim=True), ValueError,
        r"`probe_dim` must be an integer >= 1; got True"),
    refused("asktell/ProbeFunctions/action-dim-zero", lambda: rp.ProbeFunctions(
        lambda p, x: x, num_agents=2, probe_dim=1, action_dim=0), ValueError,
        r"`action_dim` must be None or an integer >= 1; got 0"),
    refused("asktell/ProbeFunctions/no-utilities", lambda: rp.ProbeFunctions(
        lambda p, x: x, num_agents=2, probe_dim=1).utilities(jnp.zeros(1), jnp.zeros(2)),
        NotImplementedError, r"the agents' utilities are unknown to it"),
    # ---------------------------------------------------------------- drivers
    refused("asktell/run_asktell/designer", lambda: rp.run_asktell(SPSA, _state(), None, 1),
            TypeError, r"`designer` must be an AskTell; got SPSA"),
    refused("asktell/run_asktell/num-steps", lambda: rp.run_asktell(_designer(), _state(),
                                                                    lambda q: q, -1),
            ValueError, r"`num_steps` must be an integer >= 0; got -1"),
    refused("asktell/run_asktell/observe", lambda: rp.run_asktell(_designer(), _state(), 3, 1),
            TypeError, r"`observe` must be a function of the query or an Observer; got int"),
    refused("asktell/SubprocessObserver/command-string", lambda: rp.SubprocessObserver(
        "python sim.py", (2,)), TypeError, r"`command` must be a non-empty list of strings"),
    refused("asktell/SubprocessObserver/observations-txt", lambda: rp.SubprocessObserver(
        ["sim"], (2,), observations="obs.txt"), ValueError,
        r"`observations` must name a .npy or .csv file; got 'obs.txt'"),
    refused("asktell/SubprocessObserver/no-program", lambda: rp.run_asktell(
        _designer(), _state(), rp.SubprocessObserver(["/nonexistent/simulator"], (2,)), 1),
        rp.ObserverError, r"observer command \['/nonexistent/simulator'\] cannot be started "
        r"\(No such file or directory\)"),
    # ---------------------------------------------------------------- observation files
    refused("asktell/read_observations/missing-column", _read("path,evaluation,probe,value\n"),
            ValueError, r"has columns \['path', 'evaluation', 'probe', 'value'\]; expected .*"
                        r"missing agent"),
    refused("asktell/read_observations/unknown-column",
            _read("path,evaluation,probe,agent,value,firm\n"), ValueError, r"unknown firm"),
    refused("asktell/read_observations/out-of-range",
            _read("path,evaluation,probe,agent,value\n0,0,0,2,1.0\n"), ValueError,
            r"row 2: agent = 2 is out of range 0..1"),
    refused("asktell/read_observations/duplicate",
            _read("path,evaluation,probe,agent,value\n0,0,0,1,1.0\n0,0,0,1,2.0\n"), ValueError,
            r"give the value at \(path 0, evaluation 0, probe 0, agent 1\) more than once"),
    refused("asktell/read_observations/inf",
            _read("path,evaluation,probe,agent,value\n0,0,0,1,inf\n"), ValueError,
            r"contain inf; mark a missing one with nan"),
    refused("asktell/read_observations/text",
            _read("path,evaluation,probe,agent,value\n0,0,zero,1,1.0\n"), ValueError,
            r"a row is not numbers in every column"),
    refused("asktell/read_observations/other-query",
            _read("path,evaluation,probe,agent,value,query_id\n0,0,0,1,1.0,aaaa\n", qid="bbbb"),
            ValueError, r"answer query 'aaaa', but the pending query is 'bbbb'"),
    correct("asktell/read_observations/absent-rows-missing",
            _read("path,evaluation,probe,agent,value\n1,2,2,1,0.5\n0,0,0,0,\n"),
            lambda a: a.shape == (P, 3, T, 2) and a[1, 2, 2, 1] == 0.5
            and int(np.isnan(a).sum()) == a.size - 1),
    refused("asktell/read_observations/extension", lambda: read_observations(
        "obs.txt", num_paths=P, num_evaluations=3, num_probes=T, action_shape=(2,)), ValueError,
        r"observations 'obs.txt': expected a .npy or .csv file"),
    # ---------------------------------------------------------------- the on-disk experiment
    refused("asktell/AskTellRun/designer", lambda: AskTellRun(_tmp(), SPSA), TypeError,
            r"`designer` must be an AskTell; got SPSA"),
    refused("asktell/AskTellRun/ask-empty-dir", lambda: AskTellRun(_tmp(), _designer()).ask(),
            CheckpointError, r"holds no ask-tell experiment \(no sealed checkpoint\)"),
    # ---------------------------------------------------------------- learning dynamics
    refused("asktell/GradientPlay/horizon-zero", lambda: rp.GradientPlay(horizon=0), ValueError,
            r"`horizon` must be an integer >= 1; got 0"),
    refused("asktell/GradientPlay/window-too-long", lambda: rp.GradientPlay(horizon=10,
                                                                           window=11),
            ValueError, r"`window` = 11 must be <= `horizon` = 10"),
    refused("asktell/GradientPlay/step-negative", lambda: rp.GradientPlay(step_size=-0.1),
            ValueError, r"`step_size` must be a finite real number > 0; got -0.1"),
    refused("asktell/GradientPlay/price-step-nan", lambda: rp.GradientPlay(
        price_step=float("nan")), ValueError, r"`price_step` must be a finite real number >= 0"),
    refused("asktell/Hedge/scalar-game", lambda: rp.Hedge().play(
        COURNOT, jnp.zeros(1), jnp.ones(2)), ValueError,
        r"CournotPollution has scalar actions; Hedge and RegretMatching learn mixed strategies"),
    refused("asktell/RegretMatching/optimistic", lambda: rp.RegretMatching(optimistic=True),
            ValueError, r"`optimistic` is not defined for RegretMatching"),
    refused("asktell/Observer/dynamics-type", lambda: rp.Observer(COURNOT, dynamics="play"),
            TypeError, r"`dynamics` must be None or a learning dynamics \(GradientPlay, Hedge, "
            r"RegretMatching\); got str"),
]


# ---------------------------------------------------------------------- jaxmd-rp init/ask/tell
def _init(*flags):
    return lambda: refuse("init", "--out", _tmp(), *flags)


INIT = [
    ("both-sources", ["--game", "river", "--probe-fn", "x.py:g"],
     r"give exactly one of --game and --probe-fn"),
    ("no-source", [], r"give exactly one of --game and --probe-fn"),
    ("game-unknown", ["--game", "chess"], r"argument --game: invalid choice: 'chess'"),
    ("paths-zero", ["--game", "river", "--paths", "0"], r"--paths must be >= 1"),
    ("num-probes-zero", ["--game", "river", "--num-probes", "0"], r"--num-probes must be >= 1"),
    ("seed-negative", ["--game", "river", "--seed", "-1"], r"--seed must be an integer in"),
    ("a-zero", ["--game", "river", "--a", "0"], r"--a must be > 0; got 0.0"),
    ("eta-two", ["--game", "river", "--eta", "2"], r"--eta must be in \(0, 1\]; got 2.0"),
    ("q-nan", ["--game", "river", "--q", "nan"], r"--q must be >= 0; got nan"),
    ("confidence-one", ["--game", "river", "--confidence", "1"], r"--confidence must be in \(0, 1\)"),
    ("epsilon-negative", ["--game", "river", "--epsilon", "-1"],
     r"--epsilon must be a finite number >= 0"),
    ("value-range-zero", ["--game", "river", "--value-range", "0"],
     r"--value-range must be a finite number > 0"),
    ("theta-init-max", ["--game", "river", "--theta-init-max", "2"],
     r"--theta-init-max must be in \[0, 1\]"),
    ("box-mismatch", ["--game", "river", "--lower", "0,0", "--upper", "1"],
     r"--lower and --upper need the same number"),
    ("box-empty", ["--game", "cournot", "--lower", "1", "--upper", "0"],
     r"--lower and --upper must be finite with lower <= upper"),
    ("box-text", ["--game", "river", "--lower", "a,b"], r"argument --lower: expected comma-"),
    ("game-with-num-agents", ["--game", "river", "--num-agents", "3"],
     r"--num-agents is for --probe-fn"),
    ("probe-fn-no-agents", ["--probe-fn", "x.py:g"], r"--probe-fn needs --num-agents M >= 1"),
    ("probe-fn-no-box", ["--probe-fn", "x.py:g", "--num-agents", "2", "--probe-dim", "1"],
     r"--probe-fn needs the box Theta: --lower and --upper"),
    ("probe-fn-no-colon", ["--probe-fn", "probes", "--num-agents", "2", "--probe-dim", "1",
                           "--lower", "0", "--upper", "1", "--probes", "p.npy"],
     r"--probe-fn must be FILE.py:NAME or module:NAME"),
    ("probe-fn-missing-file", ["--probe-fn", "nowhere.py:g", "--num-agents", "2", "--probe-dim",
                               "1", "--lower", "0", "--upper", "1", "--probes", "p.npy"],
     r"--probe-fn: no file '\S*/nowhere.py'"),
    ("probe-fn-missing-name", ["--probe-fn", "os:no_such_fn", "--num-agents", "2",
                               "--probe-dim", "1", "--lower", "0", "--upper", "1", "--probes",
                               "p.npy"], r"--probe-fn: 'os' has no function 'no_such_fn'"),
    ("theta0-missing", ["--game", "river", "--theta0", "nowhere.npy"],
     r"--theta0 must name an existing .npy file; got 'nowhere.npy'"),
]

CASES += [refused(f"asktell/cli-init/{i}", _init(*flags), CliRefusal, m) for i, flags, m in INIT]


def _started():
    out = _tmp()
    code, _, err = run_cli("init", "--out", out, "--game", "cournot", "--paths", "2",
                           "--num-probes", "2")
    assert code == 0, err
    return out


def _tell_cli(*flags, ask=True):
    def call():
        out = _started()
        if ask:
            assert run_cli("ask", "--out", out)[0] == 0
        return refuse("tell", "--out", out, *flags)
    return call


def _npy(shape):
    path = os.path.join(_tmp(), "obs.npy")
    np.save(path, np.ones(shape))
    return path


CASES += [
    refused("asktell/cli-init/out-holds-run", lambda: refuse(
        "init", "--out", _started(), "--game", "cournot"), CliRefusal,
        r"holds the outputs of a previous run \(run.json\); pass --overwrite"),
    refused("asktell/cli-ask/not-a-run", lambda: refuse("ask", "--out", _tmp()), CliRefusal,
            r"holds no ask-tell experiment \(run jaxmd-rp init first\)"),
    refused("asktell/cli-ask/missing-dir", lambda: refuse("ask", "--out", "/nonexistent/run"),
            CliRefusal, r"--out '/nonexistent/run' is not an experiment directory"),
    refused("asktell/cli-tell/no-file", _tell_cli("--observations", "none.npy"), CliRefusal,
            r"--observations 'none.npy' is not a file"),
    refused("asktell/cli-tell/no-query-id", lambda: _tell_cli(
        "--observations", _npy((2, 3, 2, 2)))(), CliRefusal,
        r"name the query these observations answer: --query-id ID"),
    refused("asktell/cli-tell/not-asked", lambda: _tell_cli(
        "--observations", _npy((2, 3, 2, 2)), "--query-id", "0123456789abcdef", ask=False)(),
        CliRefusal, r"the observations answer query 0123456789abcdef, but the pending query"),
    refused("asktell/cli-tell/wrong-shape", lambda: _in_query("observations.npy",
                                                             np.ones((2, 3, 2))), CliRefusal,
            r"`strategies` must have shape \(P, K, T, \*action_shape\) = \(2, 3, 2, 2\)"),
    refused("asktell/cli-tell/inf", lambda: _in_query("observations.npy",
                                                      np.full((2, 3, 2, 2), np.inf)),
            CliRefusal, r"the observations contain inf; mark a missing observation with NaN"),
    refused("asktell/cli-tell/complex", lambda: _in_query("observations.npy",
                                                          np.ones((2, 3, 2, 2)) + 0j),
            CliRefusal, r"must hold real numbers; got dtype complex128"),
    refused("asktell/cli-tell/csv-header", lambda: _in_query("observations.csv", "a,b\n1,2\n"),
            CliRefusal, r"has columns \['a', 'b'\]; expected path,evaluation,probe"),
]


def _in_query(name, content):
    """init, ask, write `content` as `name` into the query directory, tell with it."""
    out = _started()
    assert run_cli("ask", "--out", out)[0] == 0
    path = os.path.join(out, "queries", "000001", name)
    if name.endswith(".npy"):
        np.save(path, content)
    else:
        with open(path, "w") as f:
            f.write(content)
    return refuse("tell", "--out", out, "--observations", path)
