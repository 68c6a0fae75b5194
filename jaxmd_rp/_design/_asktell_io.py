"""Queries and observations as files: what an outside system reads and writes.

**A query directory** (written by `write_query`, by `jaxmd-rp ask` and by `SubprocessObserver`):

- `query.json`: `query_id`, `iteration` (n of every path), `num_paths` P, `num_evaluations` K,
  `evaluations` (the names of the K mechanisms: `theta`, `plus`, `minus`), `num_probes` T,
  `theta_dim`, `probe_dim`, `action_shape`, and the expected observation shapes;
- `theta.npy` (P, K, p), `probes.npy` (P, T, q), `active.npy` (P,), `keys.npy` (P, K, 2): the
  raw data of each evaluation's key (for a JAX simulator: `jax.random.wrap_key_data`);
- `mechanisms.csv`: `path,evaluation,name,theta_0,...,theta_{p-1}` (one row per mechanism) and
  `probes.csv`: `path,probe,probe_0,...,probe_{q-1}`.

**Observations** (read by `read_observations`):

- `.npy`: one array (P, K, T, *action_shape) of the observed play, or (P, K, T, N,
  *action_shape) of N samples of each strategy; NaN marks a missing observation.
- `.csv`: one row per observed number, columns `path,evaluation,probe,agent,value` for scalar
  actions, plus `component` when each agent's action is a vector (action_dim k), plus `sample`
  (0..N-1) for N samples of each strategy, plus optionally `query_id` (then every row must name
  the query it answers). Indices are 0-based. Rows that are absent, or whose `value` is empty or
  `nan`, are missing observations (NaN).
"""

import csv
import hashlib
import json
import os

import jax
import numpy as np

EVALUATIONS = {3: ("theta", "plus", "minus"), 2: ("plus", "minus")}
CSV_COLUMNS = ("path", "evaluation", "probe", "sample", "agent", "component", "value")


def key_data(keys) -> np.ndarray:
    """Raw key data (uint32) of typed or raw keys."""
    keys = jax.numpy.asarray(keys)
    if jax.dtypes.issubdtype(keys.dtype, jax.dtypes.prng_key):
        keys = jax.random.key_data(keys)
    return np.asarray(keys)


def query_id(query) -> str:
    """A SHA-256 (first 16 hex digits) of everything a query asks: mechanisms, probes, keys and
    iterations. Two different queries have different ids."""
    h = hashlib.sha256()
    for name, a in (("theta", query.theta), ("probes", query.probes),
                    ("keys", key_data(query.keys)), ("n", query.n)):
        a = np.ascontiguousarray(np.asarray(a))
        h.update(f"{name}|{a.dtype.str}|{a.shape}|".encode())
        h.update(a.tobytes())
    return h.hexdigest()[:16]


def query_info(query, action_shape, qid: str) -> dict:
    P, K, p = np.shape(query.theta)
    T, q = np.shape(query.probes)[1:]
    shape = tuple(int(s) for s in action_shape)
    n = np.asarray(query.n)
    return {"query_id": qid, "iteration": int(n.max()) if n.size else 0,
            "iterations": n.tolist(), "num_paths": P, "num_evaluations": K,
            "evaluations": list(EVALUATIONS.get(K, [f"e{j}" for j in range(K)])),
            "num_probes": T, "theta_dim": p, "probe_dim": q, "action_shape": list(shape),
            "observations": {"pure": [P, K, T, *shape], "sampled": [P, K, T, "N", *shape]}}


def write_query(directory: str, query, action_shape, qid: str, *, csv_files: bool = True) -> dict:
    """Write a query directory (module docstring); returns {name: path}."""
    os.makedirs(directory, exist_ok=True)
    files = {}
    arrays = {"theta": np.asarray(query.theta), "probes": np.asarray(query.probes),
              "active": np.asarray(query.active), "keys": key_data(query.keys)}
    for name, a in arrays.items():
        files[name] = os.path.join(directory, f"{name}.npy")
        np.save(files[name], a, allow_pickle=False)
    if csv_files:
        files["mechanisms"] = _write_mechanisms(directory, arrays["theta"])
        files["probes_csv"] = _write_probes(directory, arrays["probes"])
    files["query"] = os.path.join(directory, "query.json")
    _atomic_json(files["query"], query_info(query, action_shape, qid))
    return files


def _write_mechanisms(directory, theta):
    P, K, p = theta.shape
    names = EVALUATIONS.get(K, [f"e{j}" for j in range(K)])
    path = os.path.join(directory, "mechanisms.csv")
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["path", "evaluation", "name"] + [f"theta_{i}" for i in range(p)])
        for k in range(P):
            for j in range(K):
                w.writerow([k, j, names[j]] + [repr(float(v)) for v in theta[k, j]])
    return path


def _write_probes(directory, probes):
    P, T, q = probes.shape
    path = os.path.join(directory, "probes.csv")
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["path", "probe"] + [f"probe_{i}" for i in range(q)])
        for k in range(P):
            for t in range(T):
                w.writerow([k, t] + [repr(float(v)) for v in probes[k, t]])
    return path


def _atomic_json(path, obj):
    tmp = f"{path}.tmp.{os.getpid()}"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=2)
    os.replace(tmp, path)


def write_observations_csv(path: str, strategies, action_dim, *, qid: str | None = None,
                           sampled: bool | None = None):
    """Write observations (P, K, T, [N,] *action_shape) in the CSV layout (NaN rows omitted)."""
    s = np.asarray(strategies, dtype=np.float64)
    extra = 0 if action_dim is None else 1
    if sampled is None:
        sampled = s.ndim == 5 + extra
    cols = ["path", "evaluation", "probe"] + (["sample"] if sampled else []) + ["agent"]
    cols += (["component"] if extra else []) + ["value"] + (["query_id"] if qid else [])
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(cols)
        for idx in np.ndindex(*s.shape):
            v = s[idx]
            if np.isnan(v):
                continue
            w.writerow([*idx, repr(float(v))] + ([qid] if qid else []))


def read_observations(path: str, *, num_paths: int, num_evaluations: int, num_probes: int,
                      action_shape, qid: str | None = None) -> np.ndarray:
    """Observations from a `.npy` or `.csv` file (module docstring) as a float64 array. A CSV
    that names another query (`query_id` column) is refused; shapes are checked by
    `AskTell.tell`."""
    if path.endswith(".npy"):
        try:
            a = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as e:
            raise ValueError(f"observations {path!r} cannot be read as a .npy array ({e}).") from e
        if not (np.issubdtype(a.dtype, np.floating) or np.issubdtype(a.dtype, np.integer)):
            raise ValueError(f"observations {path!r} must hold real numbers; got dtype {a.dtype}.")
        return a.astype(np.float64)
    if path.endswith(".csv"):
        return _read_csv(path, (num_paths, num_evaluations, num_probes), tuple(action_shape), qid)
    raise ValueError(f"observations {path!r}: expected a .npy or .csv file.")


def _read_csv(path, lead, shape, qid):
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    if not rows:
        raise ValueError(f"observations {path!r} is empty (expected a header and rows).")
    header = [c.strip() for c in rows[0]]
    scalar = len(shape) == 1
    need = ["path", "evaluation", "probe", "agent", "value"] + ([] if scalar else ["component"])
    missing = [c for c in need if c not in header]
    unknown = [c for c in header if c not in CSV_COLUMNS + ("query_id",)]
    if missing or unknown or len(set(header)) != len(header):
        raise ValueError(
            f"observations {path!r} has columns {header}; expected "
            f"{','.join(need[:3] + ['[sample]'] + need[3:])} (+ optional query_id){'; missing ' + ', '.join(missing) if missing else ''}"
            f"{'; unknown ' + ', '.join(unknown) if unknown else ''}.")
    col = {c: i for i, c in enumerate(header)}
    idx_cols = ["path", "evaluation", "probe"] + (["sample"] if "sample" in col else [])
    idx_cols += ["agent"] + ([] if scalar else ["component"])
    body = rows[1:]
    if qid is not None and "query_id" in col:
        wrong = {r[col["query_id"]] for r in body if r[col["query_id"]] != qid}
        if wrong:
            raise ValueError(f"observations {path!r} answer query {sorted(wrong)[0]!r}, but the "
                             f"pending query is {qid!r}.")
    try:
        idx = np.array([[int(r[col[c]]) for c in idx_cols] for r in body], dtype=np.int64)
        vals = np.array([float(r[col["value"]]) if r[col["value"]].strip() else np.nan
                         for r in body], dtype=np.float64)
    except (ValueError, IndexError) as e:
        raise ValueError(f"observations {path!r}: a row is not numbers in every column ({e}).") \
            from None
    idx = idx.reshape(-1, len(idx_cols))
    N = int(idx[:, 3].max()) + 1 if "sample" in col and len(idx) else None
    dims = lead + ((N,) if N is not None else ()) + shape
    if np.isinf(vals).any():
        raise ValueError(f"observations {path!r} contain inf; mark a missing one with nan.")
    bad = (idx < 0) | (idx >= np.array(dims))
    if bad.any():
        r, c = np.argwhere(bad)[0]
        raise ValueError(f"observations {path!r}, row {r + 2}: {idx_cols[c]} = {idx[r, c]} is "
                         f"out of range 0..{dims[c] - 1}.")
    flat = np.ravel_multi_index(idx.T, dims) if len(idx) else np.zeros(0, np.int64)
    uniq, counts = np.unique(flat, return_counts=True)
    if (counts > 1).any():
        first = np.unravel_index(uniq[counts > 1][0], dims)
        where = ", ".join(f"{c} {int(i)}" for c, i in zip(idx_cols, first, strict=True))
        raise ValueError(f"observations {path!r} give the value at ({where}) more than once.")
    out = np.full(dims, np.nan)
    out.reshape(-1)[flat] = vals
    return out
