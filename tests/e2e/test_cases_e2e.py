"""Cases end to end: a source key from the CLI, intake over HTTP to the running console, the
card in the live event feed at the window's camera, and the case's data surviving a restart."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from importlib import resources
from pathlib import Path

import httpx
import pytest

from tests.support.console_client import log_in
from tests.support.demo import demo
from tests.support.wait import wait_until

DEMO_CONFIG = Path(str(resources.files("hallwatch") / "demo" / "demo.yaml"))


def source_key(data_dir: Path, name: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "hallwatch.cli", "case-source", "add", name,
         "--config", str(DEMO_CONFIG), "--data-dir", str(data_dir)],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    answer = json.loads(done.stdout)
    assert answer["source"] == name
    return str(answer["api_key"])


def overdue_case(window: str) -> dict[str, object]:
    """Accepted 30 days ago with 3 working days promised: red (past the grace) on arrival."""
    accepted = dt.datetime.now(dt.UTC) - dt.timedelta(days=30)
    return {
        "type": "accepted", "event_id": "E2E-1", "case_id": "E2E-CASE-1",
        "at": accepted.isoformat(), "item_code": "ITEM-9", "item_name": "道路运输经营许可",
        "department": "交通运输局", "window_id": window, "applicant_type": "organization",
        "promised": {"amount": 3, "unit": "working_days"},
    }  # fmt: skip


@pytest.mark.slow
def test_a_case_sent_to_the_console_raises_its_card_in_the_feed(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    key = source_key(data_dir, "省政务服务平台")
    with (
        demo(data_dir, tmp_path / "demo.log") as (base, password),
        httpx.Client(base_url=base, timeout=10) as http,
    ):
        body = {"events": [overdue_case("W01")]}
        assert http.post("/api/intake/events", json=body).status_code == 401
        sent = http.post("/api/intake/events", json=body,
                         headers={"Authorization": f"Bearer {key}"})  # fmt: skip
        assert sent.status_code == 200, sent.text
        assert sent.json() == {"accepted": 1, "duplicates": 0, "cases": ["E2E-CASE-1"]}
        assert log_in(http, "admin", password).is_success
        cards = wait_until(
            lambda: [e for e in http.get("/api/events").json()["items"]
                     if e["type"] == "case_red"],
            10, "the red card in the event feed",
        )  # fmt: skip
        assert cards[0]["camera"] == "cam01" and cards[0]["window"] == "W01"
        assert cards[0]["details"]["case_id"] == "E2E-CASE-1"
        assert cards[0]["label"] == "办件红牌"
    listed = subprocess.run(
        [sys.executable, "-m", "hallwatch.cli", "case-source", "list",
         "--config", str(DEMO_CONFIG), "--data-dir", str(data_dir)],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    assert "省政务服务平台" in json.loads(listed.stdout)["sources"]
    stored = b"".join(path.read_bytes() for path in data_dir.glob("hallwatch.db*"))
    assert key.encode() not in stored  # only its hash is kept
