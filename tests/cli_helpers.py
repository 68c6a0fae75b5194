"""Run the `jaxmd-rp` command line in process and capture what it prints."""

import contextlib
import io

from jaxmd_rp import cli


class CliRefusal(Exception):
    """The command line refused its input: exit status 2 and one line on stderr."""


def run_cli(*argv):
    """(exit status, stdout, stderr) of `jaxmd-rp *argv`, in this process."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = cli.main([str(a) for a in argv])
        except SystemExit as e:
            code = e.code
    return code, out.getvalue(), err.getvalue()


def refuse(*argv):
    """Run the command line; raise `CliRefusal(stderr)` if it refused with one line and exit 2,
    else return (code, stdout, stderr)."""
    code, out, err = run_cli(*argv)
    lines = [ln for ln in err.splitlines() if ln.strip()]
    if code == 2 and len(lines) == 1 and "Traceback" not in err:
        raise CliRefusal(lines[0])
    return code, out, err
