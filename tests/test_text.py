"""embcore.text: cleaning, match keys, hashes, CJK ratio."""

from __future__ import annotations

import math

import pytest

from embcore.text import cjk_ratio, clean_text, match_key, text_hash


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, ""),
        (float("nan"), ""),
        (math.nan, ""),
        ("", ""),
        ("   ", ""),
        (42, "42"),
        (3.5, "3.5"),
        ("plain text", "plain text"),
        # NFKC: full-width ASCII, ideographic space, ligatures, circled digits
        ("Ｈｅｌｌｏ\u3000Ｗｏｒｌｄ１２３", "Hello World123"),
        ("\ufb01rmware", "firmware"),
        ("\u2460 item", "1 item"),
        # zero-width, BOM, soft hyphen, bidi marks are removed without leaving a space
        ("zero\u200bwidth\u200c\u200djoin\u2060er", "zerowidthjoiner"),
        ("\ufeffbom at start", "bom at start"),
        ("war\u00adranty", "warranty"),
        ("\u202aembedded\u202c \u200eLTR\u200f", "embedded LTR"),
        # control characters are removed; whitespace controls become one space
        ("bell\x07 escape\x1b nul\x00 del\x7f", "bell escape nul del"),
        ("tab\there", "tab here"),
        ("line\nbreak\r\nwindows", "line break windows"),
        ("  many   spaces \t\n here  ", "many spaces here"),
        ("non\u00a0breaking\u2009thin", "non breaking thin"),
        # CJK text is kept (full-width punctuation folds to ASCII under NFKC)
        ("电池  续航\u3000多少？", "电池 续航 多少?"),
    ],
)
def test_clean_text(value: object, expected: str) -> None:
    assert clean_text(value) == expected


def test_clean_text_is_idempotent() -> None:
    samples = [
        "Ｈｅｌｌｏ\u200b  ｗｏｒｌｄ",
        "a\x07b\tc",
        "电池\u3000续航",
        "<script>alert(1)</script>",
        "**bold** _it_",
    ]
    for s in samples:
        once = clean_text(s)
        assert clean_text(once) == once


def test_clean_text_keeps_markup_literally() -> None:
    # cleaning is about Unicode, not HTML: markup is data and must survive unchanged
    s = "<script>alert('x')</script> **bold** [link](https://example.com) & more"
    assert clean_text(s) == s


def test_match_key_ignores_case_width_invisibles_and_spacing() -> None:
    a = "The frame has a five-year warranty."
    variants = [
        "the FRAME has a five-year warranty.",
        "The  frame has a ｆｉｖｅ-year warranty.",
        "The\u200b frame has a five-year\u00a0warranty.",
        "  The frame\nhas a five-year warranty.  ",
    ]
    for v in variants:
        assert match_key(v) == match_key(a), v
    assert match_key("The frame has a four-year warranty.") != match_key(a)


def test_match_key_casefolds_beyond_lower() -> None:
    assert match_key("STRASSE") == match_key("straße")


def test_text_hash_is_stable_sha1_of_exact_text() -> None:
    h = text_hash("hello")
    assert h == "aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d"  # sha1("hello")
    assert len(h) == 40
    assert text_hash("hello") == h
    # exact text: no normalisation inside the hash
    assert text_hash("Hello") != h
    assert text_hash("电池") == text_hash("电池")


def test_cjk_ratio() -> None:
    assert cjk_ratio("") == 0.0
    assert cjk_ratio("   ") == 0.0
    assert cjk_ratio("hello") == 0.0
    assert cjk_ratio("电池续航") == 1.0
    assert cjk_ratio("电池 ab") == pytest.approx(0.5)  # spaces do not count
    assert 0.0 < cjk_ratio("青禾 e-bike 电池") < 1.0
