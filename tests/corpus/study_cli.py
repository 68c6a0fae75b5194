"""Bad input to `jaxmd-rp study` (flags and the --config TOML file): every case is refused with
one line and exit status 2 before the study runs, naming the flag or the file's key."""

import os
import tempfile

import numpy as np

from tests.cli_helpers import CliRefusal, refuse
from tests.corpus import refused

GAME = ("--game", "jaxmd_rp.games:CournotPollution")  # theta = [tax] in [-10, 10], 2 caps


def _out():
    return tempfile.mkdtemp(prefix="jaxmd_rp_study_cli_")


def _file(name: str, content) -> str:
    """A file in a fresh folder: text, or a numpy array saved as .npy / written as .csv."""
    path = os.path.join(tempfile.mkdtemp(prefix="jaxmd_rp_study_in_"), name)
    if isinstance(content, str):
        with open(path, "w") as f:
            f.write(content)
    elif name.endswith(".npy"):
        np.save(path, np.asarray(content, float))
    else:
        np.savetxt(path, np.asarray(content, float), delimiter=",")
    return path


def _case(id, argv, match, game=True):
    def call():
        args = [*(GAME if game else ()), *(a() if callable(a) else a for a in argv)]
        return refuse("study", *args, "--quiet", "--out", _out())

    return refused(f"study_cli/{id}", call, CliRefusal, match)


def _config(id, text, match, argv=()):
    def call():
        path = _file("study.toml", text)
        return refuse("study", "--config", path, *argv, "--quiet", "--out", _out())

    return refused(f"study_cli/config/{id}", call, CliRefusal, match)


NPY = lambda shape, value=1.0: lambda: _file("a.npy", np.full(shape, value))  # noqa: E731

FLAGS = [
    ("no-game", [], r"--game is required", False),
    ("game-no-factory", ["--game", "jaxmd_rp.games"],
     r"--game must name a factory as 'module:function'", False),
    ("game-missing-module", ["--game", "no_such_module_xyz:make"],
     r"--game cannot import module 'no_such_module_xyz'", False),
    ("game-missing-factory", ["--game", "jaxmd_rp.games:NoSuchGame"],
     r"--game 'jaxmd_rp.games' defines no 'NoSuchGame'", False),
    ("game-not-callable", ["--game", "jaxmd_rp.games:__name__"],
     r"--game jaxmd_rp.games:__name__ is not callable \(it is a str\)", False),
    ("game-not-a-game", ["--game", "numpy:zeros", "--game-arg", "shape=3"],
     r"--game numpy:zeros returned a ndarray, not an AbstractGame", False),
    ("game-file-missing", ["--game", "/nonexistent/game.py:make"],
     r"--game file '/nonexistent/game.py' not found", False),
    ("game-file-broken", ["--game", lambda: _file("g.py", "def make(:\n") + ":make"],
     r"--game importing '.*g.py' failed \(SyntaxError", False),
    ("game-factory-raises", ["--game-arg", "costs=[1, 2, 3]"],
     r"--game .*CournotPollution\(\*\*game_args\) raised ValueError: `costs` must have shape"),
    ("game-arg-unknown", ["--game-arg", "nonsense=1"],
     r"raised TypeError: .*unexpected keyword argument 'nonsense'"),
    ("game-arg-syntax", ["--game-arg", "novalue"],
     r"argument --game-arg: expected NAME=VALUE; got 'novalue'"),
    ("method-unknown", ["--method", "newton"], r"argument --method: invalid choice: 'newton'"),
    ("paths-zero", ["--paths", "0"], r"--paths must be an integer >= 1; got 0"),
    ("iters-zero", ["--iters", "0"], r"--iters must be an integer >= 1; got 0"),
    ("seed-negative", ["--seed", "-1"], r"--seed must be an integer in \[0, 9223372036854775807\]"),
    ("seed-2-64", ["--seed", str(2**64)], r"--seed must be an integer in \[0, 9223372036854775807\]"),
    ("probes-zero", ["--probes", "0"], r"--probes must be a count >= 1 or a .npy/.csv file; got 0"),
    ("probes-extension", ["--probes", "caps.txt"],
     r"--probes must be a count or a .npy/.csv file; got '.*caps.txt'"),
    ("probes-file-missing", ["--probes", "/nonexistent/p.npy"],
     r"--probes file '/nonexistent/p.npy' not found"),
    ("probes-file-shape", ["--probes", NPY((3, 5))],
     r"--probes '.*a.npy' must have shape \(T, probe_dim\) = \(T, 2\) or \(paths, T, probe_dim\)"),
    ("probes-file-outside-box", ["--probes", NPY((3, 2), 100.0)],
     r"--probes '.*a.npy' holds probes outside the game's probe box"),
    ("probes-file-nan", ["--probes", lambda: _file("p.csv", "cap1,cap2\n1,2\nnan,1\n")],
     r"--probes '.*p.csv' contains NaN or inf"),
    ("probes-file-text", ["--probes", lambda: _file("p.csv", "1,2\nx,y\n")],
     r"--probes cannot read '.*p.csv' as numbers"),
    ("theta0-file-shape", ["--theta0", NPY((4, 3), 0.0)],
     r"--theta0 '.*a.npy' must have shape \(p,\) = \(1,\) or \(paths, p\) = \(200, 1\)"),
    ("theta0-file-outside", ["--theta0", NPY((1,), 50.0)],
     r"--theta0 '.*a.npy' holds points outside the game's Theta"),
    ("theta0-low-outside", ["--theta0-low=-20"], r"--theta0-low = \[-20.0\] lies outside"),
    ("theta0-low-length", ["--theta0-low", "0,0"], r"--theta0-low must have p = 1 entries"),
    ("theta0-low-above-high", ["--theta0-low", "2", "--theta0-high", "1"],
     r"--theta0-low must be <= theta0_high componentwise"),
    ("theta0-low-with-file", ["--theta0", "start.npy", "--theta0-low", "0"],
     r"--theta0-low applies to theta0 = 'uniform' only"),
    ("noise-without-samples", ["--noise", "0.1"],
     r"--noise perturbs samples: set num_samples \(N >= 1\) as well"),
    ("noise-negative", ["--noise=-1", "--num-samples", "2"],
     r"--noise must be a finite number >= 0; got -1.0"),
    ("num-samples-zero", ["--num-samples", "0"], r"--num-samples must be an integer >= 1"),
    ("eta-above-one", ["--eta", "1.5"], r"--eta must be a finite number in \(0, 1\]; got 1.5"),
    ("a-zero", ["--a", "0"], r"--a must be a finite number > 0; got 0.0"),
    ("q-nan", ["--q", "nan"], r"--q must be a finite number >= 0; got nan"),
    ("zero-tol-inf", ["--zero-tol", "inf"], r"--zero-tol must be a finite number >= 0"),
    ("learning-rate-with-spsa", ["--learning-rate", "0.1"],
     r"--learning-rate applies to method = 'gradient' only \(this study has method = 'spsa'\)"),
    ("spsa-gain-with-gradient", ["--method", "gradient", "--c", "1"],
     r"--c applies to method = 'spsa' only"),
    ("smoothed-with-spsa", ["--objective", "smoothed"],
     r"--objective 'smoothed' is a surrogate for gradient design"),
    ("tau0-with-gap", ["--tau0", "0.1"], r"--tau0 applies to objective = 'smoothed' only"),
    ("epsilon-negative", ["--objective", "robust", "--epsilon=-1"],
     r"--epsilon must be a finite number >= 0; got -1.0"),
    ("robust-fresh-probes", ["--objective", "robust", "--fresh-probes"],
     r"--fresh-probes applies to the gap objectives \(gap, smoothed\)"),
    ("fresh-probes-with-file", ["--fresh-probes", "--probes", "caps.npy"],
     r"--fresh-probes draws probes from the game's probe box: probes must be a count"),
    ("optimizer-unknown", ["--method", "gradient", "--optimizer", "lbfgs"],
     r"argument --optimizer: invalid choice: 'lbfgs'"),
    ("restart-after-zero", ["--restart-after", "0"],
     r"--restart-after must be an integer >= 1 or absent; got 0"),
    ("restart-after-without-stop", ["--restart-after", "5", "--no-stop"],
     r"--restart-after restarts the paths that have not stopped at zero: it needs stop = true"),
    ("restart-after-with-file", ["--restart-after", "5", "--theta0", "start.npy"],
     r"--restart-after draws fresh starting points like the first: it needs theta0 = 'uniform'"),
    ("sweep-unknown-key", ["--sweep", "frobnicate=1,2"],
     r"--sweep frobnicate is not a study setting"),
    ("sweep-paths", ["--sweep", "paths=1,2"], r"--sweep paths cannot be swept"),
    ("sweep-run-setting", ["--sweep", "chunk=1,2"], r"--sweep chunk cannot be swept"),
    ("sweep-bad-value", ["--sweep", "a=0.5,-1"],
     r"--sweep a must be a finite number > 0; got -1 \(in the sweep combination a = -1\)"),
    ("sweep-repeated", ["--sweep", "a=0.5,0.5"], r"--sweep a repeats a value: \[0.5, 0.5\]"),
    ("sweep-probe-files", ["--sweep", "probes=3,x.npy"],
     r"--sweep probes sweeps probe counts \(T\); got \[3, 'x.npy'\]"),
    ("sweep-irrelevant-gain", ["--sweep", "learning_rate=0.1,0.2"],
     r"--sweep learning_rate applies to method = 'gradient' only"),
    ("sweep-syntax", ["--sweep", "a"], r"argument --sweep: expected NAME=VALUE; got 'a'"),
    ("devices-99", ["--devices", "99"], r"--devices 99: only \d+ cpu device\(s\) are visible"),
    ("devices-zero", ["--devices", "0"], r"--devices must be an integer >= 1 or absent; got 0"),
    ("batch-zero", ["--max-paths-per-batch", "0"],
     r"--max-paths-per-batch must be an integer >= 1 or absent"),
    ("memory-budget-inf", ["--memory-budget", "inf"],
     r"--memory-budget must be a finite number of GiB > 0"),
    ("checkpoint-every-zero", ["--checkpoint-every", "0"], r"--checkpoint-every must be an integer"),
    ("chunk-zero", ["--chunk", "0"], r"--chunk must be an integer >= 1; got 0"),
    ("welfare-paths-negative", ["--welfare-paths=-1"], r"--welfare-paths must be an integer >= 0"),
    ("theta-names-length", ["--theta-names", "tax,other"],
     r"--theta-names must name p = 1 coordinates \(the game's theta_dim\); got 2"),
    ("theta-names-repeated", ["--theta-names", "tax,tax"],
     r"--theta-names must be a list of distinct non-empty names"),
    ("resume-and-overwrite", ["--resume", "--overwrite"],
     r"--resume and --overwrite exclude each other"),
    ("resume-without-checkpoints", ["--resume"], r"--resume needs --checkpoint-every K"),
    ("resume-nothing", ["--resume", "--checkpoint-every", "2"],
     r"nothing to resume: .* holds no study.toml"),
    ("coordinator-without-distributed", ["--coordinator", "localhost:1234"],
     r"--coordinator, --num-processes and --process-id need --distributed"),
    ("unknown-flag", ["--frobnicate"], r"unrecognized arguments: --frobnicate"),
]

CONFIGS = [
    ("missing-file", None, r"--config: cannot read '/nonexistent/study.toml'"),
    ("not-toml", 'game = "jaxmd_rp.games:CournotPollution"\npaths = [\n',
     r"--config: '.*study.toml' is not valid TOML"),
    ("unknown-key", 'game = "jaxmd_rp.games:CournotPollution"\nfrobnicate = 1\n',
     r"`frobnicate` in .*study.toml is not a study setting"),
    ("per-run-flag", 'game = "jaxmd_rp.games:CournotPollution"\nresume = true\n',
     r"`resume` in .*study.toml is not a study setting"),
    ("text-for-int", 'game = "jaxmd_rp.games:CournotPollution"\npaths = "many"\n',
     r"`paths` in .*study.toml must be an integer >= 1; got 'many'"),
    ("float-for-int", 'game = "jaxmd_rp.games:CournotPollution"\npaths = 2.5\n',
     r"`paths` in .*study.toml must be an integer >= 1; got 2.5"),
    ("bool-for-number", 'game = "jaxmd_rp.games:CournotPollution"\na = true\n',
     r"`a` in .*study.toml must be a finite number > 0; got True"),
    ("sweep-not-a-table", 'game = "jaxmd_rp.games:CournotPollution"\nsweep = [1, 2]\n',
     r"`sweep` in .*study.toml must be a table of KEY = \[values\]"),
    ("sweep-empty", 'game = "jaxmd_rp.games:CournotPollution"\n[sweep]\na = []\n',
     r"`sweep.a` in .*study.toml must be a non-empty list of values"),
    ("game-arg-mixed-list", 'game = "jaxmd_rp.games:CournotPollution"\n[game_args]\n'
                            'costs = [1.0, "x"]\n',
     r"`game_args.costs` in .*study.toml must be a number, a string, a boolean or a \(nested\) "
     r"list of numbers"),
    ("relative-probes-file", 'game = "jaxmd_rp.games:CournotPollution"\nprobes = "p.npy"\n',
     r"`probes` in .*study.toml file '.*jaxmd_rp_study_in_.*/p.npy' not found"),
]


def _config_case(id, text, match):
    if text is None:
        return refused(f"study_cli/config/{id}",
                       lambda: refuse("study", "--config", "/nonexistent/study.toml", "--quiet",
                                      "--out", _out()), CliRefusal, match)
    return _config(id, text, match)


CASES = ([_case(i, a, m, *rest) for i, a, m, *rest in FLAGS]
         + [_config_case(i, t, m) for i, t, m in CONFIGS]
         + [_config("flag-names-the-flag", 'game = "jaxmd_rp.games:CournotPollution"\n',
                    r"--paths must be an integer >= 1; got 0", argv=("--paths", "0")),
            refused("study_cli/out-is-a-file",
                    lambda: refuse("study", *GAME, "--quiet", "--out", tempfile.mkstemp()[1]),
                    CliRefusal, r"--out '.*' exists and is not a folder")])
