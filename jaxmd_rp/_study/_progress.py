"""Progress meters for long runs (a tqdm bar, a callback, or nothing)."""

from collections.abc import Callable


class Progress:
    """`progress` argument of the runners: `True` (a tqdm bar), `False`/`None` (nothing), or a
    callable `progress(done, total, **info)`. Call `update(done, **info)`, then `close()`."""

    def __init__(self, progress: bool | Callable | None, total: int, desc: str, unit: str = "it"):
        self.total = total
        self._bar = None
        self._fn = None
        if callable(progress):
            self._fn = progress
        elif progress:
            from tqdm.auto import tqdm  # imported only for a bar (it warns in bare notebooks)

            self._bar = tqdm(total=total, desc=desc, unit=unit)

    def update(self, done: int, **info):
        if self._fn is not None:
            self._fn(done, self.total, **info)
        if self._bar is not None:
            self._bar.update(done - self._bar.n)
            if info:
                self._bar.set_postfix(**info)

    def close(self):
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False
