"""The bad-input corpus: cases kept as data, one module per area (`tests/corpus/<area>.py`, each
defining `CASES: list[Case]`), all run by `tests/test_corpus.py`.

Every case says exactly what must happen:

- `refused`: the call raises `raises` (the exact type, not a superclass catch-all) with a message
  matching the regular expression `match`;
- `flagged`: the call returns a solution whose `result` is the code named `code` (every element,
  or the elements selected by `where`), and its outputs at those elements are NaN where `nan`
  names them;
- `correct`: the call returns and `check(output)` is true (an independent expectation).
"""

import dataclasses
from collections.abc import Callable
from typing import Any


@dataclasses.dataclass(frozen=True)
class Case:
    id: str
    call: Callable[[], Any]
    kind: str  # "refused" | "flagged" | "correct"
    raises: type | tuple | None = None
    match: str | None = None
    code: str | None = None
    where: Any = None  # index of the flagged elements in a batched result (None: all)
    nan: tuple = ()  # output fields that must be NaN at the flagged elements
    check: Callable[[Any], bool] | None = None

    def __post_init__(self):
        if self.kind == "refused":
            assert self.raises is not None and self.match, self.id
        elif self.kind == "flagged":
            assert self.code is not None, self.id
        elif self.kind == "correct":
            assert self.check is not None, self.id
        else:
            raise AssertionError(f"{self.id}: unknown kind {self.kind!r}")


def refused(id, call, raises, match):
    return Case(id=id, call=call, kind="refused", raises=raises, match=match)


def flagged(id, call, code, where=None, nan=()):
    return Case(id=id, call=call, kind="flagged", code=code, where=where, nan=tuple(nan))


def correct(id, call, check):
    return Case(id=id, call=call, kind="correct", check=check)
