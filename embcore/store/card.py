"""SQL for the dataset card: the project's licence (migration 013)."""

from __future__ import annotations

from embcore.store import Store


def project_license(store: Store, pid: int) -> str | None:
    """The licence recorded for a project, or None when none was given."""
    row = store.fetchone("SELECT license FROM projects WHERE id = ?", [pid])
    return str(row[0]) if row and row[0] else None


def set_project_license(store: Store, pid: int, license: str | None) -> None:
    """Record (or clear, with None) a project's licence."""
    store.execute("UPDATE projects SET license = ? WHERE id = ?", [license or None, pid])
