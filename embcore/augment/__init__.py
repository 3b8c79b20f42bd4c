"""Data augmentation: rule-based (EDA) and LLM-based, both linked to their source samples.

CLI mapping (the lead wires these in ``embcore build``):

- ``--augment synonym,insert,swap,delete --augment-n N`` ->
  ``augment_samples(samples, parse_ops(spec), n=N, rate=..., seed=config.seed)``
- ``--llm paraphrase,query-gen,pos-gen,neg-gen,back-translate --llm-model M`` ->
  ``generate(samples, parse_tasks(spec), ChatClient(LLMConfig.from_env(model=M), cache=store_cache))``
  then ``merge_generated(samples, result.items)``.

Every augmented / generated sample carries ``parent`` (source sample id or index) and
``origin`` (``augment:synonym+swap``, ``llm:query-gen:<model>``) so a split keeps it with its
source.
"""

from __future__ import annotations

from embcore.augment.eda import (
    OPS,
    Augmented,
    EdaResult,
    Op,
    augment_samples,
    augment_text,
    augment_texts,
    eda,
    parse_ops,
    sample_parent,
)
from embcore.augment.lexicon import CilinLexicon, CompositeLexicon, Lexicon, WordNetLexicon, default_lexicon
from embcore.augment.llm import (
    TASKS,
    ChatClient,
    ChatRequest,
    Generated,
    LLMConfig,
    LLMResult,
    MemoryResponseCache,
    ResponseCache,
    Task,
    generate,
    merge_generated,
    parse_tasks,
)
from embcore.augment.parse import parse_items, parse_single

__all__ = [
    "OPS",
    "TASKS",
    "Augmented",
    "ChatClient",
    "ChatRequest",
    "CilinLexicon",
    "CompositeLexicon",
    "EdaResult",
    "Generated",
    "LLMConfig",
    "LLMResult",
    "Lexicon",
    "MemoryResponseCache",
    "Op",
    "ResponseCache",
    "Task",
    "WordNetLexicon",
    "augment_samples",
    "augment_text",
    "augment_texts",
    "default_lexicon",
    "eda",
    "generate",
    "merge_generated",
    "parse_items",
    "parse_ops",
    "parse_single",
    "parse_tasks",
    "sample_parent",
]
