"""Data page: upload, preview, mapping, cleaning report, create / reopen a project."""

from __future__ import annotations

from pathlib import Path

from support.app import SAMPLE, TINY_CSV, texts

from app_pages._common import K


def test_upload_map_and_create_project(new_app, store, tiny_csv: Path) -> None:
    at = new_app()
    assert "No project yet" in " ".join(texts(at.info))
    at.radio(key=K.W_SOURCE).set_value("Upload a file").run()
    at.file_uploader(key=K.W_UPLOAD).upload("tiny.csv", tiny_csv.read_bytes(), "text/csv")
    at.run()
    assert not at.exception
    # the suggested mapping is preset
    assert at.selectbox(key=K.W_QUERY_COL).value == "question"
    assert at.multiselect(key=K.W_POS_COLS).value == ["context"]
    assert at.multiselect(key=K.W_META_COLS).value == ["ticker"]
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Rows read"] == "8" and metrics["Queries (samples)"] == "8"
    at.text_input(key=K.W_NAME).set_value("tiny")
    at.button(key=K.W_CREATE).click().run()
    assert not at.exception and not at.error
    assert any("created with 8 queries" in t for t in texts(at.success))
    pid = store.project_id("tiny")
    assert at.session_state[K.PROJECT] == pid
    counts = store.corpus_counts(pid)
    assert counts["queries"] == 8 and counts["positives"] == 8
    meta = store.queries(pid)["meta"].tolist()
    assert {m["ticker"] for m in meta} == {"ACME", "BETA", "GAMMA"}
    # the overview lists it, with where it stands
    overview = at.dataframe[0].value
    assert overview["name"].tolist() == ["tiny"]
    assert overview["stage"].tolist() == ["created: mine negatives next"]


def test_bundled_sample_shows_cleaning_report(new_app, store) -> None:
    at = new_app()
    # a fresh database opens on the bundled sample, ready to create
    assert at.radio(key=K.W_SOURCE).value == "Bundled sample"
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Rows read"] == "100"
    assert int(metrics["Rows dropped"]) > 0
    assert any("rows dropped" in e.label for e in at.expander)
    at.button(key=K.W_CREATE).click().run()
    assert store.project_id(SAMPLE.stem) == at.session_state[K.PROJECT]


def test_mapping_change_and_bad_mapping(new_app, tiny_csv: Path) -> None:
    at = new_app()
    at.radio(key=K.W_SOURCE).set_value("Upload a file").run()
    at.file_uploader(key=K.W_UPLOAD).upload("tiny.csv", tiny_csv.read_bytes(), "text/csv")
    at.run()
    at.multiselect(key=K.W_POS_COLS).set_value(["question"]).run()
    assert not at.exception
    assert any("both the query and a positive" in t for t in texts(at.error))
    assert not any(b.key == K.W_CREATE for b in at.button)  # no create button on an invalid mapping


def test_unreadable_file_is_an_error_not_a_traceback(new_app) -> None:
    at = new_app()
    at.radio(key=K.W_SOURCE).set_value("Upload a file").run()
    at.file_uploader(key=K.W_UPLOAD).upload("broken.csv", b"\x00\x01\x02\xff\xfe\x00" * 200, "text/csv")
    at.run()
    assert not at.exception
    assert at.error, "an unreadable file must give an st.error"


def test_duplicate_name_needs_replace(new_app, store, tiny_csv: Path) -> None:
    at = new_app()
    at.radio(key=K.W_SOURCE).set_value("Upload a file").run()
    at.file_uploader(key=K.W_UPLOAD).upload("tiny.csv", tiny_csv.read_bytes(), "text/csv")
    at.run()
    at.button(key=K.W_CREATE).click().run()
    first = at.session_state[K.PROJECT]
    at.button(key=K.W_CREATE).click().run()
    assert not at.exception
    assert any("already exists" in t for t in texts(at.error))
    at.checkbox(key=K.W_REPLACE).check()
    at.button(key=K.W_CREATE).click().run()
    assert not at.error
    assert store.list_projects()["id"].tolist() != [first]  # replaced by a new project row
    assert len(store.list_projects()) == 1


def test_reopen_project_from_sidebar(new_app, store, tiny_csv: Path) -> None:
    from support.app import make_project

    a, _ = make_project(store, tiny_csv, name="a")
    b, _ = make_project(store, tiny_csv, name="b")
    at = new_app()
    assert at.session_state[K.PROJECT] == b  # the newest project opens by default
    at.selectbox(key=K.W_PROJECT_PICK).set_value(a).run()
    assert at.session_state[K.PROJECT] == a
    stages = dict(zip(at.dataframe[0].value["name"], at.dataframe[0].value["stage"], strict=True))
    assert stages == {"a": "mined: ready to review", "b": "mined: ready to review"}


# --------------------------------------------------------------------------- issues 9 and 10


def _upload(at, name: str, data: bytes):  # noqa: ANN001, ANN202
    at.radio(key=K.W_SOURCE).set_value("Upload a file").run()
    at.file_uploader(key=K.W_UPLOAD).upload(name, data, "text/csv")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


EVIL_LINK = "[x](http://evil)"
EVIL_TEX = r"$\href{http://evil}{click}$"


def _evil_csv() -> bytes:
    codes = ["**AAA**", "**BBB**", "**CCC**"]
    rows = [
        f'"What was the revenue of unit {i}?","Unit {i} had a revenue of {i} million dollars in 2023.",{codes[i % 3]}'
        for i in range(30)
    ]
    header = f'"{EVIL_LINK}","{EVIL_TEX}",_code_'
    return ("\n".join([header, *rows]) + "\n").encode()


def test_column_names_in_mapping_notes_are_plain_text(new_app) -> None:
    # issue 9.14: notes went through st.caption with only * and _ escaped: a link and KaTeX rendered
    at = _upload(new_app(), "evil.csv", _evil_csv())
    notes = [t.value for t in at.text]
    assert any(EVIL_LINK in n for n in notes), notes
    assert any("href{http://evil}{click}$" in n for n in notes), notes  # the note quotes it with repr()
    markdown = [
        str(e.value) for e in [*at.markdown, *at.caption, *at.info, *at.warning, *at.success, *at.error]
    ]
    assert not any("](http://evil)" in m or r"\href" in m for m in markdown), markdown


def test_guessed_mapping_needs_an_explicit_confirmation(new_app, store) -> None:
    # issue 9.8: unfamiliar column names: the page shows the guess and waits for a confirmation
    at = _upload(new_app(), "evil.csv", _evil_csv())
    assert at.selectbox(key=K.W_QUERY_COL).value == EVIL_LINK
    assert at.multiselect(key=K.W_POS_COLS).value == [EVIL_TEX]
    assert any("guess from the content" in w for w in texts(at.warning))
    assert not any(b.key == K.W_CREATE for b in at.button)
    at.checkbox(key=K.W_CONFIRM_MAPPING).check().run()
    assert any(b.key == K.W_CREATE for b in at.button)
    at.button(key=K.W_CREATE).click().run()
    assert not at.error
    assert len(store.queries(at.session_state[K.PROJECT])) == 30
    # familiar names need no confirmation (the sample and tiny.csv above create directly)


SAME_QUESTION = (
    "question,context,ticker\n"
    "How much net cash was provided by operating activities in 2023?,Costco provided $11.1 billion.,COST\n"
    "How much net cash was provided by operating activities in 2023?,AMD provided $1.7 billion.,AMD\n"
    "What is the dividend?,A quarterly dividend of $1.02.,COST\n"
    "NaN,An orphan passage.,AMD\n"
    "nan,Another orphan passage.,COST\n"
)


def test_merge_policy_null_values_and_merged_groups(new_app, store) -> None:
    at = _upload(new_app(), "same.csv", SAME_QUESTION.encode())
    metrics = {m.label: m.value for m in at.metric}
    # issue 10.2: the same question about two companies stays two samples; issue 9.7: NaN rows are missing
    assert metrics["Queries (samples)"] == "3" and metrics["Rows dropped"] == "2"
    assert any(
        e.label.startswith("Merged queries: 1 query texts asked with different metadata") for e in at.expander
    )
    assert any("Null-like texts treated as missing: 2 cells" == e.label for e in at.expander)
    at.radio(key=K.W_MERGE).set_value("text").run()
    assert {m.label: m.value for m in at.metric}["Queries (samples)"] == "2"
    assert any("merged samples mix rows with different metadata" in e.label for e in at.expander)
    at.text_input(key=K.W_NULLS).set_value("").run()  # only empty cells are missing: "NaN" is a query again
    assert {m.label: m.value for m in at.metric}["Queries (samples)"] == "3"
    at.radio(key=K.W_MERGE).set_value("text+meta").run()
    at.text_input(key=K.W_NULLS).set_value("NaN,nan").run()
    at.button(key=K.W_CREATE).click().run()
    q = store.queries(at.session_state[K.PROJECT])
    assert sorted(m.get("ticker") for m in q["meta"]) == ["AMD", "COST", "COST"]
    mapping = store.get_project(at.session_state[K.PROJECT])["mapping"]
    assert mapping["merge_queries"] == "text+meta" and mapping["null_values"] == ["NaN", "nan"]


def test_data_profile_is_shown(new_app) -> None:
    # issue 10.13: missing share, distinct values, lengths, duplicates, rows -> samples
    at = new_app()  # the bundled sample
    assert any(e.label.startswith("Data profile") for e in at.expander)
    frames = [d.value for d in at.dataframe]
    profile = next(f for f in frames if "missing %" in getattr(f, "columns", []))
    assert profile["column"].tolist()[:3] == ["question", "context", "ticker"]
    assert profile.loc[profile["column"] == "question", "missing"].item() == 2
    dups = next(f for f in frames if list(getattr(f, "columns", [])) == ["what", "count"])
    assert dups["count"].tolist()[0] >= 1  # the sample repeats one query
    charts = at.get("plotly_chart")
    assert len(charts) == 2
    spec = charts[0].proto.spec
    assert "waterfall" in spec and '"rows read"' in spec and '"samples"' in spec


def test_mixed_encoding_upload_shows_the_fallback(new_app) -> None:
    good = "question,context\n" + "".join(
        f"Wie hoch war der Umsatz von Müller {i}?,Er lag bei {i} Mio. €.\n" for i in range(5)
    )
    data = good.encode() + "Où est la crème brûlée?,Au café près de la gare.\n".encode("cp1252")
    at = _upload(new_app(), "mixed.csv", data)
    assert any("decoded as cp1252" in w for w in texts(at.warning))
    table = next(d.value for d in at.dataframe if "codec" in getattr(d.value, "columns", []))
    assert table.iloc[0].tolist() == ["cp1252", "7", "6"]


def test_app_refuses_a_data_file_as_its_database(new_app, tmp_path: Path, monkeypatch) -> None:
    # issue 9.11: EMBCORE_DB=input.csv opened an in-memory database: every review lost on restart
    csv = tmp_path / "input.csv"
    csv.write_text(TINY_CSV, encoding="utf-8")
    monkeypatch.setenv("EMBCORE_DB", str(csv))
    at = new_app()
    assert any("not a DuckDB database" in t for t in texts(at.error))
    assert csv.read_text(encoding="utf-8") == TINY_CSV
