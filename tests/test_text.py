"""embcore.text: cleaning, match keys, hashes, CJK ratio."""

from __future__ import annotations

import math

import pytest

from embcore.text import cjk_ratio, clean_text, equivalence_key, match_key, text_hash


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


# --------------------------------------------------------------------------- equivalence_key (issue 16)

ISSUE_16_PAIRS = [
    ("ITEM 6. [RESERVED]", "Item 6—Reserved"),
    ("Chevron’s", "Chevron's"),
    ("ITEM 8: FINANCIAL STATEMENTS AND SUPPLEMENTARY DATA", "Item 8. Financial Statements and Supplementary Data"),
    ("Imported crude oil accounted for about 60 percent of Chevron’s U.S. refinery inputs.",
     "Imported crude oil accounted for about 60 percent of Chevron's U.S. refinery inputs."),
    ("“Income Taxes (Topic 740)”", '"Income Taxes – Topic 740"'),
    # Chinese: full-width / half-width letters, digits and punctuation, spacing
    ("营业收入（２０２３年）为１２３亿元。", "营业收入(2023年)为123亿元."),
    ("公司于２０２３年发布了ＡＩ产品，市场反应良好！", "公司于 2023 年发布了 AI 产品,市场反应良好!"),
    ("「重要提示」本公司董事会保证", "『重要提示』 本公司董事会保证"),
    ("ｶﾀｶﾅ", "カタカナ"),
]  # fmt: skip


@pytest.mark.parametrize(("a", "b"), ISSUE_16_PAIRS)
def test_equivalence_key_joins_the_issue_pairs(a: str, b: str) -> None:
    assert equivalence_key(a) == equivalence_key(b)


def test_equivalence_key_is_looser_than_match_key_but_keeps_words_and_numbers() -> None:
    a, b = ISSUE_16_PAIRS[0]
    assert match_key(a) != match_key(b)  # what the old split used: the twins straddled splits
    assert equivalence_key("Item 6 reserved") != equivalence_key("Item 7 reserved")
    assert equivalence_key("revenue grew 5%") != equivalence_key("revenue grew 6%")
    assert equivalence_key("营业收入为123亿元") != equivalence_key("营业收入为124亿元")
    assert equivalence_key("...") == match_key("...")  # punctuation only: falls back, never empty
    for v in ("The frame.", "the  ｆｒａｍｅ\u200b", "THE FRAME!"):
        assert equivalence_key(v) == equivalence_key("The frame"), v


def test_clean_text_fast_path_keeps_results() -> None:
    # the printable fast path and str.split collapsing must give what the regex version gave
    import re
    import unicodedata

    ws = re.compile(r"\s+")

    def reference(text: str) -> str:
        text = unicodedata.normalize("NFKC", text)
        text = "".join(c for c in text if c not in "\u200b\u200c\u200d\u2060\ufeff\u00ad\u180e")
        text = "".join(
            c for c in text
            if not ((unicodedata.category(c) == "Cc" and c not in "\t\n\r\x0b\x0c") or unicodedata.category(c) == "Cf")
        )  # fmt: skip
        return ws.sub(" ", text).strip()

    for s in (
        "a\x1cb\u200bc\u2028d\x00e\tf  ",
        " plain text ",
        "ｆｕｌｌ\u00a0width",
        "x\u3000y\u2003z",
        "中文\n文本",
    ):
        assert clean_text(s) == reference(s), repr(s)
    assert cjk_ratio("中文 ab") == 0.5 and cjk_ratio("abc") == 0.0 and cjk_ratio("  ") == 0.0
