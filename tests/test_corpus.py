"""Run the bad-input corpus (`tests/corpus/`): every case asserts its exact error or result code."""

import importlib
import pkgutil
import re

import numpy as np
import pytest

import tests.corpus as corpus


def _cases():
    out = []
    for mod in sorted(m.name for m in pkgutil.iter_modules(corpus.__path__)):
        out += importlib.import_module(f"tests.corpus.{mod}").CASES
    ids = [c.id for c in out]
    dup = sorted({i for i in ids if ids.count(i) > 1})
    assert not dup, f"duplicate corpus ids: {dup}"
    return out


CASES = _cases()


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_corpus(case):
    if case.kind == "refused":
        expected = case.raises if isinstance(case.raises, tuple) else (case.raises,)
        assert not {Exception, BaseException, RuntimeError} & set(expected), case.id
        with pytest.raises(expected) as info:
            case.call()
        assert re.search(case.match, str(info.value), re.S), (
            f"{case.id}: message does not match {case.match!r}: {info.value}")
        return
    out = case.call()
    if case.kind == "correct":
        assert case.check(out), f"{case.id}: check failed for {out!r}"
        return
    names = out.result.names()
    names = np.asarray(names, dtype=object)
    sel = names if case.where is None else names[case.where]
    assert np.all(sel == case.code), f"{case.id}: result {names}, expected {case.code}"
    for field in case.nan:
        value = np.asarray(getattr(out, field))
        value = value if case.where is None else value[case.where]
        assert np.all(np.isnan(value)), f"{case.id}: {field} is not NaN where flagged: {value}"


def test_corpus_counts():
    """The corpus covers the public entry points (the note reports the counts by kind)."""
    kinds = {k: sum(c.kind == k for c in CASES) for k in ("refused", "flagged", "correct")}
    assert sum(kinds.values()) == len(CASES)
