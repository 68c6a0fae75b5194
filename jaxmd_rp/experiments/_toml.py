"""TOML for study configurations: read with the standard library's `tomllib`, written by `dumps`
(a small writer for the values a study configuration holds: booleans, integers, floats, strings,
arrays of those, and one level of tables). `tomllib.loads(dumps(d)) == d` for such dicts."""

import json
import math
import re
import tomllib

_BARE = re.compile(r"^[A-Za-z0-9_-]+$")


def _key(k: str) -> str:
    return k if _BARE.match(k) else json.dumps(k)


def _value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)  # the shortest repr that round-trips; TOML accepts 1e-09 and 0.5
    if isinstance(v, str):
        return json.dumps(v)  # JSON's escapes are TOML basic-string escapes
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    raise TypeError(f"cannot write {type(v).__name__} {v!r} to TOML.")


def dumps(d: dict, header: str = "") -> str:
    """A TOML document for `d`: top-level values first, then one `[table]` per dict value.
    `None` values are left out (TOML has no null: an absent key means the default)."""
    lines = [f"# {ln}" if ln else "#" for ln in header.splitlines()]
    tables = []
    for k, v in d.items():
        if v is None:
            continue
        if isinstance(v, dict):
            tables.append((k, v))
        else:
            lines.append(f"{_key(k)} = {_value(v)}")
    for name, table in tables:
        lines += ["", f"[{_key(name)}]"]
        lines += [f"{_key(k)} = {_value(v)}" for k, v in table.items() if v is not None]
    return "\n".join(lines) + "\n"


def loads(text: str) -> dict:
    """Parse TOML text (`tomllib.TOMLDecodeError` on bad syntax)."""
    return tomllib.loads(text)


def parse_value(text: str):
    """One command-line value as TOML (`3`, `0.5`, `true`, `[1, 2]`, `"x"`); text that is not a
    TOML value (e.g. `classic`) is taken as a string."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def parse_list(text: str) -> list:
    """A comma-separated command-line list (`0.25,0.5,1` or `[0.25, 0.5, 1]`) as TOML values."""
    s = text.strip()
    if not s.startswith("["):
        s = "[" + s + "]"
    try:
        return tomllib.loads(f"v = {s}")["v"]
    except tomllib.TOMLDecodeError:
        return [parse_value(x.strip()) for x in text.strip("[]").split(",") if x.strip()]
