"""Augment & scores page: prompts and types (DuckDB + export), EDA and LLM augmentation in the
background (the API key never stored), generated negatives in Review, teacher scores in Review
and in the export (pos_scores / neg_scores aligned with pos / neg)."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import pytest
from support.app import card_data, card_event, make_project, texts, wait_until
from support.encoders import HashingEncoder
from support.fake_openai import FakeOpenAI

from app_pages._common import K
from app_pages._forms import CUSTOM
from embcore.augment.llm import NO_ENDPOINT
from embcore.models.prompts import DEFAULT_PROMPTS
from embcore.review import model as review
from embcore.store import Store
from embcore.text import text_hash
from embcore.workflow import create_project

AUGMENT = "app_pages/augment.py"
REVIEW = "app_pages/review.py"
EXPORT = "app_pages/export.py"
KEY = "sk-app-secret-4711"


def _jsonl(folder: Path) -> list[dict]:
    return [
        json.loads(line)
        for split in ("train", "val", "test")
        for line in (folder / f"{split}.jsonl").read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]


def _export(at, out: Path) -> list[dict]:  # noqa: ANN001
    """Export from the Export page into ``out`` (everything in train) and read the records back."""
    at.switch_page(EXPORT).run()
    at.number_input(key=K.W_TRAIN).set_value(1.0)
    at.number_input(key=K.W_VAL).set_value(0.0)
    at.number_input(key=K.W_TEST).set_value(0.0)
    at.text_input(key=K.W_OUT_DIR).set_value(str(out))
    at.run()
    at.button(key=K.W_EXPORT).click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert any("written to" in t for t in texts(at.success))
    return _jsonl(out)


def _dump_database(store: Store) -> str:
    """Every value of every table, as one string (to look for a secret)."""
    assert {"llm_cache", "runs"} <= store.table_names()
    return "\n".join(store.all_values())


# --------------------------------------------------------------------------- prompts and types


def test_prompt_and_type_are_stored_and_exported(new_app, store, tiny_csv: Path, tmp_path: Path) -> None:
    pid = create_project(store, tiny_csv, name="tiny").project_id
    at = new_app(AUGMENT, project=pid)
    assert not at.error
    # a named prompt (the defaults, completed by the mining model's own)
    at.selectbox(key=K.W_PROMPT_NAME).set_value("retrieval.query").run()
    at.button(key=K.W_PROMPT_APPLY).click().run()
    assert not at.exception
    q = store.queries(pid)
    assert (q["prompt"] == DEFAULT_PROMPTS["retrieval.query"]).all()
    # a typed instruction replaces it; a type from the list
    at.selectbox(key=K.W_PROMPT_NAME).set_value(CUSTOM).run()
    at.text_input(key=K.W_PROMPT_TEXT).input("Find the filing passage that answers: ").run()
    at.button(key=K.W_PROMPT_APPLY).click().run()
    at.selectbox(key=K.W_TYPE_PICK).set_value("symmetric_class").run()
    at.button(key=K.W_TYPE_APPLY).click().run()
    assert not at.exception and not at.error
    q = store.queries(pid)
    assert (q["prompt"] == "Find the filing passage that answers: ").all()
    assert (q["type"] == "symmetric_class").all()
    assert any("set on every query" in t for t in texts(at.success))
    current = at.dataframe[0].value
    assert current.to_dict("records") == [
        {"prompt": "Find the filing passage that answers: ", "type": "symmetric_class", "queries": 8}
    ]
    # the export writes them to every record; its instruction field defaults to the project's prompt
    at.switch_page(EXPORT).run()
    assert at.text_input(key=K.W_PROMPT).value == "Find the filing passage that answers: "
    records = _export(at, tmp_path / "out")
    assert len(records) == 8
    assert {r["prompt"] for r in records} == {"Find the filing passage that answers: "}
    assert {r["type"] for r in records} == {"symmetric_class"}
    # a free-text type
    at.switch_page(AUGMENT).run()
    at.selectbox(key=K.W_TYPE_PICK).set_value("(other type)").run()
    at.text_input(key=K.W_TYPE_TEXT).input("my_type").run()
    at.button(key=K.W_TYPE_APPLY).click().run()
    assert set(store.queries(pid)["type"]) == {"my_type"}


# --------------------------------------------------------------------------- EDA


def test_eda_augmentation_runs_in_background_and_links_copies(new_app, store, tiny_csv: Path) -> None:
    pid = create_project(store, tiny_csv, name="tiny").project_id
    at = new_app(AUGMENT, project=pid)
    assert any("No augmented" in t for t in texts(at.info))
    assert at.button(key=K.W_AUG_LLM).disabled, "no LLM task chosen"
    at.multiselect(key=K.W_AUG_OPS).set_value(["swap", "delete"])
    at.number_input(key=K.W_AUG_N).set_value(2)
    at.number_input(key=K.W_AUG_RATE).set_value(0.3)
    at.number_input(key=K.W_AUG_SEED).set_value(7)
    at.run()
    at.button(key=K.W_AUG_EDA).click().run()
    assert not at.exception
    # a preview first: nothing stored until the kept rows are added
    wait_until(at, lambda a: any(b.key == K.W_AUG_ADD for b in a.button))
    assert (store.queries(pid)["origin"] == "data").all()
    preview = at.session_state[K.AUG_PREVIEW][1]
    assert at.button(key=K.W_AUG_ADD).label == f"Add {len(preview.items)} samples"
    at.button(key=K.W_AUG_ADD).click().run()
    assert not at.exception
    assert any("Augmented 8 source samples" in t for t in texts(at.success))
    q = store.queries(pid)
    derived = q[q["origin"] != "data"]
    metrics = {m.label: m.value for m in at.metric}
    assert int(metrics["Added queries"]) == len(derived) > 0
    assert derived["origin"].str.startswith("augment:").all()
    data_ids = set(q.loc[q["origin"] == "data", "id"].astype(int))
    assert derived["parent_id"].notna().all() and set(derived["parent_id"].astype(int)) <= data_ids
    run = store.runs(pid, "augment")
    assert run["status"].tolist() == ["done"]
    assert json.loads(run["config"].iloc[0])["ops"] == ["swap", "delete"]
    # the items are listed with their origin and source query
    items = at.dataframe[-1].value
    assert set(items["text"]) >= set(derived["text"])
    assert set(items["kind"]) == {"query"}


def test_no_task_disables_eda(new_app, store, tiny_csv: Path) -> None:
    pid = create_project(store, tiny_csv, name="tiny").project_id
    at = new_app(AUGMENT, project=pid)
    at.multiselect(key=K.W_AUG_OPS).set_value([]).run()
    assert at.button(key=K.W_AUG_EDA).disabled


# --------------------------------------------------------------------------- LLM


def _llm_settings(at, server: FakeOpenAI, key: str, tasks: list[str]) -> None:  # noqa: ANN001
    at.text_input(key=K.W_LLM_URL).input(server.url).run()  # the rest is disabled until an endpoint is set
    at.multiselect(key=K.W_LLM_TASKS).set_value(tasks)
    at.text_input(key=K.W_LLM_MODEL).input("fake-model")
    at.text_input(key=K.W_LLM_KEY).input(key)
    at.number_input(key=K.W_LLM_N).set_value(2)
    at.number_input(key=K.W_AUG_MAX).set_value(4)
    at.run()


def test_llm_augmentation_key_never_stored_and_negatives_reviewed(
    new_app,
    store,
    tiny_csv: Path,
    fake_openai: FakeOpenAI,
    monkeypatch: pytest.MonkeyPatch,
    caplog,
    tmp_path: Path,
) -> None:
    for var in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_MODEL"):
        monkeypatch.delenv(var, raising=False)
    caplog.set_level(logging.DEBUG)
    fake_openai.api_key = KEY  # the server answers 401 without this exact key
    pid, run_id = make_project(store, tiny_csv, name="tiny")
    at = new_app(AUGMENT, project=pid)
    _llm_settings(at, fake_openai, KEY, ["paraphrase", "neg-gen"])
    assert not at.error, [e.value for e in at.error]
    at.button(key=K.W_AUG_LLM).click().run()
    assert not at.exception
    wait_until(at, lambda a: any(b.key == K.W_AUG_ADD for b in a.button), timeout=120)
    assert store.given_negatives(pid).empty, "a preview stores nothing"
    at.button(key=K.W_AUG_ADD).click().run()
    assert any("Augmented 4 source samples" in t for t in texts(at.success))
    metrics = {m.label: m.value for m in at.metric}
    assert int(metrics["Added negatives"]) > 0 and int(metrics["Added queries"]) > 0
    assert fake_openai.requests, "the typed endpoint was called"
    # the key: in the Authorization header and this session only; nowhere in DuckDB or the logs
    assert at.session_state[K.LLM_KEY] == KEY
    assert KEY not in _dump_database(store)
    assert store.llm_cache_size() > 0
    cfg = json.loads(store.runs(pid, "augment")["config"].iloc[0])
    assert cfg["llm_base_url"] == fake_openai.url and cfg["llm_model"] == "fake-model"
    assert not any(KEY in r.getMessage() for r in caplog.records)
    # generated items are listed with their origin and parent query
    items = at.dataframe[-1].value
    negs = items[items["kind"] == "negative"]
    assert len(negs) == int(metrics["Added negatives"])
    assert negs["origin"].str.startswith("llm:neg-gen:fake-model").all() and negs["parent"].notna().all()
    # generated negatives go through review like mined ones
    given = store.given_negatives(pid)
    qid, ppid = int(given["query_id"].iloc[0]), int(given["passage_id"].iloc[0])
    at.switch_page(REVIEW).run()
    at.session_state[K.QUERY] = qid
    at.run()
    assert not at.exception and not at.error
    rows = {r["pid"]: r for r in card_data(at)["rows"]}
    assert rows[ppid]["section"] == "given" and "generated by fake-model (neg-gen)" in rows[ppid]["source"]
    assert rows[ppid]["text"] == str(given["text"].iloc[0])
    card_event(at, "decide", pid=ppid, d="reject")  # its Reject button in the candidate view
    assert store.decisions(pid, qid).set_index("passage_id").loc[ppid, "decision"] == "reject"
    # "accept all remaining" takes the other generated negatives of the query too
    at.button(key=K.W_ACCEPT_REST).click().run()
    left = review.load_query(store, pid, run_id, qid, reviewer="tester")  # the app's reviewer
    assert left.given["decision"].notna().all() and left.counts()["undecided"] == 0
    # the rejected one is not exported, the key is in no file
    records = _export(at, tmp_path / "out")
    qtext = store.queries(pid).set_index("id").loc[qid, "text"]
    [rec] = [r for r in records if r["query"] == qtext]
    assert str(given["text"].iloc[0]) not in rec["neg"]
    # (read as bytes: the export also holds Parquet / Arrow files)
    assert all(KEY.encode() not in p.read_bytes() for p in (tmp_path / "out").rglob("*") if p.is_file())
    # back on the page, the key is still there for this session
    at.switch_page(AUGMENT).run()
    assert at.text_input(key=K.W_LLM_KEY).value == KEY


def test_llm_wrong_key_fails_clearly_without_leaking(
    new_app, store, tiny_csv: Path, fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    for var in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_MODEL"):
        monkeypatch.delenv(var, raising=False)
    fake_openai.api_key = "sk-the-right-one"
    pid = create_project(store, tiny_csv, name="tiny").project_id
    at = new_app(AUGMENT, project=pid)
    _llm_settings(at, fake_openai, KEY, ["paraphrase"])
    at.button(key=K.W_AUG_LLM).click().run()
    wait_until(at, lambda a: any("Augmentation failed" in t for t in texts(a.error)), timeout=120)
    errors = texts(at.error)
    assert not any(KEY in e for e in errors)
    assert KEY not in _dump_database(store)
    assert store.runs(pid, "augment")["status"].tolist() == ["failed"]
    assert (store.queries(pid)["origin"] == "data").all(), "nothing stored"


def test_generated_negative_comes_next_after_the_mined_ones(new_app, store, tiny_csv: Path) -> None:
    pid, run_id = make_project(store, tiny_csv, name="tiny")
    qid = int(review.query_order(store, pid, run_id)[0])
    text = "Acme <b>sells</b> **garden furniture** in Norway."
    store.add_derived(pid, negatives=[(qid, text, "llm:neg-gen:fake-model")])
    q = review.load_query(store, pid, run_id, qid)
    assert q.given["text"].tolist() == [text] and q.given["sources"].tolist() == ["llm:neg-gen:fake-model"]
    assert text not in set(q.other["text"]) | set(q.filtered["text"])
    for p in q.shown.loc[q.shown["status"] != review.GIVEN, "passage_id"]:
        review.decide(store, pid, qid, int(p), "reject", reviewer="tester")  # the app's reviewer
    at = new_app(REVIEW, project=pid)
    at.session_state[K.QUERY] = qid
    at.run()
    data = card_data(at)
    selected = {r["pid"]: r for r in data["rows"]}[data["select"]]
    assert selected["section"] == "given", "the first undecided candidate is the generated negative"
    assert selected["text"] == text, "user text shown literally"
    card_event(at, "decide", pid=data["select"], d="accept")  # "A" on the selected row
    assert not at.exception
    given_id = int(q.given["passage_id"].iloc[0])
    assert store.decisions(pid, qid).set_index("passage_id").loc[given_id, "decision"] == "accept"


# --------------------------------------------------------------------------- teacher scores


def _score(at) -> None:  # noqa: ANN001
    at.button(key=K.W_SCORE).click().run()
    assert not at.exception
    wait_until(at, lambda a: any("Scored" in t for t in texts(a.success)), timeout=300)


def _check_review_and_export(at, store: Store, pid: int, run_id: int, out: Path) -> None:  # noqa: ANN001
    teacher = review.latest_teacher(store, pid)
    assert teacher is not None
    tid = teacher["teacher_id"]
    qtexts = store.queries(pid).set_index("id")["text"]
    # Review: the teacher's raw score next to every candidate and positive, labelled with the teacher
    qid = int(review.query_order(store, pid, run_id)[0])
    at.switch_page(REVIEW).run()
    at.session_state[K.QUERY] = qid
    at.run()
    assert not at.exception and not at.error
    q = review.load_query(store, pid, run_id, qid, teacher=tid)
    assert len(q.shown) and q.shown["teacher_score"].notna().all()
    assert q.positives["teacher_score"].notna().all()
    assert any(review.teacher_label(teacher) in c for c in texts(at.caption))
    data = card_data(at)
    assert data["teacher"], "the candidate view has a teacher column"
    shown = {r["text"]: r["teacher"] for r in data["rows"]} | {
        p["text"]: p["teacher"] for p in data["positives"]
    }
    qh = text_hash(str(qtexts[qid]))
    for text in list(q.shown["text"]) + list(q.positives["text"]):
        score = store.get_teacher_scores(tid, [(qh, text_hash(text))])[(qh, text_hash(text))]
        assert shown[text] == pytest.approx(score, abs=1e-3), text
    # Export: pos_scores / neg_scores aligned one to one with pos / neg (raw = the cached scores)
    at.switch_page(EXPORT).run()
    at.checkbox(key=K.W_EX_TEACHER).check().run()
    assert at.text_input(key=K.W_EX_TEACHER_MODEL).value == teacher["model"]
    records = _export(at, out)
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["teacher"]["teacher_id"] == tid
    for r in records:
        assert len(r["pos_scores"]) == len(r["pos"]) and len(r["neg_scores"]) == len(r["neg"])
        h = text_hash(r["query"])
        cached = store.get_teacher_scores(tid, [(h, text_hash(t)) for t in r["pos"] + r["neg"]])
        expected = [round(cached[(h, text_hash(t))], 6) for t in r["pos"] + r["neg"]]
        assert r["pos_scores"] + r["neg_scores"] == pytest.approx(expected, abs=1e-6)


def test_teacher_scores_in_review_and_export(new_app, store, tiny_csv: Path, tmp_path: Path) -> None:
    pid, run_id = make_project(store, tiny_csv, name="tiny")
    qid = int(store.queries(pid)["id"].iloc[0])
    store.add_derived(
        pid, negatives=[(qid, "Acme sells garden furniture in Norway.", "llm:neg-gen:fake-model")]
    )
    at = new_app(AUGMENT, project=pid, encoder=HashingEncoder())
    assert at.text_input(key=K.W_TEACHER_MODEL).value == "default"
    _score(at)
    runs = store.runs(pid, "score")
    assert runs["status"].tolist() == ["done"]
    assert json.loads(runs["config"].iloc[0])["mine_run"] == run_id
    assert at.dataframe[-1].value["run"].tolist() == [int(runs["id"].iloc[0])]
    # the generated negative is scored too and shows its score in review
    tid = review.latest_teacher(store, pid)["teacher_id"]
    q = review.load_query(store, pid, run_id, qid, teacher=tid)
    assert q.given["teacher_score"].notna().all() and len(q.given) == 1
    _check_review_and_export(at, store, pid, run_id, tmp_path / "out")


def test_scores_need_a_mining_run(new_app, store, tiny_csv: Path) -> None:
    pid = create_project(store, tiny_csv, name="tiny").project_id
    at = new_app(AUGMENT, project=pid)
    assert any("Mine first" in t for t in texts(at.info))


@pytest.mark.integration
def test_teacher_scores_with_the_bundled_model(new_app, store, tiny_csv: Path, tmp_path: Path) -> None:
    pid, run_id = make_project(store, tiny_csv, name="tiny")
    at = new_app(AUGMENT, project=pid)
    at.selectbox(key=K.W_TEACHER_KIND).set_value("bi").run()
    _score(at)
    teacher = review.latest_teacher(store, pid)
    assert teacher["kind"] == "bi" and "all-MiniLM-L6-v2" in teacher["teacher_id"]
    _check_review_and_export(at, store, pid, run_id, tmp_path / "out")


# --------------------------------------------------------------------------- safe defaults, preview, first N


def _page_texts(at) -> list[str]:  # noqa: ANN001
    """Every message, caption, label and help text on the page."""
    out = texts(at.info) + texts(at.error) + texts(at.warning) + texts(at.caption) + texts(at.markdown)
    for widgets in (at.text_input, at.multiselect, at.number_input, at.button, at.selectbox, at.checkbox):
        out += [str(w.label) for w in widgets] + [str(getattr(w, "help", "") or "") for w in widgets]
    return out


def test_llm_is_off_without_an_endpoint_and_says_why(
    new_app, store, tiny_csv: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for var in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_MODEL"):
        monkeypatch.delenv(var, raising=False)
    pid = create_project(store, tiny_csv, name="tiny").project_id
    at = new_app(AUGMENT, project=pid)
    assert at.text_input(key=K.W_LLM_URL).value == ""
    assert any(t == NO_ENDPOINT for t in texts(at.info)), texts(at.info)
    assert "api.openai.com" not in " ".join(_page_texts(at))
    assert at.multiselect(key=K.W_LLM_TASKS).disabled and at.text_input(key=K.W_LLM_MODEL).disabled
    assert at.text_input(key=K.W_LLM_KEY).disabled and at.button(key=K.W_AUG_LLM).disabled
    assert not at.text_input(key=K.W_LLM_URL).disabled, "the one field that turns it on"
    # app language: no CLI flag anywhere on the page
    assert not [t for t in _page_texts(at) if re.search(r"(^|\s)--[a-z]", t)]
    # typing an endpoint turns the section on; without a model the start button stays off, with a hint
    at.text_input(key=K.W_LLM_URL).input("http://127.0.0.1:9/v1").run()
    assert not at.multiselect(key=K.W_LLM_TASKS).disabled
    assert not any(t == NO_ENDPOINT for t in texts(at.info))
    at.multiselect(key=K.W_LLM_TASKS).set_value(["paraphrase"]).run()
    assert at.button(key=K.W_AUG_LLM).disabled and not at.error
    assert any("name of a model" in c for c in texts(at.caption))


def test_url_credentials_are_not_shown_or_stored(
    new_app, store, tiny_csv: Path, fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    for var in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_MODEL"):
        monkeypatch.delenv(var, raising=False)
    fake_openai.api_key = "sk-the-right-one"  # basic auth from the URL is refused: 401
    password = "url-pw-5150"
    pid = create_project(store, tiny_csv, name="tiny").project_id
    at = new_app(AUGMENT, project=pid)
    at.text_input(key=K.W_LLM_URL).input(f"http://bob:{password}@127.0.0.1:{fake_openai.port}/v1").run()
    at.multiselect(key=K.W_LLM_TASKS).set_value(["paraphrase"])
    at.text_input(key=K.W_LLM_MODEL).input("fake-model")
    at.run()
    at.button(key=K.W_AUG_LLM).click().run()
    wait_until(at, lambda a: any("Augmentation failed" in t for t in texts(a.error)), timeout=120)
    assert any("rejected the request (401)" in t for t in texts(at.error))
    assert not any(password in t for t in texts(at.error))
    assert password not in _dump_database(store)
    assert fake_openai.requests, "the typed endpoint was called"


def test_preview_rows_can_be_removed_before_adding_and_first_n_is_kept(
    new_app, store, tiny_csv: Path
) -> None:
    pid = create_project(store, tiny_csv, name="tiny").project_id
    at = new_app(AUGMENT, project=pid)
    at.number_input(key=K.W_AUG_MAX).set_value(5)
    at.multiselect(key=K.W_AUG_OPS).set_value(["swap"])
    at.number_input(key=K.W_AUG_N).set_value(2)
    at.number_input(key=K.W_AUG_RATE).set_value(0.3)
    at.run()
    at.button(key=K.W_AUG_EDA).click().run()
    wait_until(at, lambda a: any(b.key == K.W_AUG_ADD for b in a.button))
    assert at.number_input(key=K.W_AUG_MAX).value == 5, "the first-N field kept its value"
    preview = at.session_state[K.AUG_PREVIEW][1]
    assert preview.stats["source_samples"] == 5 and len(preview.items) >= 4
    table = at.data_editor(key=K.aug_preview(preview.run_id)).value
    assert table["keep"].all() and table["text"].tolist() == [i.text for i in preview.items]
    # untick row 0, delete row 1 (what a user does in the table), then add the rest
    at.session_state[K.aug_preview(preview.run_id)] = {
        "edited_rows": {"0": {"keep": False}}, "added_rows": [], "deleted_rows": [1],
    }  # fmt: skip
    at.run()
    n = len(preview.items) - 2
    assert at.button(key=K.W_AUG_ADD).label == f"Add {n} samples"
    at.button(key=K.W_AUG_ADD).click().run()
    assert not at.exception and not at.error
    derived = store.queries(pid).query("origin != 'data'")
    assert set(derived["text"]) == {i.text for i in preview.items[2:]}
    assert preview.items[0].text not in set(derived["text"]) and preview.items[1].text not in set(
        derived["text"]
    )
    assert not any(b.key == K.W_AUG_ADD for b in at.button), "the preview is gone once added"
    # the first-N field survives a visit to another page too
    at.switch_page(REVIEW).run()
    at.switch_page(AUGMENT).run()
    assert at.number_input(key=K.W_AUG_MAX).value == 5
