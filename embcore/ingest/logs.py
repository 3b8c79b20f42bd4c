"""Search logs as training data: clicked results are positives, skipped results above a click are
candidate negatives ("skip-above", Joachims 2002).

A log file (CSV / TSV / JSONL / JSON / Parquet) holds one impression per row: the query, the
result ids shown (in rank order: a JSON list, or ids separated by ``|``, ``;``, ``,`` or spaces),
the clicked ids, optionally a dwell time per click (a list aligned with the clicks, a JSON object
``{id: seconds}``, or one number for the row) and a session id. A corpus file maps those ids to
texts (e.g. BEIR ``corpus.jsonl``: ``_id``, ``title``, ``text``).

Queries are normalised (Unicode, case, spacing, trailing punctuation) and aggregated across
impressions and sessions: a result is a positive when it was clicked at least ``min_clicks``
times with at least ``min_dwell`` seconds (when dwell is logged); a result shown above a
qualifying click but not clicked in that impression is a skip-above negative, unless the query
ever had it as a positive. Ids missing from the corpus are reported (counts and examples).
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from embcore.errors import EmbcoreError
from embcore.ingest.documents import TableColumns, suggest_table_columns
from embcore.ingest.read import RawTable, read_table
from embcore.ingest.samples import Sample, sample_key
from embcore.text import clean_text, match_key

log = logging.getLogger(__name__)

SKIP_ABOVE_ORIGIN = "log:skip-above"
"""Origin of skip-above negatives (given negatives, reviewed like mined candidates)."""

LOG_NAMES: dict[str, tuple[str, ...]] = {
    "query": ("query", "q", "search", "search_query", "keywords", "query_text", "查询", "搜索词"),
    "shown": (
        "shown",
        "results",
        "shown_ids",
        "result_ids",
        "impressions",
        "displayed",
        "serp",
        "ranked_ids",
        "展示",
    ),
    "clicked": ("clicked", "clicks", "clicked_ids", "click_ids", "点击"),
    "dwell": ("dwell", "dwell_time", "dwell_s", "dwell_seconds", "dwell_times", "停留时间"),
    "session": ("session", "session_id", "sid", "user_session", "会话"),
    "position": ("position", "click_position", "clicked_position", "rank"),
}


@dataclass
class LogColumns:
    """Which log columns hold the query, shown ids, clicked ids, dwell time, session id, click position."""

    query: str
    shown: str
    clicked: str
    dwell: str | None = None
    session: str | None = None
    position: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class LogConfig:
    """Thresholds: a click counts when its dwell time is >= ``min_dwell`` seconds (when logged);
    a result is a positive with >= ``min_clicks`` counted clicks."""

    min_clicks: int = 1
    min_dwell: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class LogResult:
    """Samples (query, clicked passages, skip-above negatives) and the report."""

    samples: list[Sample]
    negative_origin: str
    report: dict[str, Any] = field(default_factory=dict)


def _norm(c: str) -> str:
    return re.sub(r"[\s_\-]+", "", str(c).strip().lower())


def suggest_log_columns(raw: RawTable) -> LogColumns:
    """Find the log columns by name.

    Raises:
        EmbcoreError: no query, shown or clicked column (listing the columns).
    """
    found: dict[str, str | None] = {}
    used: set[str] = set()
    for role, names in LOG_NAMES.items():
        found[role] = None
        for n in names:
            hit = next((c for c in raw.columns if c not in used and _norm(c) == _norm(n)), None)
            if hit:
                found[role] = hit
                used.add(hit)
                break
    missing = [r for r in ("query", "shown", "clicked") if not found[r]]
    if missing:
        raise EmbcoreError(
            f"{raw.name}: a search log needs columns for the query, the shown result ids and the clicked ids; "
            f"not found: {', '.join(missing)} (columns: {', '.join(raw.columns[:20])})"
        )
    return LogColumns(**found)  # type: ignore[arg-type]


def parse_ids(value: Any) -> list[str]:
    """Ids from a cell: a list, a JSON list, or text separated by ``|``, ``;``, ``,`` or spaces."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return []
    if hasattr(value, "tolist") and not isinstance(value, str):
        value = value.tolist()
    if isinstance(value, list | tuple):
        return [s for s in (clean_text(v) for v in value) if s]
    text = str(value).strip()
    if not text:
        return []
    if text.startswith("["):
        try:
            items = json.loads(text)
            if isinstance(items, list):
                return [s for s in (clean_text(v) for v in items) if s]
        except ValueError:
            pass
    sep = next((s for s in ("|", ";", ",") if s in text), None)
    parts = text.split(sep) if sep else text.split()
    return [s for s in (clean_text(p.strip().strip("'\"")) for p in parts) if s]


def _dwell_map(value: Any, clicks: Sequence[str]) -> dict[str, float | None]:
    """Dwell seconds per clicked id (None where unknown)."""
    out: dict[str, float | None] = dict.fromkeys(clicks)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return out
    if hasattr(value, "tolist") and not isinstance(value, str):
        value = value.tolist()
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return out
        try:
            value = json.loads(text)
        except ValueError:
            value = parse_ids(text)
    if isinstance(value, dict):
        for k, v in value.items():
            if str(k) in out:
                out[str(k)] = _num(v)
    elif isinstance(value, list | tuple):
        for cid, v in zip(clicks, value, strict=False):
            out[cid] = _num(v)
    else:
        d = _num(value)
        out = dict.fromkeys(clicks, d)
    return out


def _num(v: Any) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(f) else f


_TRAIL_RE = re.compile(r"[\s?？!！.。,，;；:：]+$")


def normalise_query(text: str) -> str:
    """The aggregation key of a query: cleaned, case-folded, trailing punctuation dropped."""
    return _TRAIL_RE.sub("", match_key(text))


def read_corpus(
    source: str | Path | Any, columns: TableColumns | None = None, *, name: str | None = None
) -> tuple[dict[str, str], dict[str, str], RawTable]:
    """The corpus a log refers to: ``({id: text}, {id: title}, raw)``; a title is prefixed to nothing
    (kept apart as metadata).

    Raises:
        EmbcoreError: unreadable file, no text / id column, or duplicated ids.
    """
    raw = read_table(source, name=name)
    cols = columns or suggest_table_columns(raw)
    if cols.id_col is None:
        raise EmbcoreError(f"{raw.name}: the corpus needs an id column (id, _id, doc_id, ...); pass --id-col")
    for c in (cols.text_col, cols.id_col, cols.title_col):
        if c is not None and c not in raw.df.columns:
            raise EmbcoreError(f"{raw.name}: unknown column {c!r}; columns: {', '.join(raw.columns[:20])}")
    texts: dict[str, str] = {}
    titles: dict[str, str] = {}
    dup: list[str] = []
    ids = raw.df[cols.id_col].tolist()
    bodies = raw.df[cols.text_col].tolist()
    heads = raw.df[cols.title_col].tolist() if cols.title_col else [None] * len(ids)
    for i, (pid, body, head) in enumerate(zip(ids, bodies, heads, strict=True)):
        key = clean_text(pid)
        text = clean_text(body)
        if not key or not text:
            continue
        if key in texts:
            dup.append(f"{key} (row {i + 1})")
            continue
        texts[key] = text
        if clean_text(head):
            titles[key] = clean_text(head)
    if dup:
        raise EmbcoreError(
            f"{raw.name}: repeated corpus ids: {', '.join(dup[:5])}"
            + (f" and {len(dup) - 5} more" if len(dup) > 5 else "")
        )
    if not texts:
        raise EmbcoreError(f"{raw.name}: no corpus entry with both an id and a text")
    return texts, titles, raw


def samples_from_log(
    raw: RawTable,
    corpus: dict[str, str],
    cfg: LogConfig | None = None,
    columns: LogColumns | None = None,
) -> LogResult:
    """Aggregate a search log into samples (see the module docstring).

    Raises:
        EmbcoreError: missing columns, or no query with a qualifying click.
    """
    cfg = cfg or LogConfig()
    cols = columns or suggest_log_columns(raw)
    df = raw.df
    agg: dict[str, dict[str, Any]] = {}
    unknown: Counter[str] = Counter()
    rows_dropped: Counter[str] = Counter()
    clicks_below_dwell = 0
    for i in range(len(df)):
        query = clean_text(df[cols.query].iat[i])
        if not query:
            rows_dropped["missing_query"] += 1
            continue
        shown = list(dict.fromkeys(parse_ids(df[cols.shown].iat[i])))
        clicked = list(dict.fromkeys(parse_ids(df[cols.clicked].iat[i])))
        if cols.position and not clicked:
            pos = _num(df[cols.position].iat[i])
            if pos is not None and 1 <= pos <= len(shown):
                clicked = [shown[int(pos) - 1]]
        for pid in shown + clicked:
            if pid not in corpus:
                unknown[pid] += 1
        dwell = _dwell_map(df[cols.dwell].iat[i], clicked) if cols.dwell else dict.fromkeys(clicked)
        good = [
            c for c in clicked if cfg.min_dwell is None or dwell.get(c) is None or dwell[c] >= cfg.min_dwell
        ]
        clicks_below_dwell += len(clicked) - len(good)
        key = normalise_query(query)
        a = agg.setdefault(
            key,
            {
                "forms": Counter(),
                "clicks": Counter(),
                "skips": Counter(),
                "sessions": set(),
                "impressions": 0,
                "rows": [],
            },
        )
        a["forms"][query] += 1
        a["impressions"] += 1
        a["rows"].append(i + 1)
        if cols.session:
            s = clean_text(df[cols.session].iat[i])
            if s:
                a["sessions"].add(s)
        for c in good:
            a["clicks"][c] += 1
        # skip-above: shown above the lowest qualifying click and not clicked in this impression
        ranks = [shown.index(c) for c in good if c in shown]
        if ranks:
            for pid in shown[: max(ranks)]:
                if pid not in clicked:
                    a["skips"][pid] += 1
    samples: list[Sample] = []
    no_positive = 0
    n_neg = 0
    for key, a in agg.items():
        pos_ids = [p for p, n in a["clicks"].most_common() if n >= cfg.min_clicks and p in corpus]
        if not pos_ids:
            no_positive += 1
            continue
        ever_clicked = set(a["clicks"])
        neg_ids = [p for p, _ in a["skips"].most_common() if p in corpus and p not in ever_clicked]
        form = sorted(a["forms"].items(), key=lambda kv: (-kv[1], kv[0]))[0][0]
        pos_texts = list(dict.fromkeys(corpus[p] for p in pos_ids))
        neg_texts = [t for t in dict.fromkeys(corpus[p] for p in neg_ids) if t not in pos_texts]
        n_neg += len(neg_texts)
        meta = {
            "impressions": str(a["impressions"]),
            "sessions": str(len(a["sessions"])) if cols.session else "",
            "clicked_ids": ",".join(pos_ids[:10]),
        }
        meta = {k: v for k, v in meta.items() if v}
        samples.append(
            Sample(
                query=form,
                positives=pos_texts,
                negatives=neg_texts,
                meta=meta,
                source_rows=a["rows"],
                key=sample_key(key, None),
            )
        )
    report = {
        "rows": len(df),
        "queries": len(agg),
        "samples": len(samples),
        "queries_without_positive": no_positive,
        "rows_dropped": dict(rows_dropped),
        "clicks_below_dwell": clicks_below_dwell,
        "skip_above_negatives": n_neg,
        "unknown_ids": len(unknown),
        "unknown_id_mentions": sum(unknown.values()),
        "unknown_id_examples": [k for k, _ in unknown.most_common(10)],
        "columns": cols.to_dict(),
        "settings": cfg.to_dict(),
    }
    if not samples:
        raise EmbcoreError(
            f"{raw.name}: no query has a qualifying click on a known result ({len(agg)} queries, "
            f"{len(unknown)} unknown ids{', ' + str(clicks_below_dwell) + ' clicks below the dwell threshold' if clicks_below_dwell else ''})"
        )
    log.info(
        "search log %s: %d rows -> %d samples, %d skip-above negatives",
        raw.name,
        len(df),
        len(samples),
        n_neg,
    )
    return LogResult(samples, SKIP_ABOVE_ORIGIN, report)
