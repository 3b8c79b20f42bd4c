"""Progress callbacks shared by every long-running step.

A progress callback is ``Callable[[str, int, int], bool | None]``: ``(stage, done, total)``.
Returning ``False`` asks the step to stop; it then raises :class:`CancelledError` at the
next safe point, leaving nothing half-written in the store.
"""

from __future__ import annotations

from collections.abc import Callable

from embcore.errors import CancelledError

ProgressFn = Callable[[str, int, int], "bool | None"]


def noop_progress(stage: str, done: int, total: int) -> bool:
    """A progress callback that ignores everything and never cancels."""
    return True


def report(progress: ProgressFn | None, stage: str, done: int, total: int) -> None:
    """Call ``progress`` if given and raise :class:`CancelledError` if it returns ``False``."""
    if progress is None:
        return
    if progress(stage, done, total) is False:
        raise CancelledError(f"cancelled during {stage} ({done}/{total})")


def tqdm_progress(disable: bool = False) -> ProgressFn:
    """A progress callback that renders one tqdm bar per stage on stderr (used by the CLI)."""
    from tqdm import tqdm

    bars: dict[str, tqdm] = {}

    def _cb(stage: str, done: int, total: int) -> bool:
        if disable:
            return True
        bar = bars.get(stage)
        if bar is None:
            bar = bars[stage] = tqdm(total=total, desc=stage, unit="it", leave=False, dynamic_ncols=True)
        bar.total = total
        bar.n = done
        bar.refresh()
        if done >= total:
            bar.close()
        return True

    return _cb
