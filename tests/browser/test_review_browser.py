"""The Review page in a real headless Chromium: a burst of key presses gives exactly what slow
typing gives, a stale tab is refused visibly, done / undo, the query's own positive, the compact
view with metadata and per-retriever columns, keyboard selection and J/K, bulk actions with a
confirmed count undone from the history.

Each test starts ``streamlit run app.py`` on its own DuckDB file (the bundled sample, mined in
the test process), drives Debian's Chromium through Playwright, stops the server and then
reads the decisions from the file.
"""

from __future__ import annotations

import re

import pytest
from support.browser import card_rows, card_settled, idle, open_review, press, review_state

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# 20 presses over several queries: decisions, selection by number, undo, done, navigation
BURST = ["a", "x", "a", "j", "x", "a", "p", "j", "2", "x", "u", "a", "j", "a", "a", "d", "k", "x", "j", "a"]


def _page(browser, url: str):  # noqa: ANN001, ANN202
    page = browser.new_page(viewport={"width": 1440, "height": 1100})
    page.set_default_timeout(120_000)
    open_review(page, url)
    return page


def test_key_burst_gives_what_slow_typing_gives(review_server, chromium) -> None:
    """Issue 9.1: 20 presses 50 ms apart end in exactly the decisions of the same presses typed slowly."""
    results = {}
    for name, gap in (("slow", 0), ("fast", 50)):
        url, db = review_server(name)
        page = _page(chromium, url)
        press(page, BURST, gap)
        if name == "fast":
            waiting = page.evaluate("window.__embcoreReview.maxWaiting")
            assert waiting >= 3, f"the presses overlapped the round trips (at most {waiting} waiting)"
            assert not page.get_by_text("Not applied").count(), "a burst of one tab is never refused"
        page.close()
        review_server.stop(name)
        results[name] = review_state(db)
    decisions, reviewed = results["slow"]
    assert len(decisions) >= 8 and reviewed, "the sequence decides and finishes queries"
    assert results["fast"] == results["slow"]


def test_stale_tab_is_refused_visibly(review_server, chromium) -> None:
    """Issue 9.2: tab B did not see tab A's accept; its reject is refused, B says so and redraws."""
    url, db = review_server("tabs")
    a = chromium.new_context(viewport={"width": 1440, "height": 1100})
    b = chromium.new_context(viewport={"width": 1440, "height": 1100})
    page_a, page_b = a.new_page(), b.new_page()
    drawn_a, drawn_b = open_review(page_a, url), open_review(page_b, url)
    assert drawn_a["qid"] == drawn_b["qid"] and drawn_a["sel"] == drawn_b["sel"]
    target = drawn_a["sel"]
    press(page_a, ["a"], 0)
    for key in ("x", "a", "a"):  # B still shows version 0: X is refused, the keys typed behind it dropped
        page_b.keyboard.press(key)
    card_settled(page_b)
    page_b.get_by_text("Not applied").wait_for()
    page_b.get_by_text("2 keys typed after the refused one dropped").wait_for()
    idle(page_b)
    rows_b = {r["pid"]: r for r in card_rows(page_b)}
    assert rows_b[target]["decision"] == "accept", "B was redrawn with A's decision"
    # now that B shows the current state, its next press applies
    press(page_b, ["2", "x"], 0)
    a.close()
    b.close()
    review_server.stop("tabs")
    decisions, _ = review_state(db)
    second = [r["pid"] for r in rows_b.values() if r["section"] != "filtered"][1]
    assert decisions == {(drawn_a["qid"], target): "accept", (drawn_a["qid"], second): "reject"}


def test_done_and_undo(review_server, chromium) -> None:
    """Issue 10.1: reviewed only on done or when every candidate is decided; undo restores exactly."""
    url, db = review_server("done")
    page = _page(chromium, url)
    first = card_settled(page)["qid"]
    badge = page.locator('[data-testid="review-card"] .rv-badge').first
    press(page, ["p"], 0)
    assert badge.inner_text() == "not reviewed"
    press(page, ["u"], 0)
    assert all(r["decision"] is None for r in card_rows(page))
    n = len([r for r in card_rows(page) if r["section"] != "filtered"])
    press(page, ["a"] * n, 0)
    assert badge.inner_text() == "reviewed: every candidate decided"
    press(page, ["u"], 0)
    assert badge.inner_text() == "not reviewed"
    press(page, ["d"], 0)
    assert card_settled(page)["qid"] != first, "done moves on"
    press(page, ["k"], 0)
    assert badge.inner_text() == "reviewed: done"
    press(page, ["u"], 0)
    assert badge.inner_text() == "not reviewed"
    page.close()
    review_server.stop("done")
    decisions, reviewed = review_state(db)
    assert first not in reviewed
    assert sum(1 for (q, _p), d in decisions.items() if q == first and d == "accept") == n - 1


def test_own_positive_has_no_accept(review_server, chromium) -> None:
    """Issue 10.3: the query's own positive (removed by the filters) offers no Accept, and A on it is refused."""
    url, db = review_server("own")
    page = _page(chromium, url)
    qid = card_settled(page)["qid"]
    card = page.locator('[data-testid="review-card"]')
    card.get_by_text("Removed by the false-negative filters").click()
    own = card.locator('tr.row[data-section="filtered"]').filter(has_text="own positive")
    assert own.count() >= 1
    assert own.first.locator('button[data-act="accept"]').count() == 0
    assert own.first.locator('button[data-act="reject"]').count() == 1
    own.first.locator("td.txt").click()  # select it, then press A
    press(page, ["a"], 0)
    card.get_by_text("cannot be accepted as a negative").wait_for()
    page.close()
    review_server.stop("own")
    decisions, _ = review_state(db)
    assert not [k for k in decisions if k[0] == qid]


def test_compact_view_with_metadata_and_retrievers(review_server, chromium) -> None:
    """Issue 10.5: one compact table with ranks, similarities, metadata; what each retriever ranked on top."""
    url, _db = review_server("view", strategies="hybrid", num_negatives=7)
    page = _page(chromium, url)
    card = page.locator('[data-testid="review-card"]')
    heads = card.locator("table.rv-t").first.locator("th").all_inner_texts()
    for col in ("BM25", "Dense", "Sim q", "Sim pos", "ticker", "filing", "Candidate passage"):
        assert col in heads, heads
    main = card.locator("table.rv-t").first.locator("tr.row")
    assert main.count() == 7
    height = card.locator("table.rv-t").first.bounding_box()["height"]
    assert height < 900, f"7 candidates take {height:.0f} px (3,174 before)"
    ticker_col = heads.index("ticker")
    tickers = [main.nth(i).locator("td").nth(ticker_col).inner_text() for i in range(7)]
    assert all(t and t != "–" for t in tickers), "the candidate's company on every row"
    assert card.locator("td.m.diff").count() >= 1, "a negative from another company is marked"
    tops = card.locator(".tops")
    bm25, dense = tops.locator('[data-retriever="bm25"] li'), tops.locator('[data-retriever="dense"] li')
    assert bm25.count() == 10 and dense.count() == 10
    data = page.evaluate("window.__embcoreReview.data.tops")
    assert tops.locator("li.both").count() == 2 * data["overlap"]
    assert any(t["status"] != "selected" for t in data["bm25"] + data["dense"]), (
        "filtered / kept ones included"
    )
    assert card.locator("mark").count() > 0, "shared terms are highlighted"
    page.close()


def test_keyboard_select_decide_and_jk_scroll_to_top(review_server, chromium) -> None:
    """Issue 10.7: 1-9 / arrows select, A/X/P decide the selected one, J/K go to the new query's top."""
    url, db = review_server("keys", num_negatives=7)
    page = _page(chromium, url)
    page.get_by_text("next in queue").first.wait_for()  # the shortcuts are listed on screen
    qid = card_settled(page)["qid"]
    rows = [r["pid"] for r in card_rows(page) if r["section"] != "filtered"]
    press(page, ["3"], 0)
    assert [r["pid"] for r in card_rows(page) if r["selected"]] == [rows[2]]
    press(page, ["x"], 0)  # X rejects row 3; the selection moves on to the next undecided one, row 4
    assert [r["pid"] for r in card_rows(page) if r["selected"]] == [rows[3]]
    press(page, ["ArrowUp", "ArrowUp", "p"], 0)  # row 2 becomes a positive; then row 4 again
    press(page, ["ArrowDown", "a"], 0)  # row 5
    main = page.locator('[data-testid="stMain"]')
    main.evaluate("m => m.scrollTo(0, m.scrollHeight)")
    assert main.evaluate("m => m.scrollTop") > 0
    press(page, ["j"], 0)
    assert card_settled(page)["qid"] != qid
    page.wait_for_function("() => document.querySelector('[data-testid=\"stMain\"]').scrollTop === 0")
    page.close()
    review_server.stop("keys")
    decisions, _ = review_state(db)
    assert decisions == {(qid, rows[2]): "reject", (qid, rows[1]): "positive", (qid, rows[4]): "accept"}


def test_bulk_action_is_confirmed_and_undone_from_history(review_server, chromium) -> None:
    """Issue 10.8 / 10.9: the count is confirmed, the bulk action is one step undone from the history."""
    url, db = review_server("bulk", strategies="hybrid")
    page = _page(chromium, url)
    page.get_by_text("Bulk actions").click()
    idle(page)
    assert page.get_by_label("Queries matching the filters (96)").is_checked(), (
        "scope defaults to the filters"
    )
    ask = page.get_by_role("button", name=re.compile(r"^Accept [\d,]+ candidates"))
    label = ask.inner_text()
    n = int(label.split()[1].replace(",", ""))
    assert n > 0
    ask.click()
    idle(page)
    page.get_by_text(f"{n:,} candidates in").first.wait_for()
    page.get_by_role("button", name=f"Confirm: accept {n:,}").click()
    page.get_by_text("undo it in History").wait_for()
    idle(page)
    page.get_by_text("History (undo)").click()
    idle(page)
    page.get_by_test_id("stRadioGroup").get_by_text("Whole project", exact=True).click()
    idle(page)
    row = page.get_by_text("bulk: accepted").first
    row.wait_for()
    page.locator('[class*="st-key-w-review-undo-"] button').first.click()
    page.get_by_text("Undid #").wait_for()
    idle(page)
    page.close()
    review_server.stop("bulk")
    decisions, _ = review_state(db)
    assert decisions == {}
