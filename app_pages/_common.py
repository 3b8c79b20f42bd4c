"""Shared app plumbing: session-state keys, cached resources (store, encoder), background jobs.

The one place that names session-state keys and holds ``st.cache_resource`` helpers. Pages
import from here and from :mod:`app_pages._ui` (rendering helpers); the core (``embcore``) never
imports Streamlit.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import streamlit as st

from embcore.errors import CancelledError, EmbcoreError
from embcore.export.publish import zip_export
from embcore.models.encoders import Encoder, load_encoder
from embcore.store import Store, default_db_path

log = logging.getLogger("embcore.app")


class K:
    """Session-state keys. Plain keys hold app state; ``W_*`` keys belong to widgets."""

    PROJECT = "embcore.project_id"  # int: the open project
    RUN = "embcore.run_id"  # int: the mining run under review
    QUERY = "embcore.review.query_id"  # int: the query on screen in Review
    FILTER = "embcore.review.filter"  # ReviewFilter last applied (a change jumps to the first match)
    CARD_ACK = "embcore.review.card_ack"  # int: sequence number of the last candidate-view event handled
    CARD_REFUSED = "embcore.review.card_refused"  # int: sequence number of the last event the store refused
    CARD_TIMING = "embcore.review.card_timing"  # float: ms the last candidate-view event took to apply
    SELECT_AFTER = "embcore.review.select_after"  # (query, passage) just decided: select the next one
    REVIEW_NOTICES = "embcore.review.notices"  # list[(kind, text)]: shown above the candidate view
    REVIEW_REFUSED = "embcore.review.refused"  # (query id, text): the last refused write, shown while on it
    BULK_CONFIRM = "embcore.review.bulk_confirm"  # dict: a counted bulk action waiting for confirmation
    MEMO = "embcore.memo"  # dict: values fixed once computed (a run's sources, a project's metadata)
    FLASH = "embcore.flash"  # list[(kind, text)]: messages from callbacks, shown on the next run
    ENCODER = "embcore.encoder_override"  # Encoder: tests (and demos) inject a fake encoder here
    RAW = "embcore.data.raw"  # (upload id, RawTable): the file read for preview
    INGEST = "embcore.data.ingest"  # (mapping json, IngestResult): cleaning preview of the mapping
    PROFILE = "embcore.data.profile"  # (mapping json, DataProfile): the data profile of that preview
    EXPORT = "embcore.export.result"  # (project id, ExportResult): the last export of this session
    SIM_MATRIX = "embcore.sim.matrix"  # SimilarityMatrix of the chosen sentences
    SIM_SIMCSE = "embcore.sim.simcse"  # SimCSEViews of the chosen sentences
    SIM_SCORES = "embcore.sim.scores"  # (run id, DataFrame) positive vs negative scores
    AUGMENT = "embcore.augment.result"  # (project id, stats dict): the last augmentation of this session
    LLM_KEY = "embcore.augment.llm_key"  # str: the API key typed on Augment; this session only, never stored
    AUG_PREVIEW = "embcore.augment.preview"  # (project id, AugmentPreview): generated, not stored yet
    AUG_MAX = "embcore.augment.max_samples"  # int: "first N samples", kept while that widget is hidden
    SRC_PREVIEW = (
        "embcore.sources.preview"  # (settings key, PreparedSource): documents / log read for preview
    )
    Q_QUERY = "embcore.queries.query_id"  # int: the generated query on screen in Queries
    Q_EDIT = "embcore.queries.editing"  # bool: the edit box of the Queries page is open
    REVIEWER = "embcore.reviewer"  # str: the reviewer's name (chosen at first visit, or the logged-in user)
    QUEUE = "embcore.review.queue"  # (key tuple, Queue): the queue computed for this session
    SEARCH = (
        "embcore.review.search"  # (query id, text, mode, DataFrame): corpus-search hits shown in the card
    )
    SESSION_START = "embcore.review.session_start"  # datetime: when this browser session started reviewing
    FOCUS_REASON = "embcore.review.focus_reason"  # float: time the F key asked to focus the flag reason

    # widgets: Data
    W_PROJECT_PICK = "w.project_pick"
    W_OPEN_PROJECT = "w.data.open_project"
    W_OPEN = "w.data.open"
    W_SOURCE = "w.data.source"
    W_UPLOAD = "w.data.upload"
    W_QUERY_COL = "w.data.query_col"
    W_POS_COLS = "w.data.pos_cols"
    W_META_COLS = "w.data.meta_cols"
    W_NEG_COL = "w.data.neg_col"
    W_NULLS = "w.data.null_values"
    W_MERGE = "w.data.merge_queries"
    W_CONFIRM_MAPPING = "w.data.confirm_mapping"
    W_NAME = "w.data.name"
    W_REPLACE = "w.data.replace"
    W_CREATE = "w.data.create"
    W_INPUT_KIND = "w.data.input_kind"
    # widgets: Data, documents and search logs
    W_DOC_UPLOAD = "w.src.doc_upload"
    W_DOC_TEXT_COL = "w.src.text_col"
    W_DOC_ID_COL = "w.src.id_col"
    W_DOC_TITLE_COL = "w.src.title_col"
    W_CHUNK = "w.src.chunk"
    W_CHUNK_SIZE = "w.src.chunk_size"
    W_CHUNK_OVERLAP = "w.src.chunk_overlap"
    W_Q_METHODS = "w.src.methods"
    W_Q_PER_CHUNK = "w.src.per_chunk"
    W_Q_SHARE_ICT = "w.src.share_ict"
    W_Q_SHARE_TITLE = "w.src.share_title"
    W_GATE = "w.src.gate"
    W_ROUNDTRIP = "w.src.roundtrip"
    W_ROUNDTRIP_K = "w.src.roundtrip_k"
    W_SRC_LLM_URL = "w.src.llm_base_url"
    W_SRC_LLM_MODEL = "w.src.llm_model"
    W_SRC_LLM_KEY = "w.src.llm_api_key"
    W_SRC_PROMPT = "w.src.llm_prompt"
    W_SRC_PREVIEW = "w.src.preview"
    W_SRC_NAME = "w.src.name"
    W_SRC_REPLACE = "w.src.replace"
    W_SRC_CREATE = "w.src.create"
    W_LOG_UPLOAD = "w.src.log_upload"
    W_CORPUS_UPLOAD = "w.src.corpus_upload"
    W_MIN_CLICKS = "w.src.min_clicks"
    W_MIN_DWELL = "w.src.min_dwell"
    # widgets: Queries
    W_Q_STATUS = "w.queries.status"
    W_Q_METHOD = "w.queries.method"
    W_Q_PREV = "w.queries.prev"
    W_Q_NEXT = "w.queries.next"
    W_Q_ACCEPT = "w.queries.accept"
    W_Q_REJECT = "w.queries.reject"
    W_Q_EDIT = "w.queries.edit"
    W_Q_EDIT_TEXT = "w.queries.edit_text"
    W_Q_SAVE = "w.queries.save"
    # widgets: Mine
    W_STRATEGIES = "w.mine.strategies"
    W_MODEL = "w.mine.model"
    W_NUM_NEG = "w.mine.num_negatives"
    W_TOP_K = "w.mine.top_k"
    W_RANGE_MIN = "w.mine.range_min"
    W_RANGE_MAX = "w.mine.range_max"
    W_FILTER = "w.mine.filter"
    W_MARGIN = "w.mine.margin"
    W_NEAR_DUP = "w.mine.near_duplicate"
    W_RULE_COL = "w.mine.rule_col"
    W_RULE_REL = "w.mine.rule_relation"
    W_SEED = "w.mine.seed"
    W_MINE = "w.mine.start"
    W_CANCEL = "w.mine.cancel"
    # widgets: Review
    W_RUN_PICK = "w.review.run"
    W_STATUS = "w.review.status"
    W_SOURCES = "w.review.sources"
    W_SEARCH = "w.review.search"
    W_SHOW_KEPT = "w.review.show_kept"
    W_PREV = "w.review.prev"
    W_NEXT = "w.review.next"
    W_NEXT_TODO = "w.review.next_unreviewed"
    W_CARD = "w.review.card"  # the candidate view (a v2 component: table, keyboard)
    W_ACCEPT_REST = "w.review.accept_rest"
    W_DONE = "w.review.done"
    W_REOPEN = "w.review.reopen"
    W_UNDO_LAST = "w.review.undo_last"
    W_EDIT = "w.review.edit"
    W_HISTORY = "w.review.history"
    W_HISTORY_SCOPE = "w.review.history_scope"
    W_BAND_COL = "w.review.band_col"
    W_BULK = "w.review.bulk"
    W_BAND_SCOPE = "w.review.band_scope"
    W_BAND_APPLY = "w.review.band_apply"
    W_SIM_THR = "w.review.sim_threshold"
    W_SIM_SCOPE = "w.review.sim_scope"
    W_SIM_APPLY = "w.review.sim_apply"
    W_BULK_CONFIRM = "w.review.bulk_confirm"
    W_BULK_CANCEL = "w.review.bulk_cancel"
    W_QUEUE = "w.review.queue"
    W_QUEUE_SEED = "w.review.queue_seed"
    W_QUEUE_THR = "w.review.queue_threshold"
    W_QUEUE_REFRESH = "w.review.queue_refresh"
    W_CORPUS_Q = "w.review.corpus_query"
    W_CORPUS_MODE = "w.review.corpus_mode"
    W_CORPUS_CLEAR = "w.review.corpus_clear"
    W_SUMMARY = "w.review.summary"
    W_SUMMARY_SCOPE = "w.review.summary_scope"
    W_REVIEWER_NAME = "w.reviewer.name"
    W_REVIEWER_GO = "w.reviewer.go"
    W_REVIEWER_ADOPT = "w.reviewer.adopt"
    W_REVIEWER_CHANGE = "w.reviewer.change"
    # widgets: Agreement
    W_AG_OVERLAP = "w.agreement.overlap"
    W_AG_LEADS = "w.agreement.leads"
    W_AG_REVIEWERS = "w.agreement.reviewers"
    W_AG_SAVE = "w.agreement.save"
    W_AG_ASSIGN = "w.agreement.assign"
    W_AG_UNASSIGN = "w.agreement.unassign"
    # widgets: Similarity
    W_SIM_VIEW = "w.sim.view"
    W_SIM_MODEL = "w.sim.model"
    W_SIM_SENTENCES = "w.sim.sentences"
    W_SIM_COMPUTE = "w.sim.compute"
    W_SIM_MAXQ = "w.sim.max_queries"
    # widgets: Export
    W_TRAIN = "w.export.train"
    W_VAL = "w.export.val"
    W_TEST = "w.export.test"
    W_EX_SEED = "w.export.seed"
    W_GROUP = "w.export.group"
    W_STRATIFY = "w.export.stratify"
    W_MAX_NEG = "w.export.max_negatives"
    W_PROMPT = "w.export.query_prompt"
    W_OUT_DIR = "w.export.out_dir"
    W_EXPORT = "w.export.go"
    W_DOWNLOAD = "w.export.download"
    W_EX_TEACHER = "w.export.teacher"
    W_EX_TEACHER_MODEL = "w.export.teacher_model"
    W_EX_TEACHER_NORM = "w.export.teacher_normalize"
    W_EMPTY_NEG = "w.export.empty_negatives"
    W_EX_NEAR_DUP = "w.export.near_duplicates"
    W_EX_FORMATS = "w.export.formats"
    W_EX_LICENSE = "w.export.license"
    # widgets: Augment & scores
    W_PROMPT_NAME = "w.aug.prompt_name"
    W_PROMPT_TEXT = "w.aug.prompt_text"
    W_PROMPT_APPLY = "w.aug.prompt_apply"
    W_TYPE_PICK = "w.aug.type"
    W_TYPE_TEXT = "w.aug.type_text"
    W_TYPE_APPLY = "w.aug.type_apply"
    W_AUG_OPS = "w.aug.eda_ops"
    W_AUG_N = "w.aug.eda_n"
    W_AUG_RATE = "w.aug.eda_rate"
    W_AUG_TARGET = "w.aug.eda_target"
    W_AUG_SEED = "w.aug.eda_seed"
    W_AUG_MAX = "w.aug.max_samples"
    W_AUG_EDA = "w.aug.eda_start"
    W_AUG_PROTECT = "w.aug.eda_protect"
    W_AUG_ADD = "w.aug.preview_add"
    W_AUG_DISCARD = "w.aug.preview_discard"
    W_LLM_TASKS = "w.aug.llm_tasks"
    W_LLM_N = "w.aug.llm_n"
    W_LLM_URL = "w.aug.llm_base_url"
    W_LLM_MODEL = "w.aug.llm_model"
    W_LLM_KEY = "w.aug.llm_api_key"
    W_LLM_PIVOT = "w.aug.llm_pivot"
    W_LLM_INSTR = "w.aug.llm_instruction"
    W_AUG_LLM = "w.aug.llm_start"
    W_AUG_CANCEL = "w.aug.cancel"
    W_TEACHER_MODEL = "w.aug.teacher_model"
    W_TEACHER_KIND = "w.aug.teacher_kind"
    W_TEACHER_NORM = "w.aug.teacher_normalize"
    W_TEACHER_TEMP = "w.aug.teacher_temperature"
    W_TEACHER_PROMPT = "w.aug.teacher_query_prompt"
    W_SCORE = "w.aug.score_start"
    W_SCORE_CANCEL = "w.aug.score_cancel"
    # widgets: Train & evaluate
    W_TR_EXPORT = "w.train.export"
    W_TR_MODEL = "w.train.model"
    W_TR_EPOCHS = "w.train.epochs"
    W_TR_LR = "w.train.lr"
    W_TR_LOSS = "w.train.loss"
    W_TR_BATCH = "w.train.batch"
    W_TR_MAX_STEPS = "w.train.max_steps"
    W_TR_MAXQ = "w.train.max_queries"
    W_TR_EVAL = "w.train.eval"
    W_TR_FINETUNE = "w.train.finetune"
    W_TR_CANCEL = "w.train.cancel"

    @staticmethod
    def query_edit(action: str, query_id: int) -> str:
        """Key of a widget editing / flagging one query (text, save, flag, reason, flag_save)."""
        return f"w.review.query.{action}.{query_id}"

    @staticmethod
    def note(query_id: int) -> str:
        """Key of the note field of one query."""
        return f"w.review.note.{query_id}"

    @staticmethod
    def adjudicate(query_id: int, passage_id: int, decision: str) -> str:
        """Key of an adjudication button on the Agreement page."""
        return f"w.agreement.adj.{query_id}.{passage_id}.{decision}"

    @staticmethod
    def undo(action_id: int) -> str:
        """Key of the History's undo button of one action."""
        return f"w.review.undo.{action_id}"

    @staticmethod
    def aug_preview(run_id: int) -> str:
        """Key of the preview table of one augmentation run (a new preview starts with fresh edits)."""
        return f"w.aug.preview.{run_id}"

    @staticmethod
    def meta(key: str) -> str:
        """Key of the Review page's filter on one metadata column."""
        return f"w.review.meta.{key}"

    @staticmethod
    def band(col: str) -> str:
        """Key of the score-band slider for one score column."""
        return f"w.review.band.{col}"

    @staticmethod
    def positive(action: str, query_id: int, passage_id: int) -> str:
        """Key of a positive's edit box / save button."""
        return f"w.review.pos.{action}.{query_id}.{passage_id}"


# --------------------------------------------------------------------------- routing


def run_page(page: Any, on_crash: Callable[[BaseException], None]) -> None:
    """Run the page ``st.navigation`` picked (called by app.py); a crash becomes ``on_crash(exc)``."""
    try:
        page.run()
    except Exception as exc:  # noqa: BLE001 - last resort: an error box, never a traceback
        on_crash(exc)


# --------------------------------------------------------------------------- resources


def db_path() -> str:
    """The DuckDB file of this server: ``$EMBCORE_DB`` or ``data/embcore.duckdb``."""
    return str(default_db_path().resolve())


@st.cache_resource(show_spinner=False, max_entries=8)
def _open_store(path: str) -> Store:
    log.info("opening %s", path)
    return Store(path)


def get_store() -> Store:
    """The process-wide store (one DuckDB connection shared by every tab under a lock)."""
    try:
        return _open_store(db_path())
    except EmbcoreError as exc:
        st.error(str(exc))
        st.stop()
        raise  # unreachable: st.stop() raises


@st.cache_resource(show_spinner=False, max_entries=4)
def _encoder(name: str) -> Encoder:
    return load_encoder(None if name in ("", "default") else name)


def get_encoder(name: str = "default") -> Encoder:
    """The encoder for ``name`` (loaded once per process), or the one a test injected."""
    override = st.session_state.get(K.ENCODER)
    if override is not None:
        return override
    return _encoder(name or "default")


def sample_csv() -> Path | None:
    """The bundled sample data file, when present."""
    path = Path(__file__).resolve().parents[1] / "embcore" / "data" / "sample_qa.csv"
    return path if path.is_file() else None


def exports_root() -> Path:
    """Default parent folder of exports: ``exports/`` next to the DuckDB file."""
    return Path(db_path()).parent / "exports"


def project_export_root(name: str) -> Path:
    """A project's export root: ``exports/<project name as a safe folder name>``; each export is a version in it."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", str(name)).strip("-.") or "project"
    return exports_root() / slug


def zip_folder(folder: str | Path) -> bytes:
    """The export's files (those its manifest lists, and the manifest) in one in-memory zip."""
    return zip_export(folder)


def memo(name: str, key: tuple[Any, ...], fn: Callable[[], Any]) -> Any:
    """``fn()`` computed once per session for ``(name, database, *key)``.

    Only for values that cannot change afterwards: a finished run's candidate sources or score
    ranges, a project's metadata values (query metadata is never edited in place).
    """
    cache = st.session_state.setdefault(K.MEMO, {})
    full = (name, db_path(), *key)
    if full not in cache:
        cache[full] = fn()
    return cache[full]


# --------------------------------------------------------------------------- flash messages + safe callbacks


def flash(kind: str, text: str) -> None:
    """Queue a message (``success`` / ``info`` / ``warning`` / ``error``) for the next render."""
    st.session_state.setdefault(K.FLASH, []).append((kind, text))


def run_safely(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call ``fn``; a core error becomes an ``st.error`` on the next render, never a traceback."""
    try:
        return fn(*args, **kwargs)
    except EmbcoreError as exc:
        flash("error", str(exc))
    except Exception as exc:  # noqa: BLE001 - a UI must not die on a bug; the log keeps the traceback
        log.exception("unexpected error in %s", getattr(fn, "__name__", fn))
        flash("error", f"Unexpected error: {type(exc).__name__}: {exc}")
    return None


# --------------------------------------------------------------------------- background jobs


@dataclass
class Job:
    """A long step (mining, evaluation, fine-tuning) running in a background thread.

    The step's progress callback writes ``stage / done / total`` here and returns False once
    ``cancel`` is set, so the core stops at its next safe point (nothing half-written).
    """

    kind: str
    project_id: int
    label: str
    stage: str = "starting"
    done: int = 0
    total: int = 0
    result: Any = None
    error: str | None = None
    cancelled: bool = False
    started: float = field(default_factory=time.time)
    finished: float | None = None
    cancel: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = field(default=None, repr=False)

    @property
    def running(self) -> bool:
        return self.finished is None

    @property
    def fraction(self) -> float:
        return min(1.0, self.done / self.total) if self.total else 0.0

    def progress(self, stage: str, done: int, total: int) -> bool:
        """The progress callback handed to the core."""
        self.stage, self.done, self.total = stage, int(done), int(total)
        return not self.cancel.is_set()


@st.cache_resource(show_spinner=False)
def _jobs() -> tuple[threading.Lock, dict[tuple[str, str, int], Job]]:
    return threading.Lock(), {}


def get_job(kind: str, pid: int) -> Job | None:
    """The latest job of ``kind`` for a project (running or finished), visible from every tab."""
    lock, jobs = _jobs()
    with lock:
        return jobs.get((db_path(), kind, pid))


def clear_job(kind: str, pid: int) -> None:
    """Forget a finished job."""
    lock, jobs = _jobs()
    with lock:
        job = jobs.get((db_path(), kind, pid))
        if job is not None and not job.running:
            del jobs[(db_path(), kind, pid)]


def start_job(kind: str, pid: int, label: str, fn: Callable[[Callable[[str, int, int], bool]], Any]) -> Job:
    """Run ``fn(progress)`` in a daemon thread; a second start while one runs returns the running job."""
    lock, jobs = _jobs()
    key = (db_path(), kind, pid)
    with lock:
        current = jobs.get(key)
        if current is not None and current.running:
            return current
        job = Job(kind=kind, project_id=pid, label=label)
        jobs[key] = job

    def _target() -> None:
        try:
            job.result = fn(job.progress)
        except CancelledError:
            job.cancelled = True
        except EmbcoreError as exc:
            job.error = str(exc)
        except Exception as exc:  # noqa: BLE001
            log.exception("%s job failed", kind)
            job.error = f"Unexpected error: {type(exc).__name__}: {exc}"
        finally:
            job.finished = time.time()

    job.thread = threading.Thread(target=_target, name=f"embcore-{kind}-{pid}", daemon=True)
    job.thread.start()
    return job


def wait_for_job(job: Job, timeout: float = 60.0) -> None:
    """Block until a job ends (tests and scripts only)."""
    if job.thread is not None:
        job.thread.join(timeout)


def env_value(name: str) -> str:
    """An environment variable's value ("" when unset)."""
    return os.environ.get(name, "")


def teacher_encoder(cfg: Any) -> Encoder | None:
    """The bi-encoder a teacher config scores with (loaded once, or the injected one); None for a cross-encoder."""
    return get_encoder(cfg.model) if cfg.resolved_kind() == "bi" else None


def env_flag(name: str) -> bool:
    """Whether an environment flag is set to a true value."""
    return os.environ.get(name, "").lower() in ("1", "true", "yes", "on")
