"""The path Data -> Mine -> Review -> Export -> Train is shown in the sidebar of every page."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.app import make_project, unescape

from embcore.export.exporter import export_project
from embcore.review import model as review
from embcore.workflow import create_project

PAGES = [
    "app_pages/data.py",
    "app_pages/mine.py",
    "app_pages/review.py",
    "app_pages/augment.py",
    "app_pages/similarity.py",
    "app_pages/export.py",
    "app_pages/train.py",
]


def _stepper(at) -> list[str]:  # noqa: ANN001
    """The stepper's lines, as shown (escapes undone)."""
    [block] = [m for m in at.sidebar.markdown if "Data" in str(m.value) and "Train" in str(m.value)]
    return [unescape(line) for line in str(block.value).split("  \n")]


@pytest.mark.parametrize("page", PAGES)
def test_every_page_shows_where_the_project_stands(new_app, store, tiny_csv: Path, page: str) -> None:
    pid = create_project(store, tiny_csv, name="tiny").project_id
    at = new_app(page, project=pid)
    assert "Where this project stands" in [str(c.value) for c in at.sidebar.caption]
    assert _stepper(at) == [
        ":material/check_circle: Data · 8 samples",
        ":material/arrow_circle_right: **Mine** · no run yet",
        ":material/radio_button_unchecked: Review · 0 of 8 reviewed",
        ":material/radio_button_unchecked: Export · not exported yet",
        ":material/radio_button_unchecked: Train · not trained yet",
    ]


def test_the_stepper_follows_mining_review_and_export(new_app, store, tiny_csv: Path, tmp_path: Path) -> None:
    pid, run_id = make_project(store, tiny_csv, name="tiny")
    at = new_app("app_pages/review.py", project=pid)
    lines = _stepper(at)
    assert lines[1] == ":material/check_circle: Mine · 1 mining run"
    assert lines[2] == ":material/arrow_circle_right: **Review** · 0 of 8 reviewed"
    qid = int(review.query_order(store, pid, run_id)[0])
    store.set_done(pid, qid)
    export_project(store, pid, tmp_path / "out", run_id=run_id)
    at.run()
    assert _stepper(at)[2:] == [
        ":material/timelapse: Review · 1 of 8 reviewed",
        ":material/check_circle: Export · 1 export",
        ":material/arrow_circle_right: **Train** · not trained yet",
    ]
