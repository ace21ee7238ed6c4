"""Choose OpenBLAS's kernels before the core loads it.

OpenBLAS picks its kernels from the CPU model when the library is loaded; on a
CPU it does not recognise (virtual machines often hide the model) it falls back
to generic SSE3 kernels, about 3x slower. The CLI re-executes itself with
OPENBLAS_CORETYPE in that case (docs/decisions/blas-threading.md); a Python
process cannot, so the first import asks a short-lived child process which core
type to use and sets it before loading lancer._core. Child processes (Ray
workers started by this one) inherit it and skip the probe. The answer is
cached per CPU model, extension and OpenBLAS library (about 0.4 s saved on
every later import).
"""

import hashlib
import importlib.util
import os
import subprocess
import sys
import tempfile
from typing import Optional

_PROBE = "from lancer._core import better_openblas_coretype as b; print(b() or '')"


_OPENBLAS = "/usr/lib/x86_64-linux-gnu/libopenblas.so.0"


def _cache_file() -> Optional[str]:
    """Where the answer for this CPU, extension and OpenBLAS is cached (None: no cache)."""
    try:
        key = hashlib.sha256()
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith(("vendor_id", "model name", "flags")):
                    key.update(line.encode())
                elif not line.strip():
                    break  # the first processor is enough
        spec = importlib.util.find_spec("lancer._core")
        for path in (spec.origin if spec else None, _OPENBLAS):
            if path and os.path.exists(path):
                real = os.path.realpath(path)
                st = os.stat(real)
                key.update(f"{real}:{st.st_size}:{st.st_mtime_ns}".encode())
    except (OSError, ImportError, ValueError):
        return None
    root = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(root, "lancer", f"openblas-coretype-{key.hexdigest()[:16]}")


def _read_cache(path: Optional[str]) -> Optional[str]:
    if not path:
        return None
    try:
        with open(path, encoding="ascii") as f:
            value = f.read().strip()
    except (OSError, ValueError):
        return None
    return value if value == "-" or value.isalnum() else None


def _write_cache(path: Optional[str], value: str) -> None:
    if not path:
        return
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), suffix=".tmp")
        with os.fdopen(fd, "w", encoding="ascii") as f:
            f.write(value + "\n")
        os.replace(tmp, path)
    except OSError:
        pass  # a read-only home: probe again next time


def choose_openblas_coretype() -> None:
    if "OPENBLAS_CORETYPE" in os.environ or os.environ.get("LANCER_BLAS_PROBE"):
        return
    cache = _cache_file()
    core = _read_cache(cache)
    if core is None:
        env = dict(os.environ, LANCER_BLAS_PROBE="1")
        try:
            out = subprocess.run([sys.executable, "-c", _PROBE], env=env, capture_output=True, text=True,
                                 timeout=60)
        except (OSError, subprocess.SubprocessError):
            return
        if out.returncode != 0:
            return
        core = out.stdout.strip() or "-"
        _write_cache(cache, core)
    if core != "-":
        os.environ["OPENBLAS_CORETYPE"] = core
    else:  # OpenBLAS chooses well by itself here: children need not ask again
        os.environ["LANCER_BLAS_PROBE"] = "done"
