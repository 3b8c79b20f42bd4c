"""User-facing error types.

Every error a user can cause (bad file, unknown column, bad ratio ...) is raised as
:class:`EmbcoreError` (a ``ValueError``) with one clear sentence that names the file,
row, column or option involved. The CLI prints ``str(err)`` on one line and exits
non-zero; the app shows it with ``st.error``.
"""

from __future__ import annotations


class EmbcoreError(ValueError):
    """A problem with the user's input or configuration, explained in one line."""


class StoreBusyError(EmbcoreError):
    """The DuckDB file is locked by another process (e.g. the app is running)."""


class CancelledError(EmbcoreError):
    """A long-running step was cancelled through its progress callback."""
