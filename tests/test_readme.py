"""The README's quickstart code runs and does what its comments say."""

import pathlib
import re

import numpy as np

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"


def test_readme_quickstart_runs():
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert blocks, "README has no python block"
    ns = {}
    exec(compile(blocks[0], "README.md", "exec"), ns)
    np.testing.assert_allclose(ns["sol"].x, [3.0, 3.0], rtol=1e-9)
    np.testing.assert_allclose(ns["trace"].value[0], 2 / 3, rtol=1e-9)
    assert np.all(np.asarray(ns["trace"].value[-1]) <= 1e-9)
    assert np.all(np.asarray(ns["trace"].theta[-1, :, 0]) <= 0.5 + 1e-12)
