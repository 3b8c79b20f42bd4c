"""embcore.ingest: reading every format / encoding / delimiter, cleaning, mapping, grouping, errors."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pandas as pd
import pytest

import embcore
from embcore.errors import EmbcoreError
from embcore.ingest.mapping import (
    MAX_AUTO_META,
    FieldMapping,
    parse_null_values,
    suggest_mapping,
    validate_mapping,
)
from embcore.ingest.read import RawTable, decode_bytes, read_table, sniff_delimiter
from embcore.ingest.samples import build_samples, ingest
from embcore.store import Store
from embcore.text import clean_text, match_key
from embcore.workflow import create_project

FIX = Path(__file__).resolve().parents[1] / "fixtures"
SAMPLE = Path(embcore.__file__).resolve().parent / "data" / "sample_qa.csv"
SAMPLE_COLUMNS = ["question", "answer", "context", "ticker", "filing"]


def _bytes_table(data: bytes, name: str, **kw: object) -> RawTable:
    return read_table(io.BytesIO(data), name=name, **kw)


# --------------------------------------------------------------------------- formats


@pytest.mark.parametrize(
    ("fixture", "fmt", "encoding", "delimiter", "columns", "n_rows"),
    [
        ("sample", "csv", "utf-8", ",", SAMPLE_COLUMNS, 100),
        ("utf8_bom.csv", "csv", "utf-8-sig", ",", ["query", "positive", "category"], 6),
        ("utf16.tsv", "tsv", "utf-16", "\t", ["question", "answer", "context"], 6),
        ("semicolon.csv", "csv", "utf-8", ";", ["question", "answer", "context"], 6),
        ("zh_gbk.csv", "csv", "gb18030", ",", ["问题", "答案", "文档", "类别"], 16),
        ("records.json", "json", "utf-8", None, ["question", "answer", "context", "product"], 6),
        ("wrapped.json", "json", "utf-8", None, ["question", "answer", "context", "product"], 6),
        ("flag.jsonl", "jsonl", "utf-8", None, ["query", "pos", "neg"], 4),
        ("table.parquet", "parquet", None, None, ["anchor", "positive", "category"], 5),
        ("sts_pairs.csv", "csv", "utf-8", ",", ["sentence1", "sentence2", "score"], 24),
    ],
)
def test_read_table_detects_format_encoding_delimiter(
    fixture: str, fmt: str, encoding: str | None, delimiter: str | None, columns: list[str], n_rows: int
) -> None:
    path = SAMPLE if fixture == "sample" else FIX / fixture
    raw = read_table(path)
    assert raw.format == fmt
    assert raw.encoding == encoding
    assert raw.delimiter == delimiter
    assert raw.columns == columns
    assert len(raw.df) == n_rows
    assert len(raw.sha256) == 64
    assert raw.sha256 == __import__("hashlib").sha256(path.read_bytes()).hexdigest()


def test_bom_is_not_part_of_the_first_column_name() -> None:
    raw = read_table(FIX / "utf8_bom.csv")
    assert raw.columns[0] == "query"
    assert not any("\ufeff" in c for c in raw.columns)


def test_gbk_chinese_text_is_decoded_correctly() -> None:
    raw = read_table(FIX / "zh_gbk.csv")
    expected = (FIX / "zh_gbk.csv").read_bytes().decode("gbk")
    assert raw.df.iloc[0]["问题"] == "青禾电动车的电池可以续航多少公里？"
    for q in raw.df["问题"]:
        assert q in expected
    assert "\ufffd" not in "".join(raw.df["文档"])


def test_semicolon_file_keeps_commas_inside_cells() -> None:
    raw = read_table(FIX / "semicolon.csv")
    assert raw.df.shape == (6, 3)
    # cells holding the delimiter itself (quoted) and commas must come back whole
    assert raw.df.iloc[0]["context"] == (
        "The aluminium frame carries a five-year warranty; tyres and brake pads are wear parts and are not covered."
    )
    assert raw.df.iloc[1]["context"] == (
        "Motor assistance stops at 25 km/h, the legal limit for pedal-assisted bicycles in most markets."
    )


def test_utf16_tsv_non_ascii_round_trip() -> None:
    raw = read_table(FIX / "utf16.tsv")
    assert "crêpes, müesli and açaí" in raw.df.iloc[5]["context"]


@pytest.mark.parametrize("enc", ["utf-16-le", "utf-16-be"])
def test_utf16_without_bom_is_detected(enc: str) -> None:
    # Excel and some exporters write UTF-16 without a byte-order mark; ASCII content is then
    # every other byte NUL, which is valid UTF-8 but clearly not meant as UTF-8.
    text = "question\tcontext\nWhat is A?\tA is the first letter.\nWhat is B?\tB comes after A.\n"
    raw = _bytes_table(text.encode(enc), "nobom.tsv")
    assert raw.encoding == enc
    assert raw.columns == ["question", "context"]
    assert raw.df.iloc[1]["context"] == "B comes after A."


def test_pipe_delimiter_is_sniffed() -> None:
    text = "question|context\nWhat is A?|A is the first letter, followed by B.\nWhat is B?|B comes after A.\n"
    raw = _bytes_table(text.encode(), "pipes.csv")
    assert raw.delimiter == "|"
    assert raw.df.iloc[0]["context"] == "A is the first letter, followed by B."


def test_sniff_delimiter_values() -> None:
    assert sniff_delimiter("a,b,c\n1,2,3\n") == ","
    assert sniff_delimiter("a;b;c\n1;2;3\n") == ";"
    assert sniff_delimiter("a\tb\tc\n1\t2\t3\n") == "\t"
    assert sniff_delimiter("single\nvalue\n") == ","


def test_forced_encoding_and_format() -> None:
    raw = read_table(FIX / "zh_gbk.csv", encoding="gbk")
    assert raw.encoding == "gbk"
    assert raw.columns[0] == "问题"
    raw = read_table(FIX / "utf16.tsv", fmt="tsv")
    assert raw.format == "tsv"
    with pytest.raises(EmbcoreError, match="unknown format 'xml'.*csv, tsv, json, jsonl, parquet"):
        read_table(SAMPLE, fmt="xml")
    with pytest.raises(EmbcoreError, match="cannot decode as ascii"):
        read_table(FIX / "zh_gbk.csv", encoding="ascii")


def test_json_column_oriented_and_single_record() -> None:
    cols = {"question": ["a?", "b?"], "context": ["A.", "B."]}
    raw = _bytes_table(json.dumps(cols).encode(), "cols.json")
    assert raw.columns == ["question", "context"]
    assert len(raw.df) == 2


def test_content_sniffing_without_extension() -> None:
    assert _bytes_table(b'[{"q": "a?", "c": "A."}]', "upload").format == "json"
    assert _bytes_table(b'{"q": "a?", "c": "A."}\n{"q": "b?", "c": "B."}\n', "upload").format == "jsonl"
    assert _bytes_table((FIX / "table.parquet").read_bytes(), "upload").format == "parquet"
    assert _bytes_table(b"q,c\na?,A.\n", "upload").format == "csv"


class _Uploaded:
    """Shaped like Streamlit's UploadedFile: .name and .getvalue()."""

    def __init__(self, path: Path) -> None:
        self.name = path.name
        self._data = path.read_bytes()

    def getvalue(self) -> bytes:
        return self._data


def test_uploaded_file_object_reads_like_a_path() -> None:
    for name in ("zh_gbk.csv", "utf16.tsv", "table.parquet", "flag.jsonl"):
        a = read_table(FIX / name)
        b = read_table(_Uploaded(FIX / name))
        assert b.name == name
        assert (a.format, a.encoding, a.delimiter, a.sha256) == (b.format, b.encoding, b.delimiter, b.sha256)
        assert a.df.astype(str).equals(b.df.astype(str))


# --------------------------------------------------------------------------- cleaning


def test_cleaning_nfkc_invisible_control_whitespace() -> None:
    raw = read_table(FIX / "dirty_text.csv")
    res = build_samples(raw, FieldMapping("question", ["context"]))
    by_query = {s.query: s for s in res.samples}
    assert set(by_query) == {
        "What is the warranty?",
        "What is the top speed?",
        "How long does charging take?",
        "Where can I book a repair?",
    }
    assert by_query["What is the top speed?"].positives == [
        "Assistance stops at 25 km/h; the firmware enforces it."
    ]
    assert by_query["How long does charging take?"].positives == ["A full charge takes about five hours."]
    assert by_query["Where can I book a repair?"].positives == ["Repairs are booked in the mobile app."]
    for s in res.samples:
        for t in [s.query, *s.positives]:
            assert t == clean_text(t)
            assert not any(
                c in t for c in "\u200b\u200c\u200d\u2060\ufeff\u00ad\x00\x07\x1b\u202a\u202c\u200e\u200f\t\n"
            )
            assert "  " not in t and t == t.strip()


def test_cleaning_reports_invisible_only_query_and_normalised_duplicate() -> None:
    raw = read_table(FIX / "dirty_text.csv")
    res = build_samples(raw, FieldMapping("question", ["context"]))
    dropped = {d.row: d for d in res.dropped}
    assert set(dropped) == {4, 6}
    assert dropped[4].code == "empty_query"
    assert dropped[4].column == "question"
    assert "empty" in dropped[4].reason
    # row 6 equals row 1 once cleaned (spacing, full-width letters): a duplicate of row 1
    assert dropped[6].code == "duplicate"
    assert "row 1" in dropped[6].reason
    assert res.n_rows == 6


def test_markup_is_kept_as_literal_text() -> None:
    raw = read_table(FIX / "markup.csv")
    res = build_samples(raw, suggest_mapping(raw))
    queries = [s.query for s in res.samples]
    assert "<script>alert('x')</script> What is the return policy?" in queries
    passages = [p for s in res.samples for p in s.positives]
    assert "Returns are accepted within 30 days. <img src=x onerror=alert(1)>" in passages
    assert any("`billing.md`" in p and "| table |" in p for p in passages)


# --------------------------------------------------------------------------- dropped rows


def test_sample_dropped_rows_have_row_numbers_and_reasons() -> None:
    raw = read_table(SAMPLE)
    res = build_samples(raw, FieldMapping("question", ["context"], ["ticker", "filing"]))
    df = pd.read_csv(SAMPLE)
    nan_q = [i + 1 for i in df.index[df["question"].isna()]]
    nan_c = [i + 1 for i in df.index[df["context"].isna()]]
    dup = [i + 1 for i in df.index[df.duplicated()]]
    assert len(nan_q) == 2 and len(nan_c) == 1 and len(dup) == 1
    got = {d.row: d for d in res.dropped}
    assert sorted(got) == sorted(nan_q + nan_c + dup)
    for r in nan_q:
        assert got[r].code == "missing_query" and got[r].column == "question"
        assert "missing query" in got[r].reason
    for r in nan_c:
        assert got[r].code == "missing_positive" and got[r].column == "context"
    for r in dup:
        assert got[r].code == "duplicate"
        first = int(df.index[(df == df.iloc[r - 1]).all(axis=1)][0]) + 1
        assert f"row {first}" in got[r].reason
    rep = res.report()
    assert rep["rows_read"] == 100
    assert rep["rows_dropped"] == 4
    assert rep["dropped_by_reason"] == {"missing_query": 2, "missing_positive": 1, "duplicate": 1}
    assert [d["row"] for d in rep["dropped"]] == sorted(got)
    json.dumps(rep)  # JSON-able


def test_row_missing_query_and_positive_reports_both() -> None:
    raw = _bytes_table(b"question,context\n,\nok?,fine.\n", "both.csv")
    res = build_samples(raw, FieldMapping("question", ["context"]))
    [d] = res.dropped
    assert d.row == 1
    assert d.code == "missing_query+missing_positive"
    assert res.report()["dropped_by_reason"] == {"missing_query": 1, "missing_positive": 1}


def test_every_row_accounted_for() -> None:
    raw = read_table(SAMPLE)
    res = build_samples(raw, FieldMapping("question", ["context"]))
    used = {r for s in res.samples for r in s.source_rows}
    dropped = {d.row for d in res.dropped}
    assert used.isdisjoint(dropped)
    assert used | dropped == set(range(1, res.n_rows + 1))


# --------------------------------------------------------------------------- grouping / dedup


def test_rows_sharing_a_query_become_one_sample_with_several_positives() -> None:
    text = (
        "question,context,ticker\n"
        "What drove revenue growth?,Automation volumes grew.,ACME\n"
        "What is the dividend?,A quarterly dividend of $0.47.,ACME\n"
        "what drove revenue   growth?,Price increases added 2%.,ACME\n"
        "What drove revenue growth?,Automation volumes grew.,ACME\n"
        "What drove revenue growth?,New customers in Asia.,ACME\n"
    )
    res = build_samples(
        _bytes_table(text.encode(), "g.csv"), FieldMapping("question", ["context"], ["ticker"])
    )
    assert len(res.samples) == 2
    s = next(s for s in res.samples if match_key(s.query) == match_key("What drove revenue growth?"))
    assert s.query == "What drove revenue growth?"  # first spelling wins
    assert s.positives == ["Automation volumes grew.", "Price increases added 2%.", "New customers in Asia."]
    assert s.source_rows == [1, 3, 5]
    assert s.meta == {"ticker": "ACME"}
    assert [(d.row, d.code) for d in res.dropped] == [(4, "duplicate")]
    assert res.stats["queries_with_several_positives"] == 1


def test_shared_passage_is_counted_and_stored_once() -> None:
    raw = read_table(SAMPLE)
    res = build_samples(raw, FieldMapping("question", ["context"], ["ticker", "filing"]))
    df = pd.read_csv(SAMPLE).dropna(subset=["question", "context"]).drop_duplicates()
    assert res.stats["samples"] == len(df) == 96
    assert res.stats["unique_passages"] == df["context"].nunique()
    shared = df["context"].value_counts()
    assert (shared >= 2).sum() >= 3  # the sample has contexts serving several questions
    with Store() as store:
        pid = store.create_project("sample", res.samples)
        passages = store.passages(pid)
        assert len(passages) == df["context"].nunique()
        assert passages["text_hash"].is_unique
        pos = store.positives(pid)
        assert len(pos) == 96
        # a shared context is one passage id, positive of several queries
        counts = pos.groupby("passage_id")["query_id"].nunique()
        assert (counts >= 2).sum() == (shared >= 2).sum()


def test_multi_column_positives() -> None:
    raw = read_table(SAMPLE)
    res = build_samples(raw, FieldMapping("question", ["context", "answer"]))
    df = pd.read_csv(SAMPLE)
    row = df.iloc[0]
    s = next(s for s in res.samples if s.query == row["question"])
    assert s.positives == [row["context"], row["answer"]]
    # the row with an empty context still has its answer as a positive
    nan_c = df[df["context"].isna()].iloc[0]
    s2 = next(s for s in res.samples if s.query == nan_c["question"])
    assert s2.positives == [nan_c["answer"]]
    assert all(1 <= len(s.positives) <= 2 for s in res.samples)


def test_list_valued_cells_jsonl_flagembedding_shape() -> None:
    raw = read_table(FIX / "flag.jsonl")
    m = suggest_mapping(raw)
    assert (m.query_col, m.pos_cols, m.neg_col) == ("query", ["pos"], "neg")
    res = build_samples(raw, m)
    by_q = {s.query: s for s in res.samples}
    assert by_q["charging time"].positives == [
        "A full charge takes about five hours.",
        "The fast charger needs about three hours.",
    ]
    assert by_q["charging time"].negatives == ["Motor assistance stops at 25 km/h."]
    assert by_q["battery range in winter"].negatives == [
        "The frame is made of aluminium.",
        "Repairs are booked in the app.",
    ]
    assert by_q["metro rules for bikes"].negatives == []


def test_list_valued_cells_parquet() -> None:
    raw = read_table(FIX / "table.parquet")
    m = suggest_mapping(raw)
    assert (m.query_col, m.pos_cols, m.meta_cols) == ("anchor", ["positive"], ["category"])
    res = build_samples(raw, m)
    assert len(res.samples) == 5
    assert all(len(s.positives) == 2 for s in res.samples)
    first = res.samples[0]
    assert first.positives[1] == "Five years."
    assert first.meta == {"category": "warranty"}


def test_given_negatives_stored_with_the_project() -> None:
    raw = read_table(FIX / "flag.jsonl")
    res = build_samples(raw, suggest_mapping(raw))
    with Store() as store:
        pid = store.create_project("flag", res.samples)
        neg = store.given_negatives(pid)
        assert len(neg) == 4
        assert set(neg["text"]) == {
            "The frame is made of aluminium.",
            "Repairs are booked in the app.",
            "Motor assistance stops at 25 km/h.",
            "The battery warranty lasts two years.",
        }


# --------------------------------------------------------------------------- mapping


def test_suggested_mapping_english() -> None:
    m = suggest_mapping(read_table(SAMPLE))
    assert m.query_col == "question"
    assert m.pos_cols == ["context"]  # a passage beats a short answer
    assert m.meta_cols == ["ticker", "filing"]
    assert m.score_col is None and m.neg_col is None
    assert any("answer" in n for n in m.notes)  # tells the user answer could be a second positive
    assert "query=question" in m.describe() and "pos=context" in m.describe()


def test_suggested_mapping_bom_and_other_names() -> None:
    m = suggest_mapping(read_table(FIX / "utf8_bom.csv"))
    assert (m.query_col, m.pos_cols) == ("query", ["positive"])
    df = pd.DataFrame({"Anchor": ["a?", "b?"], "Passage": ["A is long text.", "B is long text."]})
    m = suggest_mapping(df)
    assert (m.query_col, m.pos_cols) == ("Anchor", ["Passage"])


def test_suggested_mapping_chinese() -> None:
    m = suggest_mapping(read_table(FIX / "zh_gbk.csv"))
    assert m.query_col == "问题"
    assert m.pos_cols == ["文档"]
    assert m.meta_cols == ["类别"]
    df = pd.DataFrame({"查询": ["甲?", "乙?"], "答案": ["甲是第一个。", "乙是第二个。"]})
    m = suggest_mapping(df)
    assert (m.query_col, m.pos_cols) == ("查询", ["答案"])


def test_suggested_mapping_sts_pairs() -> None:
    m = suggest_mapping(read_table(FIX / "sts_pairs.csv"))
    assert (m.query_col, m.pos_cols, m.score_col) == ("sentence1", ["sentence2"], "score")
    assert m.sample_type == "symmetric"
    assert m.is_pairs


def test_suggested_mapping_falls_back_to_text_length() -> None:
    df = pd.DataFrame(
        {
            "foo": ["short one?", "short two?", "short three?"],
            "bar": ["a much longer passage of text here", "another long passage of text", "a third long one"],
        }
    )
    m = suggest_mapping(df)
    assert (m.query_col, m.pos_cols) == ("foo", ["bar"])
    assert m.notes


def test_suggest_mapping_needs_two_text_columns() -> None:
    with pytest.raises(EmbcoreError, match="need at least two text columns.*columns: only"):
        suggest_mapping(_bytes_table(b"only\nx\ny\n", "one.csv"))


def test_field_mapping_round_trip() -> None:
    m = suggest_mapping(read_table(SAMPLE))
    again = FieldMapping.from_dict(json.loads(json.dumps(m.to_dict())) | {"unknown_key": 1})
    assert again == m


# --------------------------------------------------------------------------- pair data


def test_pair_data_default_threshold_is_80_percent_of_max() -> None:
    raw = read_table(FIX / "sts_pairs.csv")
    res = build_samples(raw, suggest_mapping(raw))
    df = pd.read_csv(FIX / "sts_pairs.csv")
    high = df[df["score"] >= 4.0]
    assert res.stats["pairs_positive"] == len(high)
    assert sum(len(s.positives) for s in res.samples) == len(high)
    assert all(s.type == "symmetric" for s in res.samples)
    assert all(s.negatives == [] for s in res.samples)
    low_rows = {i + 1 for i in df.index[df["score"] < 4.0]}
    assert {d.row for d in res.dropped} == low_rows
    assert all(d.code == "between_thresholds" and d.column == "score" for d in res.dropped)
    assert all(label is not None and label >= 4.0 for s in res.samples for label in s.pos_labels)


def test_pair_data_thresholds_make_positives_and_negatives() -> None:
    raw = read_table(FIX / "sts_pairs.csv")
    m = suggest_mapping(raw)
    m.pos_threshold, m.neg_threshold = 4.5, 1.0
    res = build_samples(raw, m)
    df = pd.read_csv(FIX / "sts_pairs.csv")
    n_pos = int((df["score"] >= 4.5).sum())
    n_neg = int((df["score"] <= 1.0).sum())
    assert res.stats["pairs_positive"] == n_pos
    assert res.stats["pairs_negative"] == n_neg
    by_q = {s.query: s for s in res.samples}
    s = by_q["The train leaves at nine in the morning."]
    assert s.positives == ["The train departs at 9 a.m."]
    assert s.negatives == ["The bus was late again."]
    assert s.pos_labels == [5.0] and s.neg_labels == [1.0]
    middle = {i + 1 for i in df.index[(df["score"] > 1.0) & (df["score"] < 4.5)]}
    between = {d.row for d in res.dropped if d.code == "between_thresholds"}
    assert between == middle
    # a query whose only pairs are negatives cannot be a sample: it is reported
    assert "The shop closes early on Sundays." not in by_q
    no_pos = {d.row for d in res.dropped if d.code == "no_positive"}
    for q in set(df["sentence1"]) - set(by_q):
        rows = {i + 1 for i in df.index[(df["sentence1"] == q) & (df["score"] <= 1.0)]}
        assert rows <= no_pos
    assert all(s.type == "symmetric" for s in res.samples)


def test_pair_data_binary_labels() -> None:
    text = "text1,text2,label\nA cat sits.,A cat is sitting.,1\nA cat sits.,Stocks fell.,0\nIt rains.,Rain is falling.,1\n"
    raw = _bytes_table(text.encode(), "labels.csv")
    m = suggest_mapping(raw)
    assert m.score_col == "label" and m.sample_type == "symmetric"
    res = build_samples(raw, m)
    assert res.stats["pairs_positive"] == 2
    assert [(d.row, d.code) for d in res.dropped] == [(2, "between_thresholds")]


def test_pair_data_bad_score_is_reported() -> None:
    text = "sentence1,sentence2,score\nA.,B.,4.5\nC.,D.,n/a\nE.,F.,5\n"
    raw = _bytes_table(text.encode(), "bad_score.csv")
    res = build_samples(raw, FieldMapping("sentence1", ["sentence2"], score_col="score"))
    assert [(d.row, d.code) for d in res.dropped] == [(2, "bad_score")]
    assert "n/a" in res.dropped[0].reason


# --------------------------------------------------------------------------- errors


def test_missing_file_error() -> None:
    missing = FIX / "does_not_exist.csv"
    with pytest.raises(EmbcoreError, match="does_not_exist.csv: no such file"):
        read_table(missing)


def test_directory_is_not_a_data_file(tmp_path: Path) -> None:
    with pytest.raises(EmbcoreError, match="is a directory"):
        read_table(tmp_path)


@pytest.mark.parametrize("content", [b"", b"   \n\n", b"\xef\xbb\xbf"])
def test_empty_file_error(tmp_path: Path, content: bytes) -> None:
    p = tmp_path / "e.csv"
    p.write_bytes(content)
    with pytest.raises(EmbcoreError, match="e.csv.*empty"):
        read_table(p)


def test_empty_fixture_error() -> None:
    with pytest.raises(EmbcoreError, match=r"empty\.csv: the file is empty"):
        read_table(FIX / "empty.csv")


def test_header_only_error() -> None:
    with pytest.raises(EmbcoreError, match=r"header_only\.csv: .*header but no data rows"):
        read_table(FIX / "header_only.csv")


def test_unknown_column_error_lists_existing_columns() -> None:
    raw = read_table(SAMPLE)
    with pytest.raises(EmbcoreError) as ei:
        build_samples(raw, FieldMapping("questoin", ["context"]))
    msg = str(ei.value)
    assert "sample_qa.csv" in msg
    assert "'questoin'" in msg
    for c in SAMPLE_COLUMNS:
        assert c in msg
    for bad in (FieldMapping("question", ["ctx"]), FieldMapping("question", ["context"], ["sector"])):
        with pytest.raises(
            EmbcoreError, match="columns in the file: question, answer, context, ticker, filing"
        ):
            validate_mapping(raw, bad)


def test_mapping_sanity_errors() -> None:
    raw = read_table(SAMPLE)
    with pytest.raises(EmbcoreError, match="at least one positive column"):
        validate_mapping(raw, FieldMapping("question", []))
    with pytest.raises(EmbcoreError, match="both the query and a positive"):
        validate_mapping(raw, FieldMapping("question", ["question"]))


def test_undecodable_bytes_error() -> None:
    with pytest.raises(EmbcoreError) as ei:
        read_table(FIX / "garbage.csv")
    msg = str(ei.value)
    assert "garbage.csv" in msg
    assert "decode" in msg or "binary" in msg
    assert "\n" not in msg


def test_decode_bytes_errors_name_the_file() -> None:
    with pytest.raises(EmbcoreError, match="upload.csv"):
        decode_bytes((FIX / "garbage.csv").read_bytes(), "upload.csv")
    with pytest.raises(EmbcoreError, match="byte-order mark"):
        decode_bytes(b"\xef\xbb\xbfok,\xff\xfe\xfd", "bom.csv")


def test_bad_jsonl_line_error_names_line() -> None:
    with pytest.raises(EmbcoreError, match=r"bad_line\.jsonl: line 3 is not valid JSON"):
        read_table(FIX / "bad_line.jsonl")


def test_bad_json_errors() -> None:
    with pytest.raises(EmbcoreError, match="x.json: invalid JSON at line 1"):
        _bytes_table(b'[{"q": "a"', "x.json")
    with pytest.raises(EmbcoreError, match="record 2 is a str"):
        _bytes_table(b'[{"q": "a"}, "oops"]', "x.json")
    with pytest.raises(EmbcoreError, match="line 2 is a JSON list"):
        _bytes_table(b'{"q": "a"}\n[1, 2]\n', "x.jsonl")


def test_bad_parquet_error() -> None:
    with pytest.raises(EmbcoreError, match="broken.parquet: not a readable Parquet file"):
        _bytes_table(b"PAR1 definitely not parquet", "broken.parquet")


def test_ingest_one_call_uses_suggested_mapping() -> None:
    raw, res = ingest(FIX / "zh_gbk.csv")
    assert raw.encoding == "gb18030"
    assert res.mapping.query_col == "问题"
    # two questions share one document: 16 samples over 15 unique passages
    assert res.stats["samples"] == 16
    assert res.stats["unique_passages"] == 15


# --------------------------------------------------------------------------- issue 9 / 10: inputs that slipped through

_UTF8_ROWS = [
    "question,context,ticker",
    "Wie hoch war der Umsatz von Müller?,Der Umsatz von Müller lag bei 4 Mio. €.,MUE",
    # a quoted cell over two lines: the bad line below is line 5 but data row 3
    '"Was kostet ein Café crème?","Ein Café crème kostet 3 €,\nmit Milch 3,50 €.",CAF',
]
_LATIN1_ROW = "Où est la crème brûlée?,La crème brûlée est au café près de la gare.,CRB"


def _mixed_bytes(bad: bytes) -> bytes:
    return (
        "\n".join(_UTF8_ROWS).encode("utf-8")
        + b"\n"
        + bad
        + b"\n"
        + "Naïve question?,A naïve answer.,NAI\n".encode()
    )


def test_one_latin1_line_in_a_utf8_file_is_decoded_on_its_own() -> None:
    # issue 9.6: the whole file used to be read as cp1250: "MĂĽller", "crčme", exit 0, no warning
    raw = _bytes_table(_mixed_bytes(_LATIN1_ROW.encode("cp1252")), "mixed.csv")
    assert raw.encoding == "utf-8"
    assert raw.df["question"].tolist() == [
        "Wie hoch war der Umsatz von Müller?",
        "Was kostet ein Café crème?",
        "Où est la crème brûlée?",
        "Naïve question?",
    ]
    assert raw.df.iloc[1]["context"] == "Ein Café crème kostet 3 €,\nmit Milch 3,50 €."
    assert raw.fallback_lines == {"cp1252": [5]}
    assert raw.fallback_rows == {"cp1252": [3]}
    report = build_samples(raw, FieldMapping("question", ["context"])).report()
    assert report["decoding"] == {
        "encoding": "utf-8",
        "fallback": {"cp1252": {"lines": [5], "n_lines": 1, "rows": [3], "n_rows": 1}},
    }
    json.dumps(report)


def test_one_gbk_line_in_a_utf8_file_is_decoded_as_gb18030() -> None:
    gbk = "青禾电动车的电池可以续航多少公里？,标准版约六十公里，低温环境下续航会减少两成左右。,QH".encode(
        "gbk"
    )
    raw = _bytes_table(_mixed_bytes(gbk), "mixed.csv")
    assert raw.encoding == "utf-8"
    assert raw.df.iloc[2]["question"] == "青禾电动车的电池可以续航多少公里？"
    assert raw.df.iloc[0]["question"] == "Wie hoch war der Umsatz von Müller?"
    assert raw.fallback_lines == {"gb18030": [5]} and raw.fallback_rows == {"gb18030": [3]}


def test_wholly_legacy_files_keep_their_detected_encoding() -> None:
    assert read_table(FIX / "zh_gbk.csv").fallback_lines == {}
    text = "question,context\n" + "\n".join(f"{_LATIN1_ROW.rsplit(',', 1)[0]} {i}" for i in range(20)) + "\n"
    raw = _bytes_table(text.encode("cp1252"), "latin.csv")
    assert raw.encoding != "utf-8" and raw.fallback_lines == {}  # no UTF-8 line: decoded whole, as before


def test_forced_utf8_lists_the_lines_that_are_not_utf8() -> None:
    with pytest.raises(EmbcoreError, match=r"mixed.csv: cannot decode as utf-8: line 5 is not utf-8"):
        _bytes_table(_mixed_bytes(_LATIN1_ROW.encode("cp1252")), "mixed.csv", encoding="utf-8")
    two = _mixed_bytes(_LATIN1_ROW.encode("cp1252")) + _LATIN1_ROW.encode("cp1252") + b"\n"
    with pytest.raises(EmbcoreError, match=r"cannot decode as utf-8: lines 5, 7 are not utf-8"):
        _bytes_table(two, "mixed.csv", encoding="utf-8")


NULLS_CSV = (
    "question,context,ticker\n"
    "NaN,Revenue grew 5% in 2023.,AAA\n"
    "nan,Margins fell in 2023.,BBB\n"
    "None,Headcount was flat.,CCC\n"
    "null,The dividend was raised.,DDD\n"
    "N/A,Capex doubled.,EEE\n"
    '"",Debt was repaid.,FFF\n'
    "What was the revenue growth?,NaN,AAA\n"
    "What is the ticker of Nautilus?,The ticker is NA.,NA\n"
    "What did margins do?,Margins fell in 2023.,NULL\n"
)


def test_null_like_texts_count_as_missing_not_as_text() -> None:
    # issue 9.7: "NaN" and "nan" used to become one sample whose positives were unrelated passages
    raw = _bytes_table(NULLS_CSV.encode(), "nulls.csv")
    res = build_samples(raw, FieldMapping("question", ["context"], ["ticker"]))
    assert [s.query for s in res.samples] == ["What is the ticker of Nautilus?", "What did margins do?"]
    codes = {d.row: d.code for d in res.dropped}
    assert codes == {1: "missing_query", 2: "missing_query", 3: "missing_query", 4: "missing_query",
                     5: "missing_query", 6: "missing_query", 7: "missing_positive"}  # fmt: skip
    assert "'NaN' counts as missing" in next(d.reason for d in res.dropped if d.row == 1)
    # "NA" is a real value by default (a ticker here); "NULL" metadata is missing
    assert res.samples[0].meta == {"ticker": "NA"} and res.samples[1].meta == {}
    assert res.report()["null_like"]["question"] == {"NaN": 1, "nan": 1, "None": 1, "null": 1, "N/A": 1}
    assert res.report()["null_like"]["ticker"] == {"NULL": 1}


def test_null_values_are_configurable() -> None:
    raw = _bytes_table(NULLS_CSV.encode(), "nulls.csv")
    with_na = build_samples(
        raw, FieldMapping("question", ["context"], ["ticker"], null_values=parse_null_values("default,NA"))
    )
    assert with_na.samples[0].meta == {}
    only_empty = build_samples(raw, FieldMapping("question", ["context"], null_values=parse_null_values("")))
    # with only empty cells missing, "NaN" and "nan" are text again (and one query, as before)
    assert {"NaN", "None", "null", "N/A"} <= {s.query for s in only_empty.samples}
    assert parse_null_values(None) is None and parse_null_values("x, y,x") == ["x", "y"]


def _unfamiliar(n: int = 30) -> pd.DataFrame:
    codes = ["AAA", "CCC", "BBB", "DDD"]
    return pd.DataFrame(
        {
            "col_c": [codes[i % 4] for i in range(n)],
            "col_a": [f"What was the revenue of unit {i} in 2023?" for i in range(n)],
            "col_b": [f"Unit {i} had revenue of {3 * i} million dollars in 2023, up {i}%." for i in range(n)],
            "col_d": [str(1000 + i) for i in range(n)],
        }
    )


def test_unfamiliar_column_names_are_guessed_from_content_never_codes() -> None:
    # issue 9.8: the three-letter code column used to be chosen as the query (shortest text)
    m = suggest_mapping(_unfamiliar())
    assert (m.query_col, m.pos_cols) == ("col_a", ["col_b"])
    assert m.guessed
    assert any("guessed 'col_a'" in n for n in m.notes)
    assert any("col_c" in n and "code-like" in n for n in m.notes)
    # questions without "?" but with wh-words; answers shorter than questions
    df = _unfamiliar().assign(
        col_a=lambda d: d["col_a"].str.rstrip("?"), col_b=[f"{i} million" for i in range(30)]
    )
    m = suggest_mapping(df)
    assert m.query_col == "col_a" and m.pos_cols == ["col_b"]
    # Chinese questions under unfamiliar names
    zh = pd.DataFrame({"x": ["电池可以续航多少公里？", "保修期是多久？", "如何预约维修？"] * 10,
                       "y": ["标准版约六十公里，低温下会减少。", "电池保修两年或一万公里。", "在手机应用里预约维修。"] * 10})  # fmt: skip
    assert (suggest_mapping(zh).query_col, suggest_mapping(zh).pos_cols) == ("x", ["y"])


def test_codes_and_ids_are_never_text_columns() -> None:
    df = _unfamiliar()[["col_c", "col_d"]].assign(col_e=[f"R{i:04d}" for i in range(30)])
    with pytest.raises(EmbcoreError, match="need at least two text columns.*code-like.*col_c"):
        suggest_mapping(df)


def test_familiar_names_are_not_guessed() -> None:
    assert not suggest_mapping(read_table(SAMPLE)).guessed
    assert not suggest_mapping(read_table(FIX / "zh_gbk.csv")).guessed


def test_query_equal_to_its_positive_is_dropped_and_reported() -> None:
    # issue 9.9: such a pair teaches nothing (and becomes its own false negative)
    text = (
        "question,context\n"
        "What is the warranty?,The frame has a five-year warranty.\n"
        "How long is the battery warranty?,how long is the   battery warranty?\n"
        "Where can I book a repair?,Repairs are booked in the app.\n"
    )
    res = build_samples(_bytes_table(text.encode(), "same.csv"), FieldMapping("question", ["context"]))
    assert [s.query for s in res.samples] == ["What is the warranty?", "Where can I book a repair?"]
    [d] = res.dropped
    assert (d.row, d.code, d.column) == (2, "query_equals_positive", "context")
    assert "equals its positive" in d.reason
    # with a second positive column the row stays, without the copy of the query
    two = "question,context,answer\nWhat is X?,what is x?,X is a letter.\nWhat is Y?,Y follows X.,A letter.\n"
    res = build_samples(
        _bytes_table(two.encode(), "two.csv"), FieldMapping("question", ["context", "answer"])
    )
    assert res.samples[0].positives == ["X is a letter."]
    assert res.report()["positive_equal_to_query_removed"] == {"rows": [1], "count": 1}


def test_a_file_of_duplicates_is_refused() -> None:
    text = "question,context\n" + "What is X?,X is a letter.\n" * 50
    res = build_samples(_bytes_table(text.encode(), "dups.csv"), FieldMapping("question", ["context"]))
    assert len(res.samples) == 1
    with pytest.raises(
        EmbcoreError, match=r"dups.csv: every row is a duplicate: the 50 rows hold a single distinct"
    ):
        res.check_usable("dups.csv")
    with Store() as store, pytest.raises(EmbcoreError, match="every row is a duplicate"):
        create_project(store, None, raw=_bytes_table(text.encode(), "dups.csv"))
    build_samples(read_table(SAMPLE), FieldMapping("question", ["context"])).check_usable("sample")  # fine


@pytest.mark.parametrize(("name", "text"), [
    ("deep.json", "[" * 1000 + "]" * 1000),
    ("deep2.json", '[{"question": "q?", "context": ' + '{"a":' * 1000 + "1" + "}" * 1000 + "}]"),
    ("deep.jsonl", '{"question": "q?", "context": ' + "[" * 1000 + "]" * 1000 + "}\n"),
])  # fmt: skip
def test_deeply_nested_json_is_a_user_error_naming_the_file(name: str, text: str) -> None:
    # issue 9.10: "internal error: RecursionError"
    with pytest.raises(EmbcoreError, match=rf"{name}: .*nested too deeply"):
        _bytes_table(text.encode(), name)


SAME_QUESTION = (
    "question,context,ticker\n"
    "How much net cash was provided by operating activities in 2023?,Costco provided $11.1 billion.,COST\n"
    "How much net cash was provided by operating activities in 2023?,AMD provided $1.7 billion.,AMD\n"
    "how much net cash was provided by operating activities in 2023?,Costco operating cash flow rose.,COST\n"
    "What is the dividend?,A quarterly dividend of $1.02.,COST\n"
)


def test_same_question_about_two_companies_stays_two_samples() -> None:
    # issue 10.2: rows were merged on the text alone, so COST's query carried AMD's context
    raw = _bytes_table(SAME_QUESTION.encode(), "same.csv")
    res = build_samples(raw, FieldMapping("question", ["context"], ["ticker"]))
    by_ticker = {s.meta["ticker"]: s for s in res.samples if "cash" in s.query}
    assert set(by_ticker) == {"COST", "AMD"}
    assert by_ticker["COST"].positives == [
        "Costco provided $11.1 billion.",
        "Costco operating cash flow rose.",
    ]
    assert by_ticker["COST"].source_rows == [1, 3]
    assert by_ticker["AMD"].positives == ["AMD provided $1.7 billion."]
    assert by_ticker["COST"].key != by_ticker["AMD"].key
    merging = res.report()["merging"]
    assert merging["policy"] == "text+meta" and merging["group_columns"] == ["ticker"]
    assert (merging["merged_samples"], merging["merged_rows"]) == (1, 2)
    assert (merging["texts_kept_apart"], merging["samples_kept_apart"]) == (1, 2)
    assert {m["ticker"] for m in merging["kept_apart_examples"][0]["meta"]} == {"COST", "AMD"}
    # both samples are storable although their text (and text_hash) is the same
    with Store() as store:
        pid = store.create_project("p", res.samples)
        q = store.queries(pid)
        assert len(q) == 3 and q["text_hash"].nunique() == 2 and q["sample_key"].nunique() == 3
        pos = store.positives(pid).merge(q[["id", "meta"]], left_on="query_id", right_on="id")
        amd = pos[[m.get("ticker") == "AMD" for m in pos["meta"]]]
        assert amd["text"].tolist() == ["AMD provided $1.7 billion."]


def test_merge_on_text_alone_is_available_and_reported() -> None:
    raw = _bytes_table(SAME_QUESTION.encode(), "same.csv")
    res = build_samples(raw, FieldMapping("question", ["context"], ["ticker"], merge_queries="text"))
    assert len(res.samples) == 2
    merging = res.report()["merging"]
    assert merging["merged_across_metadata"] == 1
    assert {m["ticker"] for m in merging["merged_across_metadata_examples"][0]["meta"]} == {"AMD", "COST"}
    with pytest.raises(EmbcoreError, match="unknown query merge policy 'meta'; allowed: text\\+meta, text"):
        build_samples(raw, FieldMapping("question", ["context"], merge_queries="meta"))


def test_thousands_of_columns_get_a_capped_metadata_list() -> None:
    # issue 9.12: 5,000 columns became 4,998 metadata columns on one 30 KB stderr line
    cols = {
        "question": [f"What is item {i}?" for i in range(5)],
        "context": [f"Item {i} is a thing." for i in range(5)],
    }
    cols |= {f"c{j}": [str(j % 3)] * 5 for j in range(4998)}
    m = suggest_mapping(pd.DataFrame(cols))
    assert len(m.meta_cols) == MAX_AUTO_META == 20
    note = next(n for n in m.notes if n.startswith("metadata"))
    assert "the first 20 of 4998 candidate columns" in note and len(note) < 300
    assert len(m.describe()) < 300
    with pytest.raises(EmbcoreError) as ei:
        validate_mapping(
            RawTable(pd.DataFrame(cols), "wide.csv", "", "csv"), FieldMapping("nope", ["context"])
        )
    assert len(str(ei.value)) < 400 and "(4980 more)" in str(ei.value)
