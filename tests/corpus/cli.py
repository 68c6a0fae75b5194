"""Bad command-line input: every flag refuses with one line and exit status 2, before computing."""

import tempfile

from tests.cli_helpers import CliRefusal, refuse
from tests.corpus import refused


def _out():
    return tempfile.mkdtemp(prefix="jaxmd_rp_cli_")


def _case(id, argv, match):
    return refused(f"cli/{id}", lambda: refuse(*argv, "--quiet", "--out", _out()), CliRefusal, match)


FIG6 = [
    ("scale-negative", ["--scale", "-100"], r"--scale must be a finite number > 0"),
    ("scale-zero", ["--scale", "0"], r"--scale must be a finite number > 0"),
    ("scale-inf", ["--scale", "inf"], r"--scale must be a finite number > 0"),
    ("scale-nan", ["--scale", "nan"], r"--scale must be a finite number > 0"),
    ("paths-zero", ["--paths", "0"], r"--paths must be >= 1"),
    ("paths-negative", ["--paths", "-3"], r"--paths must be >= 1"),
    ("paths-text", ["--paths", "many"], r"argument --paths: invalid int value: 'many'"),
    ("paths-float", ["--paths", "2.5"], r"argument --paths: invalid int value: '2.5'"),
    ("iters-zero", ["--iters", "0"], r"--iters must be >= 1"),
    ("probes-zero", ["--probes", "0"], r"--probes must be >= 1"),
    ("chunk-zero", ["--chunk", "0"], r"--chunk must be >= 1"),
    ("seed-negative", ["--seed", "-1"], r"--seed must be an integer in \[0, 2\*\*63 - 1\]"),
    ("seed-2-64", ["--seed", str(2**64)], r"--seed must be an integer in \[0, 2\*\*63 - 1\]"),
    ("devices-zero", ["--devices", "0"], r"--devices must be >= 1"),
    ("devices-99", ["--devices", "99"], r"--devices 99: only \d+ cpu device\(s\) are visible"),
    ("batch-zero", ["--max-paths-per-batch", "0"], r"--max-paths-per-batch must be >= 1"),
    ("checkpoint-zero", ["--checkpoint-every", "0"], r"--checkpoint-every must be >= 1"),
    ("budget-zero", ["--memory-budget", "0"], r"--memory-budget must be a finite number of GiB > 0"),
    ("budget-inf", ["--memory-budget", "inf"], r"--memory-budget must be a finite number of GiB > 0"),
    ("welfare-negative", ["--welfare-paths", "-1"], r"--welfare-paths must be >= 0"),
    ("variant-unknown", ["--variant", "other"], r"argument --variant: invalid choice: 'other'"),
    ("reading-unknown", ["--probe-reading", "joint"], r"argument --probe-reading: invalid choice"),
    ("perturbation-unknown", ["--perturbation", "clip"], r"argument --perturbation: invalid choice"),
    ("resume-and-overwrite", ["--resume", "--overwrite"], r"--resume and --overwrite exclude each other"),
    ("coordinator-without-distributed", ["--coordinator", "localhost:1234"],
     r"--coordinator, --num-processes and --process-id need --distributed"),
    ("process-id-out-of-range", ["--distributed", "--coordinator", "localhost:1", "--num-processes",
                                 "2", "--process-id", "5"], r"--process-id must be in 0..N-1"),
    ("num-processes-zero", ["--distributed", "--coordinator", "localhost:1", "--num-processes", "0"],
     r"--num-processes must be >= 1"),
    ("resume-empty", ["--resume", "--iters", "2", "--paths", "2"],
     r"nothing to resume: .* holds no complete checkpoint"),
    ("unknown-flag", ["--frobnicate"], r"unrecognized arguments: --frobnicate"),
]
FIG7 = [
    ("runs-zero", ["--runs", "0"], r"--runs must be >= 1"),
    ("epsilons-negative", ["--epsilons=-1"], r"--epsilons must be one or more comma-separated finite"),
    ("epsilons-inf", ["--epsilons", "inf"], r"--epsilons must be one or more comma-separated finite"),
    ("epsilons-nan", ["--epsilons", "0.1,nan"], r"--epsilons must be one or more comma-separated"),
    ("epsilons-empty", ["--epsilons", ","], r"--epsilons must be one or more comma-separated finite"),
    ("epsilons-text", ["--epsilons", "a,b"], r"argument --epsilons: expected comma-separated numbers"),
    ("delta-negative", ["--delta", "-0.1"], r"--delta must be a finite number >= 0"),
    ("delta-nan", ["--delta", "nan"], r"--delta must be a finite number >= 0"),
    ("relative-tol-zero", ["--relative-tol", "0"], r"--relative-tol must be a finite number > 0"),
    ("num-samples-zero", ["--num-samples", "0"], r"--num-samples must be >= 1"),
    ("noise-two", ["--noise", "2"], r"--noise must be in \[0, 1\]"),
    ("noise-negative", ["--noise", "-0.5"], r"--noise must be in \[0, 1\]"),
    ("max-iterations-zero", ["--max-iterations", "0"], r"--max-iterations must be >= 1"),
    ("chunk-zero", ["--chunk", "0"], r"--chunk must be >= 1"),
    ("seed-2-64", ["--seed", str(2**64)], r"--seed must be an integer in \[0, 2\*\*63 - 1\]"),
    ("support-unknown", ["--support", "disk"], r"argument --support: invalid choice: 'disk'"),
]

CASES = ([_case(f"fig6/{i}", ["fig6", *a], m) for i, a, m in FIG6]
         + [_case(f"fig7/{i}", ["fig7", *a], m) for i, a, m in FIG7]
         + [refused("cli/fig6/out-is-a-file",
                    lambda: refuse("fig6", "--quiet", "--out", tempfile.mkstemp()[1]),
                    CliRefusal, r"--out '.*' exists and is not a folder"),
            refused("cli/fig6/out-proc", lambda: refuse("fig6", "--quiet", "--out", "/proc/x/y"),
                    CliRefusal, r"--out '/proc/x/y' cannot be created"),
            refused("cli/fig7/out-is-a-file",
                    lambda: refuse("fig7", "--quiet", "--out", tempfile.mkstemp()[1]),
                    CliRefusal, r"--out '.*' exists and is not a folder"),
            refused("cli/no-command", lambda: refuse(), CliRefusal, r"the following arguments are "
                    r"required: COMMAND"),
            refused("cli/unknown-command", lambda: refuse("fig8"), CliRefusal,
                    r"argument COMMAND: invalid choice: 'fig8'")])
