"""Choose OpenBLAS's kernels before the core loads it.

OpenBLAS picks its kernels from the CPU model when the library is loaded; on a
CPU it does not recognise (virtual machines often hide the model) it falls back
to generic SSE3 kernels, about 3x slower. The CLI re-executes itself with
OPENBLAS_CORETYPE in that case (docs/decisions/blas-threading.md); a Python
process cannot, so the first import asks a short-lived child process which core
type to use and sets it before loading lancer._core. Child processes (Ray
workers started by this one) inherit it and skip the probe.
"""

import os
import subprocess
import sys

_PROBE = "from lancer._core import better_openblas_coretype as b; print(b() or '')"


def choose_openblas_coretype() -> None:
    if "OPENBLAS_CORETYPE" in os.environ or os.environ.get("LANCER_BLAS_PROBE"):
        return
    env = dict(os.environ, LANCER_BLAS_PROBE="1")
    try:
        out = subprocess.run([sys.executable, "-c", _PROBE], env=env, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return
    core = out.stdout.strip() if out.returncode == 0 else ""
    if core:
        os.environ["OPENBLAS_CORETYPE"] = core
    else:  # OpenBLAS chooses well by itself here: children need not ask again
        os.environ["LANCER_BLAS_PROBE"] = "done"
