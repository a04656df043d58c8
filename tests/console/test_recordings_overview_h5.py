"""GET /api/recordings/overview: the playback timeline's segments, gaps and event marks."""

from __future__ import annotations

from fastapi.testclient import TestClient

from hallwatch.events import Event
from hallwatch.store import Store
from recordings.index import SegmentIndex
from tests.console.test_recordings_api import recorded  # noqa: F401
from tests.recordings.feed import WALL_BASE

Recorded = tuple[TestClient, Store, SegmentIndex]


def add(store: Store, kind: str, camera: str, start: float, end: float | None) -> int:
    event = store.add_event(Event(kind, camera, start, start, window="W01", end=end))
    assert event.id is not None
    return event.id


def test_overview_adds_the_cameras_events_to_segments_and_gaps(
    recorded: Recorded,  # noqa: F811
) -> None:
    client, store, _ = recorded
    before = add(store, "counter_vacant", "cam01", WALL_BASE - 100, WALL_BASE - 50)  # ended before
    inside = add(store, "counter_vacant", "cam01", WALL_BASE + 1, WALL_BASE + 3)
    still_open = add(store, "queue_buildup", "cam01", WALL_BASE - 5, None)
    add(store, "counter_vacant", "cam02", WALL_BASE + 1, WALL_BASE + 2)  # another camera
    add(store, "counter_vacant", "cam01", WALL_BASE + 70, None)  # after the range
    params = {"camera": "cam01", "from": WALL_BASE - 10, "to": WALL_BASE + 60}
    answer = client.get("/api/recordings/overview", params=params)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    plain = client.get("/api/recordings", params=params).json()
    assert body["segments"] == plain["segments"] and body["gaps"] == plain["gaps"]
    assert len(body["segments"]) == 2
    assert [e["id"] for e in body["events"]] == [still_open, inside]
    assert body["events"][1] == {"id": inside, "type": "counter_vacant", "window": "W01",
                                 "start": WALL_BASE + 1, "end": WALL_BASE + 3}  # fmt: skip
    assert before not in [e["id"] for e in body["events"]]
    assert body["truncated"] is False


def test_overview_validation_names_the_fields(recorded: Recorded) -> None:  # noqa: F811
    client, _, _ = recorded
    bad = client.get("/api/recordings/overview", params={"camera": "nope", "from": 10, "to": 5})
    assert bad.status_code == 422
    assert {tuple(d["loc"]) for d in bad.json()["detail"]} == {("query", "camera"), ("query", "to")}
    long = client.get("/api/recordings/overview",
                      params={"camera": "cam01", "from": 0, "to": 8 * 24 * 3600})  # fmt: skip
    assert long.status_code == 422
    assert [d["loc"] for d in long.json()["detail"]] == [["query", "to"]]


def test_overview_needs_a_login(recorded: Recorded) -> None:  # noqa: F811
    client, _, _ = recorded
    client.cookies.clear()
    answer = client.get("/api/recordings/overview", params={"camera": "cam01", "from": 0, "to": 5})
    assert answer.status_code == 401


def test_overview_keeps_to_the_users_halls(recorded: Recorded) -> None:  # noqa: F811
    client, store, _ = recorded
    params = {"camera": "cam01", "from": WALL_BASE, "to": WALL_BASE + 60}
    assert client.get("/api/recordings/overview", params=params).status_code == 200
    store.update_user("insp", halls=["H9"])  # cam01 has no hall: only unlimited users see it
    assert client.get("/api/recordings/overview", params=params).status_code == 403
