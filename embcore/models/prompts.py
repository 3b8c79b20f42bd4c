"""Prompts / instructions and sample types.

A query instruction (e.g. BGE's "Represent this sentence for searching relevant passages: ")
is applied the same way everywhere: prepended to queries when mining, written to the
``prompt`` field of every exported sample, recorded in ``manifest.json`` (``prompts.query`` /
``prompts.passage``) and read back from there by evaluation and fine-tuning.

Named prompts (``retrieval.query``, ``retrieval.document``, ``classification``, ...) come
from the model's ``config_sentence_transformers.json`` when it declares them, else from
:data:`DEFAULT_PROMPTS`.
"""

from __future__ import annotations

import json
from pathlib import Path

from embcore.errors import EmbcoreError
from embcore.models.encoders import resolve_model

DEFAULT_PROMPTS: dict[str, str] = {
    "retrieval.query": "Represent this sentence for searching relevant passages: ",
    "retrieval.document": "",
    "classification": "Classify the following text: ",
    "clustering": "Identify the topic or theme of the following text: ",
    "sts": "Retrieve semantically similar text: ",
}
"""Fallback named prompts (the query one is BGE's retrieval instruction)."""

DEFAULT_PROMPT_NAME = "retrieval.query"

SAMPLE_TYPES: tuple[str, ...] = (
    "normal",
    "symmetric",
    "symmetric_sts",
    "symmetric_class",
    "symmetric_clustering",
    "only_1neg",
)
"""``type`` values FlagEmbedding-style trainers understand (free text is allowed too)."""


def model_prompts(model: str | None) -> tuple[dict[str, str], str | None]:
    """Named prompts and the default prompt name declared by a local sentence-transformers model.

    Returns:
        (prompts, default_prompt_name); empty when the model declares none or is not local.
    """
    path = Path(resolve_model(model))
    cfg = path / "config_sentence_transformers.json"
    if not cfg.is_file():
        return {}, None
    try:
        data = json.loads(cfg.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return {}, None
    prompts = {str(k): str(v) for k, v in (data.get("prompts") or {}).items()}
    return prompts, data.get("default_prompt_name")


def available_prompts(model: str | None = None) -> dict[str, str]:
    """Named prompts for ``model``: the model's own, completed by :data:`DEFAULT_PROMPTS`."""
    own, _ = model_prompts(model) if model is not None else ({}, None)
    return {**DEFAULT_PROMPTS, **own}


def resolve_prompt(spec: str | None, model: str | None = None) -> str:
    """Turn a prompt option into text.

    ``None``/"" -> "" ; ``"name:retrieval.query"`` or a bare known name -> that named prompt
    (model first, then defaults); anything else is the literal instruction text.

    Raises:
        EmbcoreError: ``name:X`` where X is not a known prompt name (the message lists them).
    """
    if not spec:
        return ""
    prompts = available_prompts(model)
    if spec.startswith("name:"):
        name = spec[5:]
        if name not in prompts:
            raise EmbcoreError(f"unknown prompt name {name!r}; known: {', '.join(sorted(prompts))}")
        return prompts[name]
    if spec in prompts and " " not in spec:
        return prompts[spec]
    return spec


def default_query_prompt(model: str | None) -> str:
    """The model's default prompt (``default_prompt_name``) or its ``query`` prompt, else ""."""
    own, default_name = model_prompts(model)
    if default_name and default_name in own:
        return own[default_name]
    for key in ("query", "retrieval.query", "retrieval"):
        if key in own:
            return own[key]
    return ""
