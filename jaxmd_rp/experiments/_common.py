"""Small helpers shared by the experiment scripts."""

import csv


def write_dict_csv(path: str, rows: list[dict]) -> str:
    """Write rows (dicts with the same keys, in column order) to `path` as CSV; return `path`."""
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0].keys()))
        w.writeheader()
        w.writerows(rows)
    return path
