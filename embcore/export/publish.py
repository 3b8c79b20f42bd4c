"""Publishing an export folder atomically, finding it again, and packing it.

Layout of an export root ``OUT``::

    OUT/v0001-20250101T120000Z/    one complete, immutable export (train.jsonl ... manifest.json)
    OUT/v0002-20250102T090000Z/
    OUT/current -> v0002-...       the published one: a relative symlink, switched by one rename
    OUT/CURRENT                    "v0002-..." instead, only where symlinks cannot be made
    OUT/train.jsonl -> current/train.jsonl   stable convenience links (never rewritten)

An export is written into a staging folder ``OUT/.OUT.tmp-<host>-<pid>-<random>``, renamed to
its version folder (one rename) and published by replacing ``current`` (one rename). A kill at
any moment leaves ``current`` on a complete export: the previous one or the new one. Staging
folders of dead processes are removed on the next run; old versions beyond ``keep`` are
pruned. Readers call :func:`resolve_export`, which also accepts a version folder itself and a
flat export written by older versions of embcore.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import re
import secrets
import shutil
import socket
import time
import zipfile
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from embcore.errors import EmbcoreError

log = logging.getLogger(__name__)

CURRENT_LINK = "current"
CURRENT_FILE = "CURRENT"
MANIFEST = "manifest.json"
VERSION_RE = re.compile(r"^v(\d{4,})-[0-9TZ]+$")
_HOST_TAG = hashlib.sha1(socket.gethostname().encode("utf-8")).hexdigest()[:8]
_STEP_ENV = "EMBCORE_EXPORT_STEP_DELAY"
_TRACE_ENV = "EMBCORE_EXPORT_TRACE"


def checkpoint(step: str) -> None:
    """A named point of the publishing sequence (a test hook: trace and slow it via the environment).

    ``EMBCORE_EXPORT_TRACE=FILE`` appends the step name to FILE; ``EMBCORE_EXPORT_STEP_DELAY=S``
    sleeps S seconds after it, so that a test can kill the process at a chosen step.
    """
    trace = os.environ.get(_TRACE_ENV)
    if trace:
        with open(trace, "a", encoding="utf-8") as fh:
            fh.write(step + "\n")
            fh.flush()
            os.fsync(fh.fileno())
    delay = os.environ.get(_STEP_ENV)
    if delay:
        time.sleep(float(delay))


# --------------------------------------------------------------------------- reading


def resolve_export(path: str | Path) -> Path:
    """The folder holding an export's files: ``OUT/current`` (or ``OUT/CURRENT``), else ``OUT`` itself.

    ``OUT`` may be an export root, one version folder, or a flat export of an older embcore.
    """
    root = Path(path)
    link = root / CURRENT_LINK
    if link.is_dir():
        return link.resolve()
    marker = root / CURRENT_FILE
    if marker.is_file():
        name = marker.read_text(encoding="utf-8").strip()
        if VERSION_RE.match(name) and (root / name).is_dir():
            return root / name
    return root


def read_manifest_of(path: str | Path) -> dict[str, Any] | None:
    """The manifest of the export at ``path`` (resolved), or None when there is none / it is unreadable."""
    f = resolve_export(path) / MANIFEST
    if not f.is_file():
        return None
    try:
        data = json.loads(f.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def versions(root: str | Path) -> list[Path]:
    """Version folders under ``root``, oldest first."""
    root = Path(root)
    if not root.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in root.iterdir() if (m := VERSION_RE.match(p.name)) and p.is_dir()]
    return [p for _, p in sorted(found)]


def manifest_files(path: str | Path) -> list[str]:
    """Relative paths of an export's files: those its manifest lists, then the manifest itself."""
    manifest = read_manifest_of(path)
    if manifest is None:
        raise EmbcoreError(f"{path}: no readable {MANIFEST}; not an embcore export")
    files = manifest.get("files") or {}
    if not isinstance(files, dict):
        raise EmbcoreError(f"{path}: {MANIFEST} has no 'files' table")
    return sorted(files) + [MANIFEST]


def zip_export(path: str | Path) -> bytes:
    """The export's files, and nothing else, in one in-memory zip (paths relative to the export).

    Only files listed in the manifest (plus the manifest) are packed, and only if they sit
    inside the export folder: unrelated files in the folder never end up in the download.
    """
    folder = resolve_export(path)
    base = folder.resolve()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for rel in manifest_files(folder):
            src = (folder / rel).resolve()
            if not src.is_relative_to(base) or not src.is_file():
                raise EmbcoreError(f"{folder}: listed file {rel!r} is missing or outside the export")
            zf.write(src, Path(rel).as_posix())
    return buf.getvalue()


# --------------------------------------------------------------------------- target checks


def check_target(root: str | Path, project_name: str, *, allowed: Iterable[str] = ()) -> None:
    """Refuse to export into a folder that holds something else.

    Allowed: a folder that does not exist yet, an empty one, or an earlier export of the same
    project (recognised by its manifest). ``allowed`` names entries that may sit in an
    otherwise empty folder (e.g. the project's DuckDB file when it lives there).

    Raises:
        EmbcoreError: the path is a file, or a folder with other content / another project's export.
    """
    root = Path(root)
    if not root.exists():
        if root.is_symlink():
            raise EmbcoreError(f"{root}: a broken link; choose another export folder")
        return
    if not root.is_dir():
        raise EmbcoreError(f"{root}: exists and is not a folder; choose an export folder")
    manifest = read_manifest_of(root)
    if manifest is not None and manifest.get("tool") == "embcore":
        owner = (manifest.get("project") or {}).get("name")
        if owner == project_name:
            return
        raise EmbcoreError(
            f"{root}: holds an export of project {owner!r}, not of {project_name!r}; choose another folder"
        )
    allowed = set(allowed)
    prefix = f".{root.name}.tmp-"
    other = sorted(
        p.name
        for p in root.iterdir()
        if p.name not in allowed and not p.name.startswith(prefix) and not VERSION_RE.match(p.name)
    )
    if other:
        shown = ", ".join(other[:5]) + (f" and {len(other) - 5} more" if len(other) > 5 else "")
        raise EmbcoreError(
            f"{root}: not empty and not an earlier export of project {project_name!r} (found {shown}); "
            "choose an empty or new folder"
        )


# --------------------------------------------------------------------------- staging


def _alive(pid: int) -> bool:
    from embcore.store.runs import pid_alive

    return pid_alive(pid)


def new_staging(root: str | Path) -> Path:
    """A fresh staging folder inside ``root`` (created with the usual permissions, 0777 & ~umask)."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    for _ in range(100):
        path = root / f".{root.name}.tmp-{_HOST_TAG}-{os.getpid()}-{secrets.token_hex(4)}"
        try:
            path.mkdir()
        except FileExistsError:
            continue
        return path
    raise EmbcoreError(f"{root}: cannot create a staging folder")  # pragma: no cover


def clean_stale(root: str | Path, *, older_than_s: float = 86400.0) -> list[Path]:
    """Remove what dead exports left behind: staging folders, half-switched pointers, pruned versions.

    A leftover of this host is removed when its process is gone; one of another host (or of an
    older embcore, without a process id: ``.OUT.tmp-XXXX``, also beside ``OUT``) when older than
    ``older_than_s``, or at once when it is from an older embcore on this host.
    """
    root = Path(root)
    removed: list[Path] = []
    pattern = re.compile(
        rf"^(?:\.{re.escape(root.name)}\.tmp-|\.current\.tmp-|\.{re.escape(root.name)}\.trash-)"
        r"(?:(?P<host>[0-9a-f]{8})-(?P<pid>\d+)-)?"
    )
    places = [root, root.parent]
    for place in places:
        if not place.is_dir():
            continue
        for p in place.iterdir():
            m = pattern.match(p.name)
            if not m or (place == root.parent and not p.name.startswith(f".{root.name}.tmp-")):
                continue
            host, pid = m.group("host"), m.group("pid")
            try:
                age = time.time() - p.lstat().st_mtime
            except OSError:
                continue
            if host is None:
                stale = True  # an older embcore's mkdtemp folder: no process can be writing it now
            elif host == _HOST_TAG:
                stale = int(pid) != os.getpid() and not _alive(int(pid))
            else:
                stale = age > older_than_s
            if not stale:
                continue
            if p.is_symlink() or p.is_file():
                p.unlink(missing_ok=True)
            else:
                shutil.rmtree(p, ignore_errors=True)
            removed.append(p)
    if removed:
        log.info("removed %d stale export leftover(s) in %s", len(removed), root)
    return removed


# --------------------------------------------------------------------------- publishing


def _fsync_tree(folder: Path) -> None:
    for dirpath, _, filenames in os.walk(folder):
        for name in filenames:
            fd = os.open(os.path.join(dirpath, name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        _fsync_dir(Path(dirpath))


def _fsync_dir(folder: Path) -> None:
    if os.name == "nt":  # pragma: no cover - directories cannot be opened there
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _symlinks_work(root: Path) -> bool:
    probe = root / f".symlink-probe-{os.getpid()}-{secrets.token_hex(3)}"
    try:
        os.symlink(".", probe, target_is_directory=True)
    except (OSError, NotImplementedError):
        return False
    probe.unlink()
    return True


def _replace_with_link(path: Path, target: str, *, is_dir: bool) -> None:
    """Make ``path`` a symlink to ``target`` with one rename (a folder in the way is moved aside first)."""
    tmp = path.parent / f".current.tmp-{_HOST_TAG}-{os.getpid()}-{secrets.token_hex(4)}"
    os.symlink(target, tmp, target_is_directory=is_dir)
    if path.is_dir() and not path.is_symlink():
        aside = path.parent / f".{path.parent.name}.trash-{_HOST_TAG}-{os.getpid()}-{secrets.token_hex(4)}"
        os.rename(path, aside)
        os.replace(tmp, path)
        shutil.rmtree(aside, ignore_errors=True)
    else:
        os.replace(tmp, path)


def publish(staging: Path, root: Path, *, keep: int = 3) -> Path:
    """Turn a complete staging folder into the published export of ``root``.

    Steps: 1. flush the staged files to disk. 2. rename the staging folder to the next version
    folder. 3. switch ``root/current`` to it with one rename. 4. make the stable convenience
    links (``root/train.jsonl -> current/train.jsonl``...), replacing the files of a flat
    export an older embcore wrote there. 5. prune versions beyond the newest ``keep``.

    Returns:
        The version folder.
    """
    _fsync_tree(staging)
    checkpoint("staged")
    existing = versions(root)
    number = int(VERSION_RE.match(existing[-1].name).group(1)) + 1 if existing else 1  # type: ignore[union-attr]
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    while True:
        version = root / f"v{number:04d}-{stamp}"
        try:
            os.rename(staging, version)
            break
        except OSError:
            if not version.exists():
                raise
            number += 1
    _fsync_dir(root)
    checkpoint("renamed")
    if _symlinks_work(root):
        _replace_with_link(root / CURRENT_LINK, version.name, is_dir=True)
    else:  # pragma: no cover - platforms without symlinks
        tmp = root / f".{root.name}.tmp-{_HOST_TAG}-{os.getpid()}-current"
        tmp.write_text(version.name + "\n", encoding="utf-8")
        os.replace(tmp, root / CURRENT_FILE)
    _fsync_dir(root)
    checkpoint("switched")
    if (root / CURRENT_LINK).is_symlink():
        for entry in sorted(version.iterdir()):
            link = root / entry.name
            want = f"{CURRENT_LINK}/{entry.name}"
            if link.is_symlink() and os.readlink(link) == want:
                continue
            if link.exists() or link.is_symlink():
                if not _legacy_entry(link, root):
                    log.warning("%s: left as is (not part of an earlier export)", link)
                    continue
            _replace_with_link(link, want, is_dir=entry.is_dir())
            checkpoint(f"linked {entry.name}")
        _unlink_stale(root, version)
    _prune(root, version, keep)
    checkpoint("done")
    return version


def _unlink_stale(root: Path, version: Path) -> None:
    """Remove convenience links to files the current export does not have (e.g. ``st`` after an
    export without that format): they would dangle."""
    for link in sorted(root.iterdir()):
        if not link.is_symlink() or link.name == CURRENT_LINK:
            continue
        target = os.readlink(link)
        if target == f"{CURRENT_LINK}/{link.name}" and not (version / link.name).exists():
            link.unlink()
            checkpoint(f"unlinked {link.name}")


def _legacy_entry(path: Path, root: Path) -> bool:
    """Whether ``path`` is a file of a flat export (listed by the flat manifest, or an export file name)."""
    if path.is_symlink():
        return os.readlink(path).startswith(f"{CURRENT_LINK}/")
    if path.name == "eval":
        return path.is_dir()
    return (
        path.name in {MANIFEST, "train.jsonl", "val.jsonl", "test.jsonl", "dropped_rows.csv"}
        and path.is_file()
    )


def _prune(root: Path, current: Path, keep: int) -> None:
    old = [v for v in versions(root) if v != current]
    for v in old[: max(0, len(old) - max(0, keep - 1))]:
        aside = root / f".{root.name}.trash-{_HOST_TAG}-{os.getpid()}-{secrets.token_hex(4)}"
        try:
            os.rename(v, aside)
        except OSError:
            continue
        shutil.rmtree(aside, ignore_errors=True)
        checkpoint(f"pruned {v.name}")
