"""Progress bars per build phase: tqdm in a terminal or notebook, else nothing."""

from __future__ import annotations

import threading
from typing import Any, Callable, Optional

try:  # tqdm is optional: without it, builds run silently
    from tqdm.auto import tqdm as _tqdm
except ImportError:  # pragma: no cover - depends on the environment
    _tqdm = None


class PhaseBars:
    """A callable for the core's progress events: one bar per phase."""

    def __init__(self, enabled: bool = True) -> None:
        self._enabled = enabled and _tqdm is not None
        self._bars: dict[str, Any] = {}
        self._lock = threading.Lock()

    def __call__(self, phase: str, done: int, total: int, finished: bool) -> None:
        if not self._enabled:
            return
        with self._lock:
            bar = self._bars.get(phase)
            if bar is None:
                bar = self._bars[phase] = _tqdm(desc=phase, total=total or None, leave=True)
            if finished:  # the core ends a phase with (1, 1, True): keep the bar's own units
                if bar.total:
                    bar.n = bar.total
                else:
                    bar.total = bar.n = max(done, 1)
                bar.refresh()
                bar.close()
                del self._bars[phase]
                return
            if total and bar.total != total:
                bar.total = total
            bar.n = done
            bar.refresh()

    def close(self) -> None:
        with self._lock:
            for bar in self._bars.values():
                bar.close()
            self._bars.clear()


def make_progress(show: Optional[bool]) -> Optional[Callable[[str, int, int, bool], None]]:
    """show=None: bars when tqdm is installed; False: none."""
    if show is False or _tqdm is None:
        return None
    return PhaseBars()
