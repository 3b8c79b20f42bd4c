"""Rendering for the Data page: the cleaning report (dropped rows, decoding, null-like texts,
merged queries) and the data profile (columns, lengths, duplicates, rows -> samples).

User strings (column names, queries, metadata) only reach the screen through ``st.text``,
``st.dataframe`` and HTML-escaped plotly labels: never as Markdown.
"""

from __future__ import annotations

import html
from typing import Any

import plotly.graph_objects as go
import streamlit as st

from embcore.ingest.profile import DataProfile


def cleaning_report(report: dict[str, Any]) -> None:
    """Dropped rows by reason and by row, rows decoded with a fallback codec, null-like texts, merges."""
    decoding = (report.get("decoding") or {}).get("fallback") or {}
    for codec, info in decoding.items():
        st.warning(
            f"{info['n_lines']} line(s) of this UTF-8 file are not UTF-8 and were decoded as {codec}, "
            "line by line (the other lines are unaffected). Check those rows below."
        )
        st.dataframe(
            [
                {
                    "codec": codec,
                    "file lines": _nums(info["lines"], info["n_lines"]),
                    "data rows": _nums(info["rows"], info["n_rows"]),
                }
            ],
            hide_index=True,
        )
    nulls = report.get("null_like") or {}
    if nulls:
        rows = [
            {"column": col, "text": text, "cells": n} for col, per in nulls.items() for text, n in per.items()
        ]
        with st.expander(f"Null-like texts treated as missing: {sum(r['cells'] for r in rows):,} cells"):
            st.dataframe(rows, hide_index=True)
    if report["rows_dropped"]:
        with st.expander(f"Cleaning report: {report['rows_dropped']} rows dropped", expanded=False):
            st.dataframe(
                [{"reason": k, "rows": v} for k, v in report["dropped_by_reason"].items()], hide_index=True
            )
            st.dataframe(report["dropped"], hide_index=True, width="stretch")
    merged_groups(report.get("merging") or {})


def merged_groups(merging: dict[str, Any]) -> None:
    """How rows sharing a query became samples, with examples (the issue of one question asked of several companies)."""
    if not merging:
        return
    parts = []
    if merging.get("merged_samples"):
        parts.append(f"{merging['merged_rows']:,} rows merged into {merging['merged_samples']:,} samples")
    if merging.get("texts_kept_apart"):
        parts.append(
            f"{merging['texts_kept_apart']:,} query texts asked with different metadata kept as "
            f"{merging['samples_kept_apart']:,} separate samples"
        )
    if merging.get("merged_across_metadata"):
        parts.append(f"{merging['merged_across_metadata']:,} merged samples mix rows with different metadata")
    if not parts:
        return
    with st.expander("Merged queries: " + "; ".join(parts)):
        if merging.get("examples"):
            st.caption("Samples built from several rows")
            st.dataframe(
                [
                    {"query": e["query"], "rows": _nums(e["rows"], e["n_rows"]), "positives": e["positives"]}
                    for e in merging["examples"]
                ],
                hide_index=True,
                width="stretch",
            )
        for key, label in (
            ("kept_apart_examples", "Same query text, different metadata: separate samples"),
            ("merged_across_metadata_examples", "Merged although their metadata differ"),
        ):
            if merging.get(key):
                st.caption(label)
                st.dataframe(
                    [
                        {"query": e["query"], "metadata": "; ".join(_meta(m) for m in e["meta"])}
                        for e in merging[key]
                    ],
                    hide_index=True,
                    width="stretch",
                )


def data_profile(prof: DataProfile) -> None:
    """Per-column table, text-length histograms of the mapped columns, duplicates and the rows -> samples waterfall."""
    note = (
        f"first {prof.profiled_rows:,} of {prof.rows:,} rows"
        if prof.profiled_rows < prof.rows
        else f"{prof.rows:,} rows"
    )
    if len(prof.columns) < prof.columns_total:
        note += f"; {len(prof.columns)} of {prof.columns_total:,} columns (mapped columns first)"
    st.caption(f"Column statistics over {note}.")
    st.dataframe(prof.table(), hide_index=True, width="stretch")
    c1, c2 = st.columns(2)
    c1.plotly_chart(waterfall_figure(prof), key="data_profile_waterfall")
    dup = prof.duplicates
    c2.dataframe(
        [
            {"what": "rows repeating an earlier query", "count": dup["rows_repeating_a_query"]},
            {"what": "queries found on several rows", "count": dup["queries_on_several_rows"]},
            {"what": "queries with several positives", "count": dup["queries_with_several_positives"]},
            {
                "what": "passages that are the positive of several samples",
                "count": dup["passages_of_several_samples"],
            },
            {
                "what": "query texts in several samples (other metadata)",
                "count": dup["texts_in_several_samples"],
            },
        ],
        hide_index=True,
        width="stretch",
    )
    mapped = [c for c in prof.columns if c.role in ("query", "positive") and c.hist_counts]
    if mapped:
        st.plotly_chart(length_figure(prof), key="data_profile_lengths")


def waterfall_figure(prof: DataProfile) -> go.Figure:
    """Rows read, minus each drop reason and the merged rows, equals the samples."""
    steps = prof.waterfall
    fig = go.Figure(
        go.Waterfall(
            x=[html.escape(s) for s, _ in steps],
            y=[v for _, v in steps[:-1]] + [0],
            measure=["absolute"] + ["relative"] * (len(steps) - 2) + ["total"],
            text=[f"{v:+,}" if 0 < i < len(steps) - 1 else f"{v:,}" for i, (_, v) in enumerate(steps)],
            textposition="outside",
        )
    )
    fig.update_layout(
        title="Why N rows became M samples", height=360, margin=dict(l=10, r=10, t=40, b=10), showlegend=False
    )
    return fig


def length_figure(prof: DataProfile) -> go.Figure:
    """Histograms of characters per cell for the query and positive columns."""
    fig = go.Figure()
    for c in prof.columns:
        if c.role not in ("query", "positive") or not c.hist_counts:
            continue
        mids = [(a + b) / 2 for a, b in zip(c.hist_edges[:-1], c.hist_edges[1:], strict=True)]
        widths = [b - a for a, b in zip(c.hist_edges[:-1], c.hist_edges[1:], strict=True)]
        fig.add_trace(
            go.Bar(
                x=mids, y=c.hist_counts, width=widths, name=html.escape(f"{c.role}: {c.name}"), opacity=0.7
            )
        )
    fig.update_layout(
        title="Text length (characters per cell)",
        barmode="overlay",
        height=320,
        margin=dict(l=10, r=10, t=40, b=10),
        xaxis_title="characters",
        yaxis_title="cells",
    )
    return fig


def _nums(values: list[int], total: int) -> str:
    shown = ", ".join(map(str, values))
    return shown + (f" … ({total:,} in all)" if total > len(values) else "")


def _meta(meta: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in meta.items()) or "(none)"
