"""Documents, knowledge bases and search logs as inputs (issue 13).

- :mod:`~embcore.sources.documents`: read a folder / zip of .txt .md .html .pdf .docx, or a table of documents;
- :mod:`~embcore.sources.chunking`: sentence / paragraph / document / token-window chunks with provenance;
- :mod:`~embcore.sources.pseudo_queries`: offline queries (Inverse Cloze Task, title / heading -> chunk);
- :mod:`~embcore.sources.llm_queries`: LLM queries in several styles through the OpenAI-compatible client;
- :mod:`~embcore.sources.quality`: the quality gate (length, language, copy, near-duplicates, round trip, LLM judge);
- :mod:`~embcore.sources.logs`: search logs (clicks -> positives, skip-above -> candidate negatives);
- :mod:`~embcore.sources.prepare`: all of it as samples for the ordinary pipeline, and the provenance to store;
- :mod:`~embcore.sources.guard`: mining never proposes a passage cut from the query's own chunk.
"""

from __future__ import annotations

from embcore.sources.chunking import ChunkSpec
from embcore.sources.documents import DocumentSet, TableColumns, read_document_input
from embcore.sources.llm_queries import DEFAULT_PROMPT, LLMQueryConfig
from embcore.sources.logs import LogConfig
from embcore.sources.prepare import GROUP_COL, DocsConfig, PreparedSource, prepare_documents, prepare_log
from embcore.sources.quality import GateConfig

__all__ = [
    "DEFAULT_PROMPT",
    "GROUP_COL",
    "ChunkSpec",
    "DocsConfig",
    "DocumentSet",
    "GateConfig",
    "LLMQueryConfig",
    "LogConfig",
    "PreparedSource",
    "TableColumns",
    "prepare_documents",
    "prepare_log",
    "read_document_input",
]
