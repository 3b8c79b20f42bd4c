"""Data page: upload, preview, mapping, cleaning report, create / reopen a project."""

from __future__ import annotations

from pathlib import Path

from app_helpers import SAMPLE, texts

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
    assert store.fetchall("SELECT count(*) FROM queries WHERE project_id = ?", [pid])[0][0] == 8
    assert store.fetchall("SELECT count(*) FROM positives WHERE project_id = ?", [pid])[0][0] == 8
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
    from app_helpers import make_project

    a, _ = make_project(store, tiny_csv, name="a")
    b, _ = make_project(store, tiny_csv, name="b")
    at = new_app()
    assert at.session_state[K.PROJECT] == b  # the newest project opens by default
    at.selectbox(key=K.W_PROJECT_PICK).set_value(a).run()
    assert at.session_state[K.PROJECT] == a
    stages = dict(zip(at.dataframe[0].value["name"], at.dataframe[0].value["stage"], strict=True))
    assert stages == {"a": "mined: ready to review", "b": "mined: ready to review"}
