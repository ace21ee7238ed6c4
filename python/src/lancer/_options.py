"""From the public arguments (lance-ray's names) to the core's build options."""

from __future__ import annotations

import fcntl
import hashlib
import io
import json
import os
import tempfile
from typing import Any, Optional

import numpy as np

SUPPORTED_INDEX_TYPES = ("IVF_FLAT", "IVF_SQ", "IVF_PQ", "IVF_RQ", "IVF_HNSW_FLAT", "IVF_HNSW_SQ", "IVF_HNSW_PQ")
# Index types Lance has that lancer does not build (yet): a clear NotImplementedError.
OTHER_LANCE_INDEX_TYPES = (
    "HNSW", "BTREE", "BITMAP", "LABEL_LIST",
    "INVERTED", "FTS", "NGRAM", "ZONEMAP", "BLOOMFILTER", "SCALAR",
)
METRICS = ("l2", "euclidean", "cosine", "dot")
OTHER_LANCE_METRICS = ("hamming",)
DEFAULT_SEED = 42


# URI schemes of the object stores lancer reaches (as Lance: object_store 0.14).
OBJECT_STORE_SCHEMES = ("s3", "s3a", "gs", "gcs", "az", "azure", "adl", "abfs", "abfss", "memory")


def is_object_store(path: str) -> bool:
    return "://" in path and path.split("://", 1)[0].lower() in OBJECT_STORE_SCHEMES


def location(uri: Any, what: str = "uri") -> str:
    """A local absolute path, or an object-store URI as given (trailing '/' removed)."""
    path = os.fspath(uri)
    if path.startswith("file://"):
        return os.path.abspath(path[len("file://"):])
    if "://" not in path:
        return os.path.abspath(path)
    scheme = path.split("://", 1)[0].lower()
    if scheme in OBJECT_STORE_SCHEMES:
        return path.rstrip("/")
    if scheme == "s3+ddb":
        raise NotImplementedError(
            f"{path}: s3+ddb:// commits through a DynamoDB table, which lancer does not implement "
            f"(it will not commit there without it)")
    raise NotImplementedError(f"{path}: lancer does not know the {scheme}:// scheme for {what} "
                              f"(local paths, file://, {', '.join(s + '://' for s in OBJECT_STORE_SCHEMES[:-1])})")


def dataset_path(uri: Any) -> str:
    """A local path or object-store URI from a str, os.PathLike, URI or LanceDataset."""
    if hasattr(uri, "uri") and not isinstance(uri, (str, os.PathLike)):
        uri = uri.uri  # a lance.LanceDataset
    if not isinstance(uri, (str, os.PathLike)):
        raise TypeError(f"uri must be a path, a URI or a lance.LanceDataset, not {type(uri).__name__}")
    return location(uri)


def storage_options_dict(storage_options: Any) -> Optional[dict]:
    """Lance's storage_options as the core takes them: str keys, str values."""
    if storage_options is None:
        return None
    if not isinstance(storage_options, dict):
        raise TypeError(f"storage_options must be a dict, not {type(storage_options).__name__}")
    out = {}
    for k, v in storage_options.items():
        if not isinstance(k, str):
            raise TypeError("storage_options keys must be strings")
        out[k] = ("true" if v else "false") if isinstance(v, bool) else str(v)
    return out


def index_type_of(index_type: Any) -> str:
    if not isinstance(index_type, str) and isinstance(getattr(index_type, "value", None), str):
        index_type = index_type.value  # an enum
    if not isinstance(index_type, str):
        raise TypeError(f"index_type must be a string or an enum with a string value, not {type(index_type).__name__}")
    t = index_type.upper()
    if t in SUPPORTED_INDEX_TYPES:
        return t
    supported = ", ".join(SUPPORTED_INDEX_TYPES)
    if t in OTHER_LANCE_INDEX_TYPES:
        raise NotImplementedError(f"index type {index_type} is not built by lancer (it builds {supported})")
    raise ValueError(f"unknown index type {index_type!r} (lancer builds {supported})")


def as_float32_array(value: Any, what: str) -> np.ndarray:
    """A numpy array from a numpy array or a pyarrow (FixedSizeList) array."""
    try:
        import pyarrow as pa
    except ImportError:  # pragma: no cover - pyarrow comes with pylance
        pa = None
    if pa is not None and isinstance(value, (pa.Array, pa.ChunkedArray)):
        if isinstance(value, pa.ChunkedArray):
            value = value.combine_chunks()
        if pa.types.is_fixed_size_list(value.type):
            if value.null_count:
                raise ValueError(f"{what} has null entries")
            inner = value.flatten()
            return np.asarray(inner.to_numpy(zero_copy_only=False), dtype=np.float32).reshape(
                len(value), value.type.list_size)
        value = value.to_numpy(zero_copy_only=False)
    array = np.asarray(value)
    if array.dtype.kind not in "fiu":
        raise ValueError(f"{what} must hold numbers, not {array.dtype}")
    return np.ascontiguousarray(array, dtype=np.float32)


def inputs_dir(path: str) -> str:
    return path + "/_lancer/inputs" if is_object_store(path) else os.path.join(path, "_lancer", "inputs")


class HeldInputs:
    """Input files a call is using, each held with a shared flock until release().

    Inputs are named by their content, so concurrent builds with the same
    centroids share a file; a remover takes the file's exclusive lock without
    waiting and skips it when a build still holds it.
    """

    def __init__(self) -> None:
        self._fds: list[int] = []
        self.paths: list[str] = []
        self.storage_options: Optional[dict] = None  # as the core takes them (build_options sets it)

    def add(self, path: str, fd: int) -> None:
        self._fds.append(fd)
        self.paths.append(path)

    def release(self) -> None:
        for fd in self._fds:
            os.close(fd)
        self._fds.clear()


def _same_file(fd: int, path: str) -> bool:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return False
    mine = os.fstat(fd)
    return (st.st_dev, st.st_ino) == (mine.st_dev, mine.st_ino)


def resolved_num_bits(index_type: str, num_bits: Optional[int]) -> Optional[int]:
    """num_bits as the core takes it: None for the type's default (PQ 8, RQ 5 as pylance 14)."""
    if num_bits is None:
        return None
    if isinstance(num_bits, bool) or not isinstance(num_bits, (int, np.integer)):
        raise TypeError(f"num_bits must be an integer, not {type(num_bits).__name__}")
    allowed = {"IVF_RQ": range(1, 10)}.get(index_type, (4, 8) if index_type.endswith("PQ") else (8,))
    if num_bits not in allowed:
        raise ValueError(f"num_bits must be one of {', '.join(map(str, allowed))} for {index_type}, got {num_bits}")
    return int(num_bits)


def rabitq_model_json(model: Any) -> str:
    """Lance's RaBitQ model (lance.lance.indices.build_rq_model's JSON text, or a dict of it)."""
    if isinstance(model, (bytes, bytearray)):
        model = model.decode()
    if isinstance(model, dict):
        return json.dumps(model)
    if isinstance(model, str):
        return model
    raise TypeError(f"rabitq_model must be Lance's JSON text or a dict, not {type(model).__name__}")


def write_input(path: str, array: np.ndarray, what: str, held: HeldInputs) -> str:
    """Writes `array` once as .npy, named by its content, where every worker can read it
    (write_input_bytes)."""
    buffer = io.BytesIO()
    np.save(buffer, array)
    return write_input_bytes(path, buffer.getvalue(), what, ".npy", held)


def write_input_bytes(path: str, data: bytes, what: str, suffix: str, held: HeldInputs) -> str:
    """Writes `data` once, named by its content, where every worker can read it.

    The file is held (shared lock) in `held` from before it becomes visible, so
    a concurrent remove_inputs never deletes it under this build.
    """
    digest = hashlib.sha256(data).hexdigest()[:16]
    if is_object_store(path):
        # No locks on an object store: the build that wrote it removes it (or `cleanup` does).
        from lancer import _core

        target = f"{inputs_dir(path)}/{what}-{digest}{suffix}"
        _core.put_file(target, data, held.storage_options or {})
        held.paths.append(target)
        return target
    target = os.path.join(inputs_dir(path), f"{what}-{digest}{suffix}")
    while True:
        try:
            fd = os.open(target, os.O_RDONLY)
        except FileNotFoundError:
            fd = -1
        if fd >= 0:
            fcntl.flock(fd, fcntl.LOCK_SH)
            if _same_file(fd, target):  # not removed while we waited for the lock
                held.add(target, fd)
                return target
            os.close(fd)
            continue
        try:
            os.makedirs(os.path.dirname(target), exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=os.path.dirname(target), suffix=".tmp")
        except FileNotFoundError:
            continue  # a remover took the folder away between the two calls
        fcntl.flock(fd, fcntl.LOCK_SH)
        with os.fdopen(os.dup(fd), "wb") as f:
            f.write(data)
        os.replace(tmp, target)
        held.add(target, fd)
        return target


def remove_inputs(path: str, names: Optional[list] = None, storage_options: Optional[dict] = None) -> None:
    """Removes input files (`names`, or all) that no running build holds, and
    the inputs folder and _lancer/ when that leaves them empty."""
    if is_object_store(path):
        from lancer import _core

        for name in names or []:  # all of them: `cleanup` (the core) removes _lancer/inputs/
            _core.delete_file(name, storage_options or {})
        return
    folder = inputs_dir(path)
    if names is None:
        try:
            names = [os.path.join(folder, n) for n in os.listdir(folder)]
        except FileNotFoundError:
            names = []
    for name in names:
        try:
            fd = os.open(name, os.O_RDONLY)
        except FileNotFoundError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue  # another build is using it; it removes it when done
        if _same_file(fd, name):
            os.unlink(name)
        os.close(fd)
    for empty in (folder, os.path.dirname(folder)):
        try:
            os.rmdir(empty)
        except OSError:
            pass  # not empty: another build's inputs or staging, or never created


def pq_codebook_3d(codebook: np.ndarray, num_bits: int) -> np.ndarray:
    """[m, 2^bits, dim/m] from that shape, from [m * 2^bits, dim/m], or flat rows."""
    k = 1 << num_bits
    if codebook.ndim == 3:
        return codebook
    if codebook.ndim == 2 and codebook.shape[0] % k == 0:
        return codebook.reshape(codebook.shape[0] // k, k, codebook.shape[1])
    raise ValueError(f"pq_codebook of shape {codebook.shape} is not [num_sub_vectors, {k}, dim/num_sub_vectors] "
                     f"nor [num_sub_vectors * {k}, dim/num_sub_vectors]")


def positive_int(value: Any, what: str, optional: bool = False) -> Optional[int]:
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{what} must be an integer, not {type(value).__name__}")
    if value <= 0:
        raise ValueError(f"{what} must be positive, got {value}")
    return int(value)


def build_options(uri: Any, column: str, index_type: str, name: Optional[str], *, replace: bool, metric: str,
                  num_partitions: Optional[int], num_sub_vectors: Optional[int], sample_rate: int,
                  max_iters: int, num_bits: Optional[int], ivf_centroids: Any, pq_codebook: Any,
                  num_segments: Optional[int], seed: Optional[int], threads: Optional[int],
                  work_dir: Optional[str], held: HeldInputs, storage_options: Optional[dict] = None,
                  m: int = 20, ef_construction: int = 150, max_level: int = 7, rabitq_model: Any = None) -> dict:
    """The options dict lancer._core takes; writes supplied centroids/codebooks as
    .npy, held in `held` until the caller releases them."""
    path = dataset_path(uri)
    if not isinstance(column, str) or not column:
        raise ValueError("column must be a non-empty column name")
    itype = index_type_of(index_type)
    if not isinstance(metric, str):
        raise TypeError(f"metric must be a string, not {type(metric).__name__}")
    if metric.lower() in OTHER_LANCE_METRICS:
        raise NotImplementedError(f"metric {metric} is not supported by lancer (it uses {', '.join(METRICS)})")
    if metric.lower() not in METRICS:
        raise ValueError(f"unknown metric {metric!r} (expected one of {', '.join(METRICS)})")
    num_bits = resolved_num_bits(itype, num_bits)
    options = {
        "uri": path,
        "column": column,
        "index_type": itype,
        "name": name,
        "replace": bool(replace),
        "metric": metric.lower(),
        "num_partitions": positive_int(num_partitions, "num_partitions", optional=True),
        "num_sub_vectors": positive_int(num_sub_vectors, "num_sub_vectors", optional=True),
        "num_bits": num_bits,
        "sample_rate": positive_int(sample_rate, "sample_rate"),
        "max_iters": positive_int(max_iters, "max_iters"),
        "num_segments": positive_int(num_segments, "num_segments", optional=True),
        "m": positive_int(m, "m"),
        "ef_construction": positive_int(ef_construction, "ef_construction"),
        "max_level": positive_int(max_level, "max_level"),
        "seed": DEFAULT_SEED if seed is None else int(seed),
        "threads": 0 if threads is None else int(threads),
        "work_dir": location(work_dir, "work_dir") if work_dir else None,
        "storage_options": storage_options_dict(storage_options),
    }
    held.storage_options = options["storage_options"]
    if ivf_centroids is not None:
        centroids = as_float32_array(ivf_centroids, "ivf_centroids")
        if centroids.ndim != 2:
            raise ValueError(f"ivf_centroids must be [num_partitions, dim], got shape {centroids.shape}")
        options["ivf_centroids"] = write_input(path, centroids, "ivf_centroids", held)
    if rabitq_model is not None:
        if itype != "IVF_RQ":
            raise ValueError(f"rabitq_model is only used by IVF_RQ, not {itype}")
        options["rabitq_model"] = write_input_bytes(path, rabitq_model_json(rabitq_model).encode(), "rabitq_model",
                                                    ".json", held)
    if pq_codebook is not None:
        if not itype.endswith("PQ"):
            raise ValueError(f"pq_codebook is only used by IVF_PQ and IVF_HNSW_PQ, not {itype}")
        codebook = pq_codebook_3d(as_float32_array(pq_codebook, "pq_codebook"), num_bits or 8)
        options["pq_codebook"] = write_input(path, codebook, "pq_codebook", held)
    return options
