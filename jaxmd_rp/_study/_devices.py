"""Devices and layout of a study: a one-axis mesh over paths, global arrays in and out."""

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding, PartitionSpec

STUDY_AXIS = "paths"


def study_devices(devices: int | Sequence | None = None) -> list:
    """The devices a study runs on, ordered by (process, id).

    `None`: all devices of all processes. An integer N: the first N devices (with several
    processes, N must be a multiple of the process count and each process contributes N /
    process_count of its local devices). A sequence: those devices.
    """
    alldev = sorted(jax.devices(), key=lambda d: (d.process_index, d.id))
    if devices is None:
        return alldev
    if isinstance(devices, bool) or not isinstance(devices, int):
        if isinstance(devices, (str, bytes)) or not isinstance(devices, Sequence):
            raise TypeError(f"`devices` must be None, an integer or a list of devices; got "
                            f"{type(devices).__name__}.")
        return sorted(devices, key=lambda d: (d.process_index, d.id))
    if devices < 1:
        raise ValueError(f"`devices` must be >= 1; got {devices}.")
    if devices > len(alldev):
        raise ValueError(f"`devices={devices}` but only {len(alldev)} devices are visible "
                         f"({alldev[0].platform}).")
    nproc = jax.process_count()
    if nproc == 1:
        return alldev[:devices]
    if devices % nproc:
        raise ValueError(f"`devices={devices}` is not a multiple of the {nproc} processes; "
                         "every process must contribute the same number of devices.")
    per = devices // nproc
    return [d for p in range(nproc) for d in [x for x in alldev if x.process_index == p][:per]]


def study_mesh(devices: int | Sequence | None = None) -> Mesh:
    """A one-axis mesh (axis `"paths"`) over `study_devices(devices)`."""
    return Mesh(np.array(study_devices(devices)), (STUDY_AXIS,))


def device_info(mesh: Mesh | None = None) -> dict:
    """Device kind and count (of the mesh, or of all devices), process count, backend, x64."""
    devs = list(mesh.devices.flat) if mesh is not None else jax.devices()
    return {
        "backend": jax.default_backend(),
        "kind": sorted({d.device_kind for d in devs}),
        "count": len(devs),
        "all_devices": jax.device_count(),
        "local_devices": jax.local_device_count(),
        "process_count": jax.process_count(),
        "x64": bool(jax.config.jax_enable_x64),
    }


def put(host, mesh: Mesh, spec: PartitionSpec):
    """A global array from a host array that every process holds in full."""
    host = np.asarray(host)
    host = host.astype(jax.dtypes.canonicalize_dtype(host.dtype), copy=False)
    return jax.make_array_from_callback(host.shape, NamedSharding(mesh, spec), lambda idx: host[idx])


def to_host(tree):
    """Global arrays -> full numpy arrays on every process (process 0 included)."""
    return jax.tree.map(lambda x: np.asarray(multihost_utils.process_allgather(x, tiled=True)), tree)


def pad_paths(x, num_padded: int):
    """Pad the path axis to `num_padded` with copies of path 0 (dropped from the results)."""
    x = np.asarray(x)
    extra = num_padded - x.shape[0]
    if extra == 0:
        return x
    return np.concatenate([x, np.repeat(x[:1], extra, axis=0)], axis=0)


def key_data(keys):
    """(key implementation or None, raw key data as numpy) of per-path keys."""
    if jax.dtypes.issubdtype(jnp.asarray(keys).dtype, jax.dtypes.prng_key):
        return jax.random.key_impl(keys), np.asarray(jax.random.key_data(keys))
    return None, np.asarray(keys)
