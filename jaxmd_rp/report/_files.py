"""Data files: CSV, JSON and (optionally) Parquet."""

import csv
import json
import math

import numpy as np

from .._study._runner import optional_import


def _missing(v) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def write_csv(path: str, rows: list[dict], columns=None, *, missing: str | None = None) -> str:
    """Write rows (dicts with the same keys) to `path` as CSV, columns in the order given (default:
    the first row's keys); return `path`. None is written as an empty cell; NaN as `nan`, or as
    `missing` when given (the study tables write every missing value as an empty cell)."""
    columns = list(columns) if columns is not None else list(rows[0].keys()) if rows else []
    if missing is not None:
        rows = [{k: missing if _missing(v) else v for k, v in r.items()} for r in rows]
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=columns)
        w.writeheader()
        w.writerows(rows)
    return path


def columns_to_rows(columns: dict) -> list[dict]:
    """A dict of equal-length columns as a list of rows (numpy scalars as Python values)."""
    names = list(columns)
    data = [np.asarray(columns[k]).tolist() for k in names]
    return [dict(zip(names, row, strict=True)) for row in zip(*data, strict=True)]


def _json_safe(obj):
    """NaN/inf -> None (JSON null) and numpy values -> Python values, recursively."""
    if isinstance(obj, dict):
        return {k: _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_safe(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _json_safe(obj.tolist())
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def write_json(path: str, obj, *, nan_as_null: bool = False) -> str:
    """Write `obj` as indented JSON (numpy scalars as numbers); return `path`. With
    `nan_as_null`, NaN and inf become `null` (strict JSON)."""
    def default(o):
        if isinstance(o, np.generic):
            return o.item()
        if isinstance(o, np.ndarray):
            return o.tolist()
        return str(o)

    if nan_as_null:
        obj = _json_safe(obj)
    with open(path, "w") as f:
        json.dump(obj, f, indent=2, default=default, allow_nan=not nan_as_null)
    return path


def dataframe(table):
    """A pandas DataFrame from rows or columns; integer columns with missing values become
    nullable integers (`Int64`), so a missing `first_zero_n` stays missing, not NaN-as-float."""
    pd = optional_import("pandas", "Parquet output")
    rows = table if isinstance(table, list) else None
    df = pd.DataFrame(rows if rows is not None else table)
    if rows is not None:
        for col in df.columns:
            vals = [r.get(col) for r in rows]
            present = [v for v in vals if v is not None]
            if present and len(present) < len(vals) and all(
                    isinstance(v, int) and not isinstance(v, bool) for v in present):
                df[col] = pd.array(vals, dtype="Int64")
    return df


def write_parquet(path: str, table) -> str:
    """Write rows or columns as Parquet (needs pandas and pyarrow: `jaxmd_rp[parquet]`)."""
    optional_import("pyarrow", "Parquet output")
    dataframe(table).to_parquet(path, index=False)
    return path
