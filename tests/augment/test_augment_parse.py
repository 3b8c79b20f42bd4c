"""Parsing of realistic and malformed LLM answers (embcore.augment.parse)."""

from __future__ import annotations

import pytest

from embcore.augment.parse import clean_item, extract_json, parse_items, parse_single

Q3 = ["What did NVIDIA invent in 1999?", "When was the GPU invented?", "Who invented the GPU?"]

ITEM_CASES: list[tuple[str, str, list[str]]] = [
    (
        "preamble + numbered + trailing commentary",
        "Here are three questions:\n\n1. What did NVIDIA invent in 1999?\n2. When was the GPU invented?\n"
        "3. Who invented the GPU?\n\nI hope these help! Let me know if you need more.",
        Q3,
    ),
    (
        "Sure! + bullets",
        "Sure! Here you go:\n- What did NVIDIA invent in 1999?\n* When was the GPU invented?\n• Who invented the GPU?",
        Q3,
    ),
    (
        "numbered with ) and (n)",
        "1) What did NVIDIA invent in 1999?\n(2) When was the GPU invented?\n3] Who invented the GPU?",
        Q3,
    ),
    ("plain lines", "What did NVIDIA invent in 1999?\nWhen was the GPU invented?\nWho invented the GPU?", Q3),
    (
        "json object",
        '{"items": ["What did NVIDIA invent in 1999?", "When was the GPU invented?", "Who invented the GPU?"]}',
        Q3,
    ),
    (
        "json under another key, objects",
        '{"questions": [{"question": "What did NVIDIA invent in 1999?"}, {"question": "When was the GPU invented?"},'
        ' {"question": "Who invented the GPU?"}]}',
        Q3,
    ),
    (
        "bare json array",
        '["What did NVIDIA invent in 1999?", "When was the GPU invented?", "Who invented the GPU?"]',
        Q3,
    ),
    (
        "json in a fence after a sentence, note after",
        'Sure, here is the JSON:\n```json\n{\n  "items": [\n    "What did NVIDIA invent in 1999?",\n'
        '    "When was the GPU invented?",\n    "Who invented the GPU?"\n  ]\n}\n```\nNote: they vary in form.',
        Q3,
    ),
    (
        "inline json inside chatter",
        'Of course. {"items": ["What did NVIDIA invent in 1999?", "When was the GPU invented?", '
        '"Who invented the GPU?"]} Hope this helps.',
        Q3,
    ),
    (
        "json with numbered keys",
        '{"1": "What did NVIDIA invent in 1999?", "2": "When was the GPU invented?", "3": "Who invented the GPU?"}',
        Q3,
    ),
    (
        "bold labels and quotes",
        '**Questions:**\n\n**Question 1:** "What did NVIDIA invent in 1999?"\n**Question 2:** “When was the GPU invented?”\n'
        "**Question 3:** 'Who invented the GPU?'",
        Q3,
    ),
    (
        "Q1: labels",
        "Q1: What did NVIDIA invent in 1999?\nQ2: When was the GPU invented?\nQ3: Who invented the GPU?",
        Q3,
    ),
    (
        "think block first",
        "<think>\nThe user wants 3 questions.\n1. I should be brief.\n</think>\n1. What did NVIDIA invent in 1999?\n"
        "2. When was the GPU invented?\n3. Who invented the GPU?",
        Q3,
    ),
    (
        "duplicates and case variants removed",
        "1. What did NVIDIA invent in 1999?\n2. what did nvidia invent in 1999?\n3. When was the GPU invented?\n"
        "4. Who invented the GPU?\n5. Who  invented the GPU?",
        Q3,
    ),
    (
        "empty and symbol-only items dropped",
        "1. What did NVIDIA invent in 1999?\n2.\n3. ...\n4. When was the GPU invented?\n5. ---\n6. Who invented the GPU?",
        Q3,
    ),
    (
        "lead-in line ending with a colon, no list markers",
        "Paraphrased queries:\nWhat did NVIDIA invent in 1999?\nWhen was the GPU invented?\nWho invented the GPU?\n\n"
        "Note: all keep the meaning.",
        Q3,
    ),
    (
        "markdown heading preamble",
        "### Questions\n1. What did NVIDIA invent in 1999?\n2. When was the GPU invented?\n3. Who invented the GPU?",
        Q3,
    ),
    (
        "chinese numbered list with 、",
        "以下是三个问题：\n1、英伟达在1999年发明了什么？\n2、GPU是谁发明的？\n3、GPU是哪一年发明的？",
        ["英伟达在1999年发明了什么?", "GPU是谁发明的?", "GPU是哪一年发明的?"],
    ),
]


@pytest.mark.parametrize(("name", "answer", "expected"), ITEM_CASES, ids=[c[0] for c in ITEM_CASES])
def test_parse_items_realistic_answers(name: str, answer: str, expected: list[str]) -> None:
    assert parse_items(answer) == expected


def test_preamble_never_becomes_data() -> None:
    answers = [
        "Here are three questions:\n1. A?\n2. B?\n3. C?",
        "Sure! Here are 3 questions about the passage.\n\n- A?\n- B?\n- C?",
        "Certainly!\n\nA?\nB?\nC?",
        "Below are the paraphrases:\nA?\nB?\nC?",
        "I have generated three questions based on the passage:\n1. A?\n2. B?\n3. C?",
    ]
    for ans in answers:
        items = parse_items(ans)
        assert items == ["A?", "B?", "C?"], ans


def test_multiline_list_items_and_paragraphs() -> None:
    ans = "1. A passage that\n   wraps onto another line.\n2. Second passage.\n\nNote: these are fictional."
    assert parse_items(ans) == ["A passage that wraps onto another line.", "Second passage."]
    paras = "Revenue grew 10% in 2023.\nIt was driven by data center.\n\nIn this fiscal year, revenue fell.\n\nThese passages differ."
    assert parse_items(paras) == [
        "Revenue grew 10% in 2023. It was driven by data center.",
        "In this fiscal year, revenue fell.",
    ]


def test_max_items_and_exclude() -> None:
    ans = "1. What did NVIDIA invent in 1999?\n2. When was the GPU invented?\n3. Who invented the GPU?"
    assert parse_items(ans, max_items=2) == Q3[:2]
    assert parse_items(ans, exclude=["what did nvidia invent in 1999?"]) == Q3[1:]


@pytest.mark.parametrize(
    "answer", ["", "   \n ", None, "```\n```", "Sure!", "Here are three questions:", '{"items": []}']
)
def test_nothing_usable_gives_empty_list(answer: str | None) -> None:
    assert parse_items(answer) == []


def test_broken_json_falls_back_to_lines() -> None:
    ans = (
        '{"items": ["What did NVIDIA invent in 1999?", "When was the GPU invented?",\n"Who invented the GPU?"'
    )
    # not valid JSON (truncated): the lines still give the questions, without JSON punctuation
    items = parse_items(ans)
    assert "When was the GPU invented?" in items
    assert all(not it.startswith(("{", '"')) for it in items)


SINGLE_CASES: list[tuple[str, str]] = [
    ('{"text": "Was hat NVIDIA 1999 erfunden?"}', "Was hat NVIDIA 1999 erfunden?"),
    ('```json\n{"translation": "Was hat NVIDIA 1999 erfunden?"}\n```', "Was hat NVIDIA 1999 erfunden?"),
    (
        "Here is the translation:\n\nWas hat NVIDIA 1999 erfunden?\n\nNote: I kept the name NVIDIA.",
        "Was hat NVIDIA 1999 erfunden?",
    ),
    ('Translation: "Was hat NVIDIA 1999 erfunden?"', "Was hat NVIDIA 1999 erfunden?"),
    ("Sure! Was hat NVIDIA 1999 erfunden?", "Was hat NVIDIA 1999 erfunden?"),
    (
        "```\nWas hat NVIDIA 1999 erfunden?\n```\nThis translation keeps the year.",
        "Was hat NVIDIA 1999 erfunden?",
    ),
    ("<think>translate it</think>Was hat NVIDIA 1999 erfunden?", "Was hat NVIDIA 1999 erfunden?"),
    (
        "NVIDIA hat 1999 die GPU erfunden.\nSie definierte die Computergrafik.",
        "NVIDIA hat 1999 die GPU erfunden. Sie definierte die Computergrafik.",
    ),
    ("", ""),
    ("Sure.", ""),
]


@pytest.mark.parametrize(("answer", "expected"), SINGLE_CASES)
def test_parse_single(answer: str, expected: str) -> None:
    assert parse_single(answer) == expected


def test_extract_json_and_clean_item() -> None:
    assert extract_json('noise {"a": 1} more') == {"a": 1}
    assert extract_json("no json here [citation needed]") is None
    assert extract_json("42") is None
    assert clean_item('  3. **Query:** "How did revenue change?",') == "How did revenue change?"
    assert clean_item("- Paraphrase 2: Revenue change in 2023") == "Revenue change in 2023"
    # a number that is part of the text is not a list marker
    assert clean_item("2023 revenue of NVIDIA") == "2023 revenue of NVIDIA"
    assert clean_item("10-K filing risks") == "10-K filing risks"
