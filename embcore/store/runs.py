"""Runs: the one recorder of every long step (mining, augmentation, teacher scoring, evaluation,
fine-tuning) and the liveness of running runs.

Writes the table ``runs``. A run is recorded with :meth:`RunsMixin.recorded_run`::

    with store.recorded_run(pid, "mine", cfg.to_dict(), seed=cfg.seed, model_id=model) as run:
        with run.step("mine"):
            ...
        run.counts["candidates"] = n

which records the start (config, seed, model id, data hash, the process id and host, a
heartbeat kept fresh by a background thread), then the outcome: ``done`` (or the status the
block set, e.g. ``preview``), ``cancelled`` (the progress callback raised
:class:`~embcore.errors.CancelledError`), ``failed`` (any other exception, its message
redacted) or ``interrupted`` (``KeyboardInterrupt`` / ``SystemExit``; a process that dies
without a word is marked ``interrupted`` on the next open, from its pid and heartbeat), with
the timings (every step plus ``total_s``), counts and stats.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from embcore.errors import CancelledError, EmbcoreError
from embcore.redact import redact_text
from embcore.store.connection import Connection, from_json, to_json
from embcore.store.sql import runs as sql

log = logging.getLogger(__name__)

_HOST = socket.gethostname()
STALE_AFTER_S = 600.0
"""A running run whose heartbeat is older than this (seconds) counts as interrupted on open."""
RUN_STATUSES: tuple[str, ...] = ("running", "done", "preview", "failed", "cancelled", "interrupted")
"""What ``runs.status`` holds (``preview``: an augmentation generated, waiting for the reviewer's pick)."""


def heartbeat_seconds() -> float:
    """Seconds between heartbeats of a running run (``EMBCORE_HEARTBEAT_S``, default 30)."""
    try:
        return max(0.05, float(os.environ.get("EMBCORE_HEARTBEAT_S", "30")))
    except ValueError:
        return 30.0


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists on this host (a zombie counts as gone)."""
    if os.name == "nt":  # os.kill would terminate it there; rely on the heartbeat instead
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


@dataclass
class RecordedRun:
    """A run being recorded by :meth:`RunsMixin.recorded_run`; the block fills in its results.

    Attributes:
        id: the run's id (``runs.id``).
        kind: mine, augment, score, eval, finetune, ...
        status: what a normal end records (default ``done``).
        timings: seconds per step (``total_s`` is added at the end).
        counts: row counts (queries, candidates, pairs ...).
        stats: anything else JSON-able that describes the result.
        secrets: strings hidden in a recorded error message (the block may add the credentials
            of a client it creates).
    """

    id: int
    kind: str
    status: str = "done"
    timings: dict[str, Any] = field(default_factory=dict)
    counts: dict[str, Any] = field(default_factory=dict)
    stats: dict[str, Any] = field(default_factory=dict)
    secrets: list[str] = field(default_factory=list)

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        """Time a block as ``timings[name + "_s"]`` (seconds, 3 decimals), also when it raises."""
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.timings[f"{name}_s"] = round(time.perf_counter() - t0, 3)


class RunsMixin(Connection):
    """Runs: record them (:meth:`recorded_run`), keep them alive, find interrupted ones, read them."""

    def _init_runs(self) -> None:
        self._live_runs: set[int] = set()
        self._beat_stop = threading.Event()
        self._beat_thread: threading.Thread | None = None

    def _stop_heartbeat(self) -> None:
        self._beat_stop.set()
        if self._beat_thread is not None and self._beat_thread is not threading.current_thread():
            self._beat_thread.join(timeout=5)

    # ------------------------------------------------------------------ the recorder

    @contextmanager
    def recorded_run(
        self,
        pid: int | None,
        kind: str,
        config: dict[str, Any] | None = None,
        *,
        seed: int | None = None,
        model_id: str | None = None,
        data_hash: str | None = None,
        secrets: Sequence[str] = (),
    ) -> Iterator[RecordedRun]:
        """Record the block as one run of ``kind`` (see the module docstring).

        Args:
            pid: the project (None for a run on files outside any project, e.g. ``embcore eval``).
            kind: what runs (mine, augment, score, eval, finetune ...).
            config: the settings (JSON-able; credentials already removed).
            seed: the random seed.
            model_id: the model used.
            data_hash: hash of the input data.
            secrets: strings to hide in a recorded error message (an API key).

        Yields:
            The :class:`RecordedRun`; the block sets its status, timings, counts and stats.

        Raises:
            Whatever the block raises, after recording it.
        """
        run_id = self._start_run(pid, kind, config, seed=seed, model_id=model_id, data_hash=data_hash)
        run = RecordedRun(run_id, kind, secrets=[s for s in secrets if s])
        t0 = time.perf_counter()

        def end(status: str, error: BaseException | None = None) -> None:
            run.timings["total_s"] = round(time.perf_counter() - t0, 3)
            message = None if error is None else redact_text(str(error) or type(error).__name__, run.secrets)
            self._finish_run(
                run.id,
                status=status,
                timings=run.timings,
                counts=run.counts or None,
                stats=run.stats or None,
                error=message,
            )

        try:
            yield run
        except CancelledError as exc:
            end("cancelled", exc)
            raise
        except Exception as exc:
            end("failed", exc)
            raise
        except BaseException as exc:  # KeyboardInterrupt, SystemExit: the process is going away
            end("interrupted", exc)
            raise
        end(run.status)

    def _start_run(
        self,
        pid: int | None,
        kind: str,
        config: dict[str, Any] | None = None,
        *,
        seed: int | None = None,
        model_id: str | None = None,
        data_hash: str | None = None,
    ) -> int:
        """Record a run as 'running' by this process (pid, host, heartbeat); a background thread
        keeps its heartbeat fresh until :meth:`_finish_run`."""
        run_id = int(
            self._scalar(
                sql.INSERT_RUN, [pid, kind, to_json(config), seed, model_id, data_hash, os.getpid(), _HOST]
            )
        )
        self._live_runs.add(run_id)
        self._ensure_heartbeat()
        return run_id

    def _finish_run(
        self,
        run_id: int,
        *,
        status: str = "done",
        timings: dict[str, Any] | None = None,
        counts: dict[str, Any] | None = None,
        stats: dict[str, Any] | None = None,
        error: str | None = None,
    ) -> None:
        self._live_runs.discard(int(run_id))
        self._execute(
            sql.FINISH_RUN, [status, to_json(timings), to_json(counts), to_json(stats), error, run_id]
        )

    def complete_preview(
        self,
        run_id: int,
        *,
        timings: dict[str, Any] | None = None,
        counts: dict[str, Any] | None = None,
        stats: dict[str, Any] | None = None,
    ) -> None:
        """Mark a ``preview`` run (an augmentation the reviewer has now picked from) ``done``.

        Raises:
            EmbcoreError: the run is not a preview (already completed, failed, or no such run).
        """
        if (
            self._fetchone(sql.COMPLETE_PREVIEW, [to_json(timings), to_json(counts), to_json(stats), run_id])
            is None
        ):
            raise EmbcoreError(f"run {run_id} is not a preview waiting to be completed")

    # ------------------------------------------------------------------ liveness

    def heartbeat(self, run_ids: Sequence[int] | None = None) -> None:
        """Refresh the heartbeat of this process's running runs (all live ones by default)."""
        ids = sorted(self._live_runs if run_ids is None else {int(r) for r in run_ids})
        if ids:
            self._execute(sql.HEARTBEAT, [ids])

    def _ensure_heartbeat(self) -> None:
        if self._beat_thread is not None or self.path == ":memory:":
            return

        def beat() -> None:
            while not self._beat_stop.wait(heartbeat_seconds()):
                try:
                    self.heartbeat()
                except Exception:  # noqa: BLE001 - a closed store ends the thread
                    log.debug("heartbeat stopped", exc_info=True)
                    return

        self._beat_thread = threading.Thread(target=beat, name="embcore-run-heartbeat", daemon=True)
        self._beat_thread.start()

    def mark_interrupted_runs(self, *, stale_after_s: float | None = None) -> list[int]:
        """Mark 'interrupted' every 'running' run whose process is gone.

        A run is gone when it was started on this host by another process that no longer
        exists, when its heartbeat is older than ``stale_after_s`` (default
        :data:`STALE_AFTER_S`; covers other hosts and reused pids), or when it predates the
        heartbeat (no pid recorded). Runs of this process are left alone.

        Returns:
            The ids marked.
        """
        stale = STALE_AFTER_S if stale_after_s is None else stale_after_s
        gone: list[tuple[int, str]] = []
        for run_id, rpid, host, is_stale, beat in self._fetchall(sql.RUNNING_RUNS, [float(stale)]):
            if rpid is None:
                gone.append(
                    (int(run_id), "interrupted: started by an older embcore that recorded no process id")
                )
            elif host == _HOST and int(rpid) == os.getpid():
                continue
            elif host == _HOST and not pid_alive(int(rpid)):
                gone.append(
                    (int(run_id), f"interrupted: process {rpid} on {host} ended before the run finished")
                )
            elif is_stale:
                gone.append(
                    (int(run_id), f"interrupted: no heartbeat from process {rpid} on {host} since {beat}")
                )
        if gone:
            with self.transaction():
                for run_id, why in gone:
                    self._execute(sql.MARK_INTERRUPTED, [why, run_id])
            log.warning("marked %d run(s) interrupted in %s: %s", len(gone), self.path, [g[0] for g in gone])
        return [g[0] for g in gone]

    # ------------------------------------------------------------------ reading

    def get_run(self, run_id: int) -> dict[str, Any]:
        """One run's row (config, timings, counts and stats decoded).

        Raises:
            EmbcoreError: no such run.
        """
        df = self._df(sql.RUN_ROW, [run_id])
        if df.empty:
            raise EmbcoreError(f"no run with id {run_id}")
        rec = df.iloc[0].to_dict()
        for k in ("config", "timings", "counts", "stats"):
            rec[k] = from_json(rec[k])
        return rec

    def runs(
        self, pid: int | None = None, kind: str | None = None, *, status: str | None = None
    ) -> pd.DataFrame:
        """Runs (of a project, of a kind, with a status: see :data:`RUN_STATUSES`), oldest first."""
        statement, params = sql.RUNS, []
        for fragment, value in ((sql.AND_STATUS, status), (sql.AND_PROJECT, pid), (sql.AND_KIND, kind)):
            if value is not None:
                statement += fragment
                params.append(value)
        return self._df(statement + sql.ORDER_BY_ID, params)

    def latest_run(self, pid: int, kind: str = "mine") -> int | None:
        """The id of a project's latest finished (``done``) run of one kind, or None."""
        found = self._scalar(sql.LATEST_FINISHED, [pid, kind])
        return None if found is None else int(found)

    def finished_runs(self, pid: int, kind: str = "mine") -> list[tuple[int, Any, Any]]:
        """(id, config JSON, finished_at) of a project's finished runs of one kind, newest first."""
        return self._fetchall(sql.FINISHED_RUNS, [pid, kind])
