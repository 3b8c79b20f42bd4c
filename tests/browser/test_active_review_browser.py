"""Issue 14 in a real headless Chromium: corpus search -> add as a negative, flag -> left out of the
export, two reviewers -> kappa shown on the Agreement page, adjudication -> the export follows it.

Each test starts ``streamlit run app.py`` on its own DuckDB file (the bundled sample, mined with
BM25 + dense retrieval by the fake encoder), drives Chromium by keyboard where the page offers
keys, stops the server and reads the database and the exported files.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support.browser import card_rows, card_settled, idle, open_review, shot

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _page(browser, url: str, reviewer: str):  # noqa: ANN001, ANN202
    page = browser.new_page(viewport={"width": 1440, "height": 1200})
    page.set_default_timeout(120_000)
    open_review(page, url, reviewer)
    return page


def _data(page) -> dict:  # noqa: ANN001
    return page.evaluate("window.__embcoreReview.data")


def _export(page, out: Path) -> Path:  # noqa: ANN001
    """Export from the Export page into ``out``; returns the folder of the new version."""
    page.get_by_role("link", name="Export").click()
    field = page.get_by_label("Output folder")
    field.fill(str(out))
    field.press("Enter")
    idle(page)
    page.get_by_role("button", name="Export", exact=True).click()
    page.get_by_text("written to").wait_for()
    idle(page)
    return (out / "current").resolve()


def _records(version: Path) -> list[dict]:
    return [
        json.loads(x)
        for s in ("train", "val", "test")
        for x in (version / f"{s}.jsonl").read_text().splitlines()
    ]


def test_corpus_search_then_add_as_negative(review_server, chromium) -> None:
    from embcore.store import Store

    url, db = review_server("search", strategies="hybrid")
    page = _page(chromium, url, "alice")
    qid = card_settled(page)["qid"]
    known = {r["pid"] for r in card_rows(page)}
    page.keyboard.press("/")  # focuses the corpus search
    page.keyboard.type("employees represented by unions")
    page.keyboard.press("Enter")
    page.locator('[data-testid="review-card"] [data-testid="rv-search"]').wait_for()
    idle(page)
    card_settled(page)
    page.keyboard.press("Escape")  # back to the review keys
    rows = card_rows(page)
    hits = [r for r in rows if r["section"] == "search"]
    assert hits, "the hits are rows of the candidate view"
    target = next(r["pid"] for r in hits if r["pid"] not in known)
    # arrows walk down to it (past the candidates), A adds it as a negative
    order = [r["pid"] for r in rows if r["section"] != "filtered"]
    page.keyboard.press("1")
    for _ in range(order.index(target)):
        page.keyboard.press("ArrowDown")
    assert card_settled(page)["sel"] == target
    page.keyboard.press("a")
    card_settled(page)
    idle(page)
    listed = [r for r in card_rows(page) if r["pid"] == target]
    assert {(r["section"], r["decision"]) for r in listed} == {("given", "accept"), ("search", "accept")}, (
        "now listed with the query's candidates, accepted (and still among the hits)"
    )
    shot(page, "review_search")
    page.close()
    review_server.stop("search")
    with Store(db, read_only=True) as store:
        given = store.given_negatives(1)
        assert given[(given["query_id"] == qid) & (given["passage_id"] == target)]["origin"].tolist() == [
            "search"
        ]
        assert store.decisions(1, qid).set_index("passage_id").loc[target, "decision"] == "accept"
        votes = store.reviewer_votes(1)
        mine = votes[(votes["query_id"] == qid) & (votes["passage_id"] == target)]
        assert list(zip(mine["reviewer"], mine["decision"], strict=True)) == [("alice", "accept")]
        pool = store.negative_pool(1, 1)
        assert target in set(pool[pool["query_id"] == qid]["passage_id"])


def test_flag_by_keyboard_leaves_the_query_out_of_the_export(review_server, chromium, tmp_path: Path) -> None:
    url, db = review_server("flag", strategies="hybrid")
    page = _page(chromium, url, "alice")
    text = _data(page)["query"]["text"]
    page.keyboard.press("f")  # opens the flag form and focuses the reason
    reason = page.get_by_label("Reason (shown in the export manifest counts)")
    reason.wait_for()
    idle(page)
    page.get_by_text("bad query", exact=True).click()
    idle(page)
    reason.fill("two questions in one")
    reason.press("Enter")
    idle(page)
    page.get_by_role("button", name="Save the flag").click()
    idle(page)
    page.get_by_text("Flag saved: flagged: bad query").wait_for()
    version = _export(page, tmp_path / "out")
    page.close()
    review_server.stop("flag")
    records = _records(version)
    assert records and all(r["query"] != text for r in records)
    manifest = json.loads((version / "manifest.json").read_text())
    assert manifest["removed"]["flagged_bad_query"] == 1
    queries = (version / "eval" / "queries.jsonl").read_text()
    assert json.dumps(text, ensure_ascii=False)[1:-1] not in queries


def test_two_reviewers_kappa_then_adjudication_drives_the_export(
    review_server, chromium, tmp_path: Path
) -> None:
    url, db = review_server("team", strategies="hybrid")
    alice = chromium.new_context(viewport={"width": 1440, "height": 1200})
    bob = chromium.new_context(viewport={"width": 1440, "height": 1200})
    pa, pb = alice.new_page(), bob.new_page()
    for p in (pa, pb):
        p.set_default_timeout(120_000)
    open_review(pa, url, "alice")
    open_review(pb, url, "bob")
    first = [r for r in card_rows(pa) if r["section"] == "mined"][:3]
    text_of = {r["pid"]: r["text"] for r in _data(pa)["rows"]}
    query = _data(pa)["query"]["text"]
    # alice: accept, accept, reject; bob: accept, reject, reject (each keeps a private view)
    for key in ("a", "a", "x"):
        pa.keyboard.press(key)
        card_settled(pa)
    for key in ("a", "x", "x"):
        pb.keyboard.press(key)
        card_settled(pb)
    idle(pb)
    assert [r["decision"] for r in card_rows(pb)][:3] == ["accept", "reject", "reject"]
    assert not pa.get_by_text("Not applied").count() and not pb.get_by_text("Not applied").count()
    # the Agreement page: Cohen's kappa of the pair = (2/3 - 4/9) / (1 - 4/9) = 0.4
    pa.get_by_role("link", name="Agreement").click()
    pa.get_by_text("Cohen's kappa per pair of reviewers").wait_for()
    idle(pa)
    table = pa.locator('[data-testid="stTable"]').first
    table.wait_for()
    cells = table.inner_text()
    assert "alice" in cells and "bob" in cells and "0.400" in cells.split(), cells
    pa.get_by_text("Disagreements (1").wait_for()
    shot(pa, "agreement")
    # alice adjudicates the disputed candidate (no lead named: every reviewer may) as a positive
    disputed = first[1]["pid"]
    pa.get_by_role("button", name="Positive").click()
    idle(pa)
    pa.get_by_text("adjudicated by alice").wait_for()
    version = _export(pa, tmp_path / "out")
    alice.close()
    bob.close()
    review_server.stop("team")
    records = _records(version)
    [rec] = [r for r in records if r["query"] == query]
    assert text_of[disputed] in rec["pos"], "the adjudicated positive is exported as one"
    assert text_of[first[0]["pid"]] in rec["neg"] and text_of[first[2]["pid"]] not in rec["neg"]
    manifest = json.loads((version / "manifest.json").read_text())
    [pair] = manifest["review"]["agreement"]["cohen_kappa"]
    assert pair["kappa"] == pytest.approx(0.4) and pair["items"] == 3
    assert manifest["review"]["agreement"]["resolved_by"]["adjudicated"] == 1
