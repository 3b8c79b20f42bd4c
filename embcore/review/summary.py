"""A reviewer's session in numbers: decisions per minute, and how often mining was right.

The accept rate by candidate source (bm25, dense, bm25+dense, given, search ...) and by band of
similarity to the positive shows where mining is wrong: a source or a band with a low accept
rate proposes false negatives or junk. Undone decisions are left out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from embcore.store import Store

BANDS: tuple[float, ...] = (-1.0, 0.2, 0.4, 0.6, 0.8, 0.9, 1.0001)
"""Edges of the similarity-to-the-positive bands."""


@dataclass
class SessionSummary:
    """What a reviewer did since a moment.

    Attributes:
        decisions: decisions counted (undone ones left out).
        minutes: from the first to the last decision (at least one minute when there is one).
        per_minute: decisions per minute over that span.
        timeline: minute (datetime), decisions: decisions in each minute.
        by_source: source, decisions, accepted, rejected, positive, accept_rate.
        by_band: band (label), decisions, accepted, rejected, positive, accept_rate.
    """

    decisions: int
    minutes: float
    per_minute: float
    timeline: pd.DataFrame
    by_source: pd.DataFrame
    by_band: pd.DataFrame

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready numbers (no frames)."""
        return {
            "decisions": self.decisions,
            "minutes": round(self.minutes, 2),
            "per_minute": round(self.per_minute, 2),
        }


def _rates(df: pd.DataFrame, key: str) -> pd.DataFrame:
    cols = [key, "decisions", "accepted", "rejected", "positive", "accept_rate"]
    if df.empty:
        return pd.DataFrame(columns=cols)
    g = df.groupby(key, observed=True)["decision"]
    out = pd.DataFrame(
        {
            "decisions": g.size(),
            "accepted": g.apply(lambda s: int((s == "accept").sum())),
            "rejected": g.apply(lambda s: int((s == "reject").sum())),
            "positive": g.apply(lambda s: int((s == "positive").sum())),
        }
    ).reset_index()
    out["accept_rate"] = out["accepted"] / out["decisions"]
    return out[cols]


def band_label(lo: float, hi: float) -> str:
    """ "0.80-0.90" (the first band reads "< 0.20", the last "0.90-1.00")."""
    if lo <= -1.0:
        return f"< {hi:.2f}"
    return f"{lo:.2f}-{min(hi, 1.0):.2f}"


def session_summary(
    store: Store, pid: int, reviewer: str, since: datetime | None = None, *, run_id: int | None = None
) -> SessionSummary:
    """The reviewer's decisions since ``since`` (None: all of them), per minute, source and band."""
    df = store.session_decisions(pid, reviewer, since or datetime(1970, 1, 1), run_id)
    # the latest decision per pair counts (a changed mind is one decision, its last word)
    df = df.drop_duplicates(["query_id", "passage_id"], keep="last") if len(df) else df
    n = len(df)
    if n:
        t = pd.to_datetime(df["logged_at"])
        span = (t.max() - t.min()).total_seconds() / 60.0
        minutes = max(1.0, span)
        timeline = (
            t.dt.floor("min").value_counts().sort_index().rename_axis("minute").reset_index(name="decisions")
        )
    else:
        minutes = 0.0
        timeline = pd.DataFrame(columns=["minute", "decisions"])
    labels = [band_label(lo, hi) for lo, hi in zip(BANDS[:-1], BANDS[1:], strict=True)]
    sim = pd.to_numeric(df["pos_sim"], errors="coerce") if n else pd.Series([], dtype=float)
    bands = pd.cut(sim, bins=list(BANDS), labels=labels, right=False)
    banded = df.assign(band=bands)[lambda x: x["band"].notna()] if n else df.assign(band=[])
    by_band = _rates(banded, "band")
    if len(by_band):
        by_band["band"] = by_band["band"].astype(str)
        by_band = (
            by_band.set_index("band").reindex([b for b in labels if b in set(by_band["band"])]).reset_index()
        )
    return SessionSummary(
        decisions=n,
        minutes=minutes,
        per_minute=(n / minutes) if minutes else 0.0,
        timeline=timeline,
        by_source=_rates(
            df.assign(source=df["sources"].astype(str)) if n else df.assign(source=[]), "source"
        ),
        by_band=by_band,
    )


def band_of(value: float | None) -> str | None:
    """The band label of one similarity (None when missing)."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    for lo, hi in zip(BANDS[:-1], BANDS[1:], strict=True):
        if lo <= value < hi:
            return band_label(lo, hi)
    return None
