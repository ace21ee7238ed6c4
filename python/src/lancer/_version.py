"""lancer.__version__: the version string, carrying what the C++ core was built from and runs with."""

from __future__ import annotations

from lancer import _core


class BuildVersion(str):
    """The version ("0.1.0", the package's version) with the build's details as attributes.

    ``git_revision``, ``simd_in_use`` (the kernels' level: this CPU's best, capped by
    ``LANCER_SIMD``), ``simd_cpu``, ``simd_kernels`` (levels built in), ``blas`` and
    ``blas_kernel`` (OpenBLAS's configuration and the kernels it picked for this CPU),
    ``blas_library`` (the file it was loaded from), ``object_store``, ``bf16_proposal`` (nearest
    centroids proposed by AVX512-BF16 products, decided exactly); ``details`` is the text
    ``lancer --version`` prints.
    """

    git_revision: str
    simd_kernels: tuple
    simd_cpu: str
    simd_in_use: str
    blas: str
    blas_kernel: str
    blas_library: str
    object_store: bool
    bf16_proposal: bool
    details: str

    def __new__(cls, info: dict) -> "BuildVersion":
        self = super().__new__(cls, info["version"])
        for key in ("git_revision", "simd_cpu", "simd_in_use", "blas", "blas_kernel", "blas_library",
                    "object_store", "bf16_proposal"):
            setattr(self, key, info[key])
        self.simd_kernels = tuple(info["simd_kernels"])
        self.details = info["text"]
        return self


def build_version() -> BuildVersion:
    return BuildVersion(_core.build_info())
