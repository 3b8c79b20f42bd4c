"""Turn documents or a search log into samples for the ordinary pipeline (project -> mine -> review -> export).

:func:`prepare_documents`: chunk the documents, make queries (ICT, title, LLM), and return a
:class:`PreparedSource` whose samples ``create_project`` stores like a table's; its
:meth:`PreparedSource.after_create` then stores the provenance (documents, chunks with offsets and
heading paths, which passage comes from which chunk), runs the quality gate and records each
query's method, verdict and reason. :func:`prepare_log` does the same for a search log (clicked
results are positives, skip-above results given negatives with origin ``log:skip-above``).

Samples carry ``doc_id`` in their metadata: documents builds split with ``group_col="doc_id"`` so
that the chunks of one document never straddle train / val / test.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from embcore.errors import EmbcoreError
from embcore.ingest.chunking import ChunkResult, ChunkSpec, chunk_documents, model_tokenizer
from embcore.ingest.documents import DocumentSet
from embcore.ingest.llm_queries import LLMQueryConfig, judge_scores, llm_queries
from embcore.ingest.logs import LogColumns, LogConfig, read_corpus, samples_from_log, suggest_log_columns
from embcore.ingest.mapping import FieldMapping
from embcore.ingest.pseudo_queries import PseudoQuery, ict_queries, title_queries
from embcore.ingest.quality import GateConfig, GateItem, run_gate
from embcore.ingest.read import RawTable
from embcore.ingest.samples import IngestResult, Sample, sample_key
from embcore.progress import ProgressFn, report
from embcore.store import Store
from embcore.text import match_key

log = logging.getLogger(__name__)

GROUP_COL = "doc_id"
"""Metadata column that keeps a document's chunks in one split."""
QUERY_META = ("doc_id", "title", "heading", "chunk", "chars", "query_source")


@dataclass
class DocsConfig:
    """How documents become queries.

    Attributes:
        chunk: chunking.
        queries: method -> share of eligible chunks (``ict``, ``title``, ``llm``).
        per_chunk: queries per chunk (ICT sentences and LLM queries; None: 1 for ICT, 3 for the LLM).
        seed: seed of every draw.
        gate: the quality gate.
        llm: LLM query settings (prompt, styles).
        max_title_positives: title queries for headings with at most this many chunks.
        ict_min_words: shortest sentence an ICT query may be.
    """

    chunk: ChunkSpec = field(default_factory=ChunkSpec)
    queries: dict[str, float] = field(default_factory=lambda: {"ict": 1.0, "title": 1.0})
    per_chunk: int | None = None
    seed: int = 42
    gate: GateConfig = field(default_factory=GateConfig)
    llm: LLMQueryConfig = field(default_factory=LLMQueryConfig)
    max_title_positives: int = 3
    ict_min_words: int = 5

    def to_dict(self) -> dict[str, Any]:
        return {
            "chunk": self.chunk.label(),
            "queries": dict(self.queries),
            "per_chunk": self.per_chunk,
            "seed": self.seed,
            "gate": self.gate.to_dict(),
            "llm": self.llm.to_dict() if "llm" in self.queries else None,
            "max_title_positives": self.max_title_positives,
            "ict_min_words": self.ict_min_words,
        }


@dataclass
class PreparedSource:
    """Samples from documents or a log, ready for ``create_project``, plus what to store afterwards.

    Attributes:
        raw: a table standing for the input (one row per generated sample) with a digest of the input
            and the settings (so a rebuild with other settings is another project state).
        mapping: the mapping the samples follow (query / positive / metadata columns of ``raw``).
        ingest: the samples and the report.
        kind: ``documents`` or ``search-log``.
        stats: what was read, chunked, generated (and, after :meth:`after_create`, gated).
    """

    raw: RawTable
    mapping: FieldMapping
    ingest: IngestResult
    kind: str
    stats: dict[str, Any] = field(default_factory=dict)
    _after: Callable[..., dict[str, Any]] | None = field(default=None, repr=False)

    def after_create(
        self,
        store: Store,
        pid: int,
        *,
        encoder: Any = None,
        model: str | None = None,
        progress: ProgressFn | None = None,
    ) -> dict[str, Any]:
        """Store provenance and run the quality gate for the new project ``pid``; returns the stats."""
        if self._after is not None:
            self.stats.update(self._after(store, pid, encoder=encoder, model=model, progress=progress))
        return self.stats


def _digest(*parts: Any) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(json.dumps(p, sort_keys=True, ensure_ascii=False, default=str).encode("utf-8"))
        h.update(b"\x00")
    return h.hexdigest()


# --------------------------------------------------------------------------- documents


def make_queries(
    chunks: ChunkResult,
    doc_texts: dict[str, str],
    cfg: DocsConfig,
    *,
    llm_client: Any = None,
    progress: ProgressFn | None = None,
) -> tuple[list[PseudoQuery], dict[str, Any]]:
    """Every query the chosen methods make (before the gate); duplicate texts keep the first one."""
    out: list[PseudoQuery] = []
    stats: dict[str, Any] = {}
    if "ict" in cfg.queries:
        qs, counts = ict_queries(
            chunks.chunks, doc_texts, seed=cfg.seed, share=cfg.queries["ict"], per_chunk=cfg.per_chunk or 1,
            min_words=cfg.ict_min_words,
        )  # fmt: skip
        out += qs
        stats["ict"] = counts
    if "title" in cfg.queries:
        qs, counts = title_queries(
            chunks.chunks,
            seed=cfg.seed,
            share=cfg.queries["title"],
            max_title_positives=cfg.max_title_positives,
        )
        out += qs
        stats["title"] = counts
    if "llm" in cfg.queries:
        if llm_client is None:
            from embcore.augment.llm import NO_ENDPOINT

            raise EmbcoreError(NO_ENDPOINT)
        from embcore.ingest.pseudo_queries import _chosen

        chosen = [c for c in chunks.chunks if _chosen(cfg.seed, "llm", c.key, cfg.queries["llm"])]
        llm_cfg = LLMQueryConfig(
            n=cfg.per_chunk or cfg.llm.n,
            styles=cfg.llm.styles,
            prompt=cfg.llm.prompt,
            max_chars=cfg.llm.max_chars,
        )
        qs, llm_stats = llm_queries(chosen, llm_client, llm_cfg, progress=progress)
        out += qs
        stats["llm"] = llm_stats
    seen: set[str] = set()
    unique = []
    dups = 0
    for q in out:
        k = match_key(q.text)
        if k in seen:
            dups += 1
            continue
        seen.add(k)
        unique.append(q)
    stats["duplicate_texts_dropped"] = dups
    stats["queries"] = len(unique)
    return unique, stats


def prepare_documents(
    docset: DocumentSet,
    cfg: DocsConfig | None = None,
    *,
    model: str | None = None,
    llm_client: Any = None,
    progress: ProgressFn | None = None,
) -> PreparedSource:
    """Chunk documents and make queries for them (nothing is stored yet).

    Args:
        docset: the documents (:func:`embcore.ingest.documents.read_document_input`).
        cfg: chunking, query methods, gate.
        model: the model whose tokenizer measures token windows (``tokens`` chunking; None = bundled).
        llm_client: a :class:`~embcore.augment.llm.ChatClient` (needed by the ``llm`` method).
        progress: progress callback.

    Raises:
        EmbcoreError: no readable document, no chunk, or no query could be made (saying why).
    """
    cfg = cfg or DocsConfig()
    cfg.gate.validate()
    docset.check_usable()
    t0 = time.perf_counter()
    offsets, max_tokens = None, None
    if cfg.chunk.mode == "tokens":
        from embcore.models.encoders import load_encoder

        offsets, max_tokens = model_tokenizer(load_encoder(model).model)
    chunks = chunk_documents(docset.documents, cfg.chunk, offsets=offsets, max_tokens=max_tokens)
    report(progress, "chunk", 1, 1)
    if not chunks.chunks:
        raise EmbcoreError(
            f"{docset.name}: no chunk of at least {cfg.chunk.min_chars} characters in {len(docset.documents)} documents"
        )
    doc_texts = {d.doc_id: d.text for d in docset.documents}
    queries, qstats = make_queries(chunks, doc_texts, cfg, llm_client=llm_client, progress=progress)
    if not queries:
        hint = (
            " (ICT needs chunks of two or more sentences: try --chunk paragraph or document)"
            if "ict" in cfg.queries
            else ""
        )
        raise EmbcoreError(
            f"{docset.name}: no query could be made from {len(chunks.chunks)} chunks with {', '.join(cfg.queries)}{hint}"
        )
    by_key = {c.key: c for c in chunks.chunks}
    samples: list[Sample] = []
    rows = []
    for q in queries:
        first = by_key[q.chunk_keys[0]]
        meta = {
            "doc_id": q.doc_id,
            "title": first.title,
            "heading": " > ".join(first.heading_path),
            "chunk": ",".join(str(by_key[k].ordinal) for k in q.chunk_keys),
            "chars": f"{first.start}-{by_key[q.chunk_keys[-1]].end}",
            "query_source": q.method,
        }
        meta = {k: v for k, v in meta.items() if v}
        key = sample_key(q.text, [q.method, *q.chunk_keys])
        samples.append(Sample(query=q.text, positives=list(dict.fromkeys(q.positives)), meta=meta, key=key))
        rows.append({"query": q.text, "positive": q.positives[0], **meta})
    mapping = FieldMapping(query_col="query", pos_cols=["positive"], meta_cols=list(QUERY_META))
    sha = _digest(docset.sha256, cfg.to_dict())
    raw = RawTable(
        pd.DataFrame(rows, columns=["query", "positive", *QUERY_META]), docset.name, sha, "documents"
    )
    stats = {
        "kind": "documents",
        "documents": docset.report(),
        "chunking": chunks.stats,
        "queries": qstats,
        "config": cfg.to_dict(),
        "prepare_s": round(time.perf_counter() - t0, 3),
    }
    ingest = IngestResult(
        samples,
        [],
        mapping,
        len(samples),
        {"samples": len(samples), "unique_passages": len({p for s in samples for p in s.positives})},
    )

    def after(
        store: Store, pid: int, *, encoder: Any, model: str | None, progress: ProgressFn | None
    ) -> dict[str, Any]:
        return _store_documents(
            store,
            pid,
            docset,
            chunks,
            queries,
            samples,
            cfg,
            encoder=encoder,
            model=model,
            llm_client=llm_client,
            progress=progress,
        )

    return PreparedSource(raw, mapping, ingest, "documents", stats, after)


def _store_documents(
    store: Store,
    pid: int,
    docset: DocumentSet,
    chunks: ChunkResult,
    queries: list[PseudoQuery],
    samples: list[Sample],
    cfg: DocsConfig,
    *,
    encoder: Any,
    model: str | None,
    llm_client: Any,
    progress: ProgressFn | None,
) -> dict[str, Any]:
    """Provenance + quality gate for a project just created from :func:`prepare_documents`."""
    t0 = time.perf_counter()
    cs = chunks.chunks
    # 1. every chunk is a corpus passage (also those without a query), with its provenance
    metas = [
        {
            "doc_id": c.doc_id,
            "title": c.title,
            "heading": " > ".join(c.heading_path),
            "chunk": str(c.ordinal),
            "chars": f"{c.start}-{c.end}",
        }
        for c in cs
    ]
    metas = [{k: v for k, v in m.items() if v} for m in metas]
    chunk_pids = store.add_corpus_passages(pid, [c.text for c in cs], metas)
    store.set_passage_meta(pid, chunk_pids, metas)
    chunk_id = {c.key: i for i, c in enumerate(cs)}
    links = [{"passage_id": p, "chunk_id": i, "role": "chunk"} for i, p in enumerate(chunk_pids)]
    # 2. ICT positives (the chunk without a sentence) point to their chunk too
    ict = [q for q in queries if q.method == "ict"]
    ict_ids: list[int] = []
    if ict:
        texts = [q.positives[0] for q in ict]
        ict_ids = ids = store.ensure_passages(pid, texts, kind="passage", origin="data")
        ict_meta = []
        for q in ict:
            c = cs[chunk_id[q.chunk_keys[0]]]
            assert q.removed is not None
            ict_meta.append(
                {
                    "doc_id": c.doc_id,
                    "title": c.title,
                    "heading": " > ".join(c.heading_path),
                    "chunk": str(c.ordinal),
                    "chars": f"{c.start}-{c.end}",
                    "ict_removed": f"{q.removed[0]}-{q.removed[1]}",
                }  # fmt: skip
            )
        store.set_passage_meta(pid, ids, [{k: v for k, v in m.items() if v} for m in ict_meta])
        links += [
            {"passage_id": p, "chunk_id": chunk_id[q.chunk_keys[0]], "role": "ict"}
            for p, q in zip(ids, ict, strict=True)
        ]
    store.save_documents(
        pid,
        pd.DataFrame(
            {
                "doc_id": [d.doc_id for d in docset.documents],
                "title": [d.title for d in docset.documents],
                "source": [d.source for d in docset.documents],
                "format": [d.format for d in docset.documents],
                "sha256": [d.sha256 for d in docset.documents],
                "text": [d.text for d in docset.documents],
                "meta": [d.meta or None for d in docset.documents],
            }
        ),
    )
    store.save_chunks(
        pid,
        pd.DataFrame(
            {
                "chunk_id": list(range(len(cs))),
                "doc_id": [c.doc_id for c in cs],
                "ordinal": [c.ordinal for c in cs],
                "heading_path": [list(c.heading_path) for c in cs],
                "char_start": [c.start for c in cs],
                "char_end": [c.end for c in cs],
                "passage_id": chunk_pids,
            }
        ),
        pd.DataFrame(links),
    )
    # 3. the quality gate (chunk embeddings go to the DuckDB cache: mining reuses them)
    unique_texts: list[str] = []
    text_index: dict[str, int] = {}
    for c in cs:
        if c.text not in text_index:
            text_index[c.text] = len(unique_texts)
            unique_texts.append(c.text)
    items = [
        GateItem(
            q.text,
            q.positives,
            sorted({text_index[cs[chunk_id[k]].text] for k in q.chunk_keys}),
            q.doc_id,
            q.method,
        )
        for q in queries
    ]
    needs_model = cfg.gate.enabled and cfg.gate.roundtrip in ("dense", "both", "either")
    if needs_model and encoder is None:
        from embcore.models.encoders import load_encoder

        encoder = load_encoder(model)
    judge = None
    if cfg.gate.judge_min is not None:
        if llm_client is None:
            raise EmbcoreError("the LLM judge needs an LLM endpoint (--llm-base-url or $OPENAI_BASE_URL)")
        judge = lambda pairs: judge_scores(pairs, llm_client, progress=progress)  # noqa: E731
    gate = run_gate(
        items, unique_texts, cfg.gate, encoder=encoder, cache=store, judge=judge, progress=progress
    )
    # 4. each query's method, source chunk, verdict and reason
    stored = store.queries(pid)
    ids = dict(zip(stored["sample_key"], stored["id"], strict=True))
    rows = []
    for q, s, st, rs, det in zip(queries, samples, gate.status, gate.reason, gate.details, strict=True):
        if s.key not in ids:
            continue
        rows.append(
            {
                "query_id": int(ids[s.key]),
                "chunk_id": chunk_id[q.chunk_keys[0]],
                "method": q.method,
                "status": st,
                "reason": rs,
                "scores": det,
            }
        )
    store.save_query_sources(
        pid,
        pd.DataFrame(rows, columns=["query_id", "chunk_id", "method", "status", "reason", "scores"]),
    )
    if ict:
        store.mark_ict_passages(pid, ict_ids, [r["query_id"] for r in rows if r["method"] == "ict"])
    kept = sum(1 for r in rows if r["status"] == "kept")
    if not kept:
        reasons = ", ".join(f"{k} {v}" for k, v in gate.stats["filters"].items() if v)
        raise EmbcoreError(
            f"the quality gate filtered all {len(rows)} queries ({reasons}); loosen it (--roundtrip-k, --roundtrip off) or use --no-gate"
        )
    return {"gate": gate.stats, "store_s": round(time.perf_counter() - t0, 3)}


# --------------------------------------------------------------------------- search logs


def prepare_log(
    log_source: Any,
    corpus_source: Any,
    *,
    cfg: LogConfig | None = None,
    columns: LogColumns | None = None,
    corpus_columns: Any = None,
    log_name: str | None = None,
    corpus_name: str | None = None,
) -> PreparedSource:
    """Read a search log and its corpus into samples (clicked = positives, skip-above = given negatives).

    Raises:
        EmbcoreError: unreadable files, missing columns, no query with a click on a known result.
    """
    from embcore.ingest.read import read_table

    t0 = time.perf_counter()
    corpus, titles, craw = read_corpus(corpus_source, corpus_columns, name=corpus_name)
    raw = read_table(log_source, name=log_name)
    cols = columns or suggest_log_columns(raw)
    cfg = cfg or LogConfig()
    result = samples_from_log(raw, corpus, cfg, cols)
    meta_cols = sorted({k for s in result.samples for k in s.meta})
    mapping = FieldMapping(
        query_col=cols.query, pos_cols=[cols.clicked], meta_cols=meta_cols, neg_col=cols.shown
    )
    sha = _digest(raw.sha256, craw.sha256, cfg.to_dict(), cols.to_dict())
    stand_in = RawTable(raw.df, raw.name, sha, "search-log", raw.encoding, raw.delimiter)
    ingest = IngestResult(result.samples, [], mapping, len(raw.df), {"samples": len(result.samples)})
    stats = {
        "kind": "search-log",
        "log": result.report,
        "corpus": {"name": craw.name, "passages": len(corpus)},
        "prepare_s": round(time.perf_counter() - t0, 3),
    }

    def after(store: Store, pid: int, **_: Any) -> dict[str, Any]:
        ids = list(corpus)
        metas = [{"doc_id": i, **({"title": titles[i]} if i in titles else {})} for i in ids]
        pids = store.add_corpus_passages(pid, [corpus[i] for i in ids], metas)
        store.set_passage_meta(pid, pids, metas)
        n = store.set_given_negative_origin(pid, result.negative_origin)
        return {"skip_above_stored": n}

    return PreparedSource(stand_in, mapping, ingest, "search-log", stats, after)
