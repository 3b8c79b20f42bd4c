"""Mine page: settings, background run with progress, cancel, summary, invalid settings."""

from __future__ import annotations

import time
from pathlib import Path

from support.app import texts, wait_until
from support.encoders import HashingEncoder

from app_pages._common import K, get_job
from embcore.progress import report
from embcore.workflow import create_project


class SlowEncoder(HashingEncoder):
    """A fake encoder that reports progress slowly, so that a test can cancel mid-run."""

    def encode(self, texts, *, prompt=None, batch_size=64, progress=None):  # noqa: ANN001, ANN201
        for i in range(200):
            time.sleep(0.05)
            report(progress, "encode", i + 1, 200)
        return super().encode(texts, prompt=prompt, batch_size=batch_size)


def _bm25_settings(at) -> None:  # noqa: ANN001
    at.multiselect(key=K.W_STRATEGIES).set_value(["bm25"])
    at.selectbox(key=K.W_FILTER).set_value("none")
    at.number_input(key=K.W_NEAR_DUP).set_value(0.0)
    at.number_input(key=K.W_NUM_NEG).set_value(3)
    at.run()


def test_mine_bm25_in_background_and_summary(new_app, store, tiny_csv: Path) -> None:
    pid = create_project(store, tiny_csv, name="tiny").project_id
    at = new_app("app_pages/mine.py", project=pid)
    assert any("No finished mining run" in t for t in texts(at.info))
    _bm25_settings(at)
    assert not at.error
    at.button(key=K.W_MINE).click().run()
    assert not at.exception
    wait_until(at, lambda a: any("finished" in t for t in texts(a.success)))
    run_id = store.latest_run(pid)
    assert run_id is not None and at.session_state[K.RUN] == run_id
    per_query = store.selected_counts(run_id)
    n, selected = store.candidate_count(run_id=run_id), int(per_query["n"].sum())
    assert n > 0 and 0 < selected <= 3 * 8
    with_negs = len(per_query)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Selected negatives"] == str(selected)
    assert metrics["Queries without negatives"] == str(8 - with_negs)
    assert store.get_run(run_id)["config"]["strategies"] == ["bm25"]
    assert len(at.get("plotly_chart")) == 1


def test_cancel_a_running_job(new_app, store, tiny_csv: Path) -> None:
    pid = create_project(store, tiny_csv, name="tiny").project_id
    at = new_app("app_pages/mine.py", project=pid, encoder=SlowEncoder())
    at.multiselect(key=K.W_STRATEGIES).set_value(["dense"]).run()
    at.button(key=K.W_MINE).click().run()
    job = get_job("mine", pid)
    assert job is not None and job.running
    assert at.get("progress"), "a running job shows a progress bar"
    assert at.button(key=K.W_CANCEL).proto.shortcut.lower() == "escape"
    at.button(key=K.W_CANCEL).click().run()
    job.thread.join(30)
    wait_until(at, lambda a: any("cancelled" in t for t in texts(a.warning)))
    runs = store.runs(pid, "mine")
    assert runs["status"].tolist() == ["cancelled"]
    assert store.candidate_count(pid=pid) == 0


def test_invalid_settings_show_an_error(new_app, store, tiny_csv: Path) -> None:
    pid = create_project(store, tiny_csv, name="tiny").project_id
    at = new_app("app_pages/mine.py", project=pid)
    at.number_input(key=K.W_RANGE_MIN).set_value(5)
    at.number_input(key=K.W_RANGE_MAX).set_value(3)
    at.run()
    assert not at.exception
    assert any("range_max" in t for t in texts(at.error))
    assert at.button(key=K.W_MINE).disabled


def test_mine_page_needs_a_project(new_app) -> None:
    at = new_app("app_pages/mine.py")
    assert any("Data page" in t for t in texts(at.info))


KILLED_RUN = """
import sys, time
from embcore.store import Store
from embcore.workflow import create_project
store = Store(sys.argv[1])
pid = create_project(store, sys.argv[2], name="tiny").project_id
with store.recorded_run(pid, "mine", {"strategies": ["bm25"]}) as run:
    print(pid, run.id, flush=True)
    time.sleep(600)
"""


def test_a_run_killed_mid_way_shows_as_interrupted(
    new_app, db_path: Path, tiny_csv: Path, tmp_path: Path
) -> None:
    # Issue 9.4: a run whose process was killed stayed "running" forever.
    import os
    import signal
    import subprocess
    import sys

    script = tmp_path / "killed_run.py"
    script.write_text(KILLED_RUN, encoding="utf-8")
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(root) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.Popen(
        [sys.executable, str(script), str(db_path), str(tiny_csv)], stdout=subprocess.PIPE, text=True, env=env
    )
    pid, run_id = map(int, proc.stdout.readline().split())  # type: ignore[union-attr]
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    at = new_app("app_pages/mine.py", project=pid)  # the app opens the database: the run is marked
    assert any("were interrupted" in t for t in texts(at.warning))
    table = at.dataframe[0].value
    assert table["id"].tolist() == [run_id] and "ended before the run finished" in table["error"].iloc[0]
