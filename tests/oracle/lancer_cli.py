"""Running the lancer CLI and judging its output."""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from typing import List, Optional, Sequence

import numpy as np

from datasets import Expected

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEFAULT_BIN = os.path.join(REPO, "build", "lancer")
CRASH_MARKERS = ("AddressSanitizer", "runtime error", "LeakSanitizer", "ThreadSanitizer",
                 "UndefinedBehaviorSanitizer", "MemorySanitizer", "terminate called",
                 "Segmentation fault", "core dumped", "panicked at")


def lancer_bin() -> str:
    return os.environ.get("LANCER_BIN", DEFAULT_BIN)


def lancer_available() -> Optional[str]:
    """None if usable, else the reason why not."""
    b = lancer_bin()
    if not os.path.isfile(b):
        return f"lancer binary not found at {b} (build it, or set LANCER_BIN)"
    if not os.access(b, os.X_OK):
        return f"lancer binary at {b} is not executable"
    try:
        r = subprocess.run([b, "--help"], capture_output=True, timeout=20)
    except Exception as e:  # pragma: no cover
        return f"`{b} --help` failed to run: {e}"
    if r.returncode != 0:
        return f"`{b} --help` exited {r.returncode}: {r.stderr.decode(errors='replace')[:500]}"
    return None


@dataclass
class Result:
    argv: List[str]
    rc: Optional[int]  # None = timed out
    stdout: str
    stderr: str

    @property
    def timed_out(self) -> bool:
        return self.rc is None

    def crash_reason(self) -> Optional[str]:
        """Why this run counts as a crash/hang, or None."""
        if self.rc is None:
            return "timed out (hang?)"
        if self.rc < 0:
            return f"killed by signal {-self.rc}"
        if self.rc >= 128:
            return f"exit code {self.rc} (looks like a signal/abort)"
        for m in CRASH_MARKERS:
            if m in self.stderr:
                return f"stderr contains {m!r}"
        return None

    def describe(self, limit: int = 1500) -> str:
        err = self.stderr if len(self.stderr) <= limit else self.stderr[:limit] + "...[truncated]"
        return (f"$ {' '.join(self.argv)}\n  rc={self.rc}\n  stderr: {err.strip()!r}"
                + (f"\n  stdout: {self.stdout.strip()[:300]!r}" if self.stdout.strip() else ""))


def run(args: Sequence[str], timeout: float = 120) -> Result:
    argv = [lancer_bin(), *map(str, args)]
    try:
        p = subprocess.run(argv, capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        return Result(argv, None, (e.stdout or b"").decode(errors="replace"),
                      (e.stderr or b"").decode(errors="replace"))
    return Result(argv, p.returncode, p.stdout.decode(errors="replace"),
                  p.stderr.decode(errors="replace"))


def export(uri: str, column: str, output: str, row_ids: Optional[str] = None,
           version: Optional[int] = None, timeout: float = 120) -> Result:
    args = ["export", uri, "--column", column, "--output", output]
    if row_ids:
        args += ["--row-ids", row_ids]
    if version is not None:
        args += ["--version", str(version)]
    for p in (output, row_ids):
        if p and os.path.exists(p):
            os.unlink(p)
    return run(args, timeout=timeout)


def inspect_json(uri: str, version: Optional[int] = None, timeout: float = 60) -> dict:
    args = ["inspect", uri, "--json"]
    if version is not None:
        args += ["--version", str(version)]
    r = run(args, timeout=timeout)
    assert r.crash_reason() is None, r.describe()
    assert r.rc == 0, r.describe()
    try:
        return json.loads(r.stdout)
    except json.JSONDecodeError as e:
        raise AssertionError(f"inspect --json did not print JSON ({e}):\n{r.stdout[:2000]}")


# --------------------------------------------------------------------------
# comparisons
# --------------------------------------------------------------------------

def _first_diff_rows(got: np.ndarray, exp: np.ndarray, addrs: np.ndarray, k: int = 3) -> str:
    n = min(len(got), len(exp))
    if n == 0 or got.ndim != 2 or got.shape[1:] != exp.shape[1:]:
        return "    (no rows to compare)"
    g = got[:n].reshape(n, -1).view(np.uint8).reshape(n, -1)
    e = exp[:n].reshape(n, -1).view(np.uint8).reshape(n, -1)
    bad = np.nonzero((g != e).any(axis=1))[0][:k]
    lines = []
    for i in bad:
        a = int(addrs[i]) if i < len(addrs) else -1
        lines.append(f"    row {i} (addr {a} = frag {a >> 32} off {a & 0xFFFFFFFF}): "
                     f"expected {exp[i][:6]}... got {got[i][:6]}...")
    return "\n".join(lines)


def compare_vectors(got: np.ndarray, exp: Expected, what: str = "export") -> List[str]:
    problems = []
    if got.dtype.str != exp.vectors.dtype.str:
        problems.append(f"{what}: dtype {got.dtype.str}, expected {exp.vectors.dtype.str}")
        return problems
    if got.shape != exp.vectors.shape:
        problems.append(f"{what}: shape {got.shape}, expected {exp.vectors.shape}")
        if got.ndim == 2 and got.shape[1] == exp.vectors.shape[1]:
            problems.append(_first_diff_rows(got, exp.vectors, exp.addrs))
        return problems
    if got.tobytes() != exp.vectors.tobytes():
        n = len(got)
        nbad = int((got.view(np.uint8).reshape(n, -1) != exp.vectors.view(np.uint8).reshape(n, -1)
                    ).any(axis=1).sum()) if n and got.size else 0
        problems.append(f"{what}: {nbad} of {len(got)} vectors differ byte-wise\n"
                        + _first_diff_rows(got, exp.vectors, exp.addrs))
    return problems


def compare_row_ids(got: np.ndarray, exp: Expected) -> List[str]:
    if got.dtype.str != "<u8":
        return [f"row ids: dtype {got.dtype.str}, expected <u8"]
    if got.shape != exp.addrs.shape:
        return [f"row ids: shape {got.shape}, expected {exp.addrs.shape}; "
                f"first got {got[:5].tolist()} expected {exp.addrs[:5].tolist()}"]
    if not np.array_equal(got, exp.addrs):
        i = int(np.nonzero(got != exp.addrs)[0][0])
        return [f"row ids differ first at index {i}: got {int(got[i])}, expected {int(exp.addrs[i])}"
                f" ({int((got != exp.addrs).sum())} differ)"]
    return []


def read_output(path: str, dim: int) -> np.ndarray:
    """Load an export in any of the three formats (f32 for fvecs/f32)."""
    if path.endswith(".npy"):
        return np.load(path, allow_pickle=False)
    raw = open(path, "rb").read()
    if path.endswith(".fvecs"):
        rec = 4 + 4 * dim
        if len(raw) % rec:
            raise AssertionError(f"{path}: size {len(raw)} not a multiple of {rec}")
        arr = np.frombuffer(raw, dtype=np.uint8).reshape(-1, rec)
        dims = arr[:, :4].copy().view("<i4").reshape(-1)
        if len(dims) and not (dims == dim).all():
            raise AssertionError(f"{path}: per-vector dims {set(dims.tolist())}, expected {dim}")
        return arr[:, 4:].copy().view("<f4").reshape(-1, dim)
    if path.endswith(".f32"):
        if len(raw) % (4 * dim):
            raise AssertionError(f"{path}: size {len(raw)} not a multiple of {4 * dim}")
        return np.frombuffer(raw, dtype="<f4").reshape(-1, dim).copy()
    raise ValueError(path)


def check_export(exp: Expected, tmpdir: str, fmt: str = "npy", with_row_ids: bool = True,
                 timeout: float = 120) -> Result:
    """Run `lancer export` and assert byte-exact equality with `exp`."""
    out = os.path.join(tmpdir, f"out.{fmt}")
    rid = os.path.join(tmpdir, "rowids.npy") if with_row_ids else None
    r = export(exp.uri, exp.column, out, rid, exp.version, timeout=timeout)
    crash = r.crash_reason()
    assert crash is None, f"lancer crashed on {exp.label}: {crash}\n{r.describe()}"
    assert r.rc == 0, f"lancer export failed on {exp.label}\n{r.describe()}"
    problems = []
    got = read_output(out, exp.dim)
    if fmt == "npy":
        problems += compare_vectors(got, exp)
    else:
        f32 = Expected(exp.uri, exp.column, np.dtype("<f4"), exp.dim, exp.addrs,
                       exp.vectors.astype("<f4"))
        problems += compare_vectors(got, f32, what=f"export .{fmt}")
    if with_row_ids:
        problems += compare_row_ids(np.load(rid, allow_pickle=False), exp)
    assert not problems, (f"{exp.label}: lancer export differs from Lance\n  "
                          + "\n  ".join(problems) + f"\n{r.describe()}")
    return r


def names_file(stderr: str, candidates: Sequence[str]) -> bool:
    """Does the message name one of the candidate files (path or basename)?"""
    for c in candidates:
        if not c:
            continue
        if c in stderr or os.path.basename(c.rstrip("/")) in stderr:
            return True
    return False


def judge_exact_or_error(r: Result, exp: Expected, out: str, rid: Optional[str],
                         files: Sequence[str], must_fail: bool = False) -> Optional[str]:
    """The corruption rule: exactly right values, or a clean non-zero exit
    whose message names the offending file. Returns a problem or None."""
    crash = r.crash_reason()
    if crash:
        return f"CRASH/HANG: {crash}"
    if r.rc != 0:
        if not r.stderr.strip():
            return "non-zero exit with an empty stderr"
        if not names_file(r.stderr, files):
            return (f"error message does not name the file ({[os.path.basename(f) for f in files]}):"
                    f" {r.stderr.strip()[:400]!r}")
        return None
    if must_fail:
        return "exit 0 although this must be refused"
    try:
        got = read_output(out, exp.dim)
    except Exception as e:
        return f"exit 0 but unreadable output: {e}"
    problems = compare_vectors(got, exp)
    if rid is not None:
        try:
            problems += compare_row_ids(np.load(rid, allow_pickle=False), exp)
        except Exception as e:
            problems.append(f"row ids unreadable: {e}")
    if problems:
        return "WRONG VALUES with exit 0: " + "; ".join(problems)
    return None
