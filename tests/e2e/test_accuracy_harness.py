"""The accuracy harness (bench/accuracy.py): its pure scoring on hand-written inputs, its error
paths, and one whole run of `hallwatch analyze` on the labelled Intel clip."""

from __future__ import annotations

import hashlib
import json
import stat
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from analyzers.episodes import Delays
from bench.accuracy import (
    LABELS,
    AnalyzeOutput,
    ClipResult,
    CountScore,
    EventScore,
    HarnessError,
    Interval,
    Observation,
    PresenceScore,
    Settings,
    anchored,
    count_score,
    effective_site,
    episodes,
    evaluate,
    event_intervals,
    event_score,
    main,
    match_events,
    nearest_label,
    pair_samples,
    parse_labels,
    parse_output,
    parse_override,
    parse_select,
    presence_score,
    run,
    sample_counts,
    score_clip,
    table,
    with_override,
)
from hallwatch.config import load_site
from tests.footage import footage

SHA = "ab" * 32
LABEL_TEXT = f"""# free text before the header is fine
# clip: some_folder/clip.mp4
# sha256: {SHA.upper()}
# select: window=W01
# field: queue
# events: counter_vacant
# a note: with a colon, not a header key
t,count
0,0
1,2
2,1
"""
SITE_TEXT = """name: test
cameras:
  - {id: cam01, name: c, url: clip.mp4, kind: window}
windows:
  - id: W01
    name: w
    department: d
    camera: cam01
    staff_zone: [[0.1, 0.1], [0.9, 0.1], [0.9, 0.9]]
    staff_on_duty: 1
thresholds: {absence_delay_s: 2, return_delay_s: 1}
"""


def obs(*pairs: tuple[float, int]) -> tuple[Observation, ...]:
    return tuple(Observation(t, count) for t, count in pairs)


SECONDS = obs((0, 0), (1, 1), (2, 2), (3, 3))


# --- labels -----------------------------------------------------------------------------------


def test_parse_labels_reads_header_and_rows() -> None:
    labels = parse_labels("clip", LABEL_TEXT)
    assert labels.clip == "some_folder/clip.mp4"
    assert labels.sha256 == SHA
    assert labels.select == (("window", "W01"),)
    assert labels.field == "queue"
    assert labels.events == ("counter_vacant",)
    assert labels.counts == obs((0, 0), (1, 2), (2, 1))


def test_parse_labels_defaults_field_to_staff_and_no_events() -> None:
    text = LABEL_TEXT.replace("# field: queue\n", "").replace("# events: counter_vacant\n", "")
    labels = parse_labels("clip", text)
    assert labels.field == "staff"
    assert labels.events == ()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (LABEL_TEXT.replace("# sha256:", "# checksum:"), "lacks sha256"),
        (LABEL_TEXT.replace("# clip: some_folder/clip.mp4\n", ""), "lacks clip"),
        (LABEL_TEXT.replace("1,2\n", "1,two\n"), "line 10"),
        (LABEL_TEXT.replace("1,2\n", "1,-2\n"), "count >= 0"),
        (LABEL_TEXT.replace("1,2\n", "1,2,3\n"), "line 10"),
        (LABEL_TEXT.replace("2,1\n", "1,1\n"), "increasing t"),
        (LABEL_TEXT.split("t,count")[0], "increasing t"),  # no rows at all
        (LABEL_TEXT.replace("window=W01", "window"), "not key=value"),
    ],
)
def test_parse_labels_rejects(text: str, message: str) -> None:
    with pytest.raises(HarnessError, match=message):
        parse_labels("clip", text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("window=W01", (("window", "W01"),)),
        ("window=W01  camera=cam01", (("window", "W01"), ("camera", "cam01"))),
        ("", ()),
    ],
)
def test_parse_select(text: str, expected: tuple[tuple[str, str], ...]) -> None:
    assert parse_select(text) == expected


def test_the_committed_labels_parse_and_select_a_zone_of_their_site() -> None:
    paths = sorted(LABELS.glob("*.csv"))
    assert {path.stem for path in paths} >= {"intel_one_by_one", "queue_stock", "classroom"}
    for path in paths:
        labels = parse_labels(path.stem, path.read_text(encoding="utf-8"))
        site = load_site(path.with_suffix(".yaml"))
        ids = {
            "window": {window.id for window in site.windows},
            "queue_zone": {queue.id for queue in site.queues},
            "zone": {zone.id for camera in site.cameras for zone in camera.zones},
        }
        for key, value in labels.select:
            assert value in ids[key], (path.name, key, value)
        assert len(labels.sha256) == 64
        assert labels.counts[0].t == 0 and len(labels.counts) >= 10


# --- analyze output ---------------------------------------------------------------------------


def test_parse_output_keeps_known_kinds_and_ignores_the_rest() -> None:
    stdout = "\n".join(
        [
            '{"kind":"sample","t":1.0,"window":"W01","staff":1,"new_field":[1,2]}',
            '{"kind":"event","type":"counter_vacant","window":"W01","start":2.0,"end":null}',
            '{"kind":"future_kind","t":3}',
            "not json",
            "{broken json",
            "[1, 2]",
        ]
    )
    stderr = 'INFO detector loaded\n{"kind":"stats","frames":1,"wall_s":0.5}\n'
    output = parse_output(stdout, stderr)
    assert [line["t"] for line in output.samples] == [1.0]
    assert [line["type"] for line in output.events] == ["counter_vacant"]
    assert output.stats == {"kind": "stats", "frames": 1, "wall_s": 0.5}


def test_sample_counts_selects_the_zone_and_the_field() -> None:
    samples = [
        {"kind": "sample", "t": 0.0, "window": "W01", "staff": 1, "queue": 4},
        {"kind": "sample", "t": 0.0, "window": "W02", "staff": 0, "queue": 9},
        {"kind": "sample", "t": 1.0, "window": "W01", "staff": 0},  # no queue field
        {"kind": "sample", "t": 2.0, "window": "W01", "staff": 1, "queue": True},
        {"kind": "sample", "window": "W01", "queue": 3},  # no time
    ]
    assert sample_counts(samples, [("window", "W01")], "queue") == obs((0.0, 4))
    assert sample_counts(samples, [("window", "W01")], "staff") == obs((0, 1), (1, 0), (2, 1))


def test_event_intervals_filters_type_and_zone() -> None:
    events = [
        {"kind": "event", "type": "counter_vacant", "window": "W01", "start": 1, "end": 4.5},
        {"kind": "event", "type": "counter_vacant", "window": "W02", "start": 2, "end": 3},
        {"kind": "event", "type": "queue_buildup", "window": "W01", "start": 2, "end": 3},
        {"kind": "event", "type": "counter_vacant", "window": "W01", "start": 9, "end": None},
    ]
    found = event_intervals(events, "counter_vacant", [("window", "W01")])
    assert found == (Interval(1.0, 4.5), Interval(9.0, None))


# --- scoring ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("t", "expected"),
    [
        (0.0, 0.0),
        (0.49, 0.0),
        (0.51, 1.0),
        (1.5, 1.0),  # a tie goes to the earlier row
        (2.76, 3.0),
        (-0.5, 0.0),  # half a step before the first row
        (-0.51, None),
        (3.5, 3.0),
        (3.51, None),
    ],
)
def test_nearest_label(t: float, expected: float | None) -> None:
    found = nearest_label(t, SECONDS)
    assert (None if found is None else found.t) == expected


def test_nearest_label_with_uneven_rows_and_a_single_row() -> None:
    uneven = obs((0, 0), (10, 1), (10.5, 2))
    assert nearest_label(10.2, uneven) == Observation(10, 1)
    assert nearest_label(10.3, uneven) == Observation(10.5, 2)
    assert nearest_label(10.75, uneven) == Observation(10.5, 2)
    assert nearest_label(10.8, uneven) is None
    assert nearest_label(5.4, obs((5, 1))) == Observation(5, 1)
    assert nearest_label(5.6, obs((5, 1))) is None
    assert nearest_label(1.0, ()) is None


def test_pair_samples_drops_samples_without_a_label() -> None:
    detected = obs((0.1, 1), (1.9, 2), (9.0, 5))
    assert pair_samples(detected, SECONDS) == ((1, 0), (2, 2))


@pytest.mark.parametrize(
    ("pairs", "expected", "precision", "recall"),
    [
        ([], PresenceScore(), None, None),
        ([(1, 1), (2, 3)], PresenceScore(tp=2), 1.0, 1.0),
        ([(1, 0), (0, 0)], PresenceScore(fp=1, tn=1), 0.0, None),
        ([(0, 2), (1, 1)], PresenceScore(tp=1, fn=1), 1.0, 0.5),
        ([(1, 1), (1, 0), (0, 1), (0, 0)], PresenceScore(1, 1, 1, 1), 0.5, 0.5),
    ],
)
def test_presence_score(
    pairs: list[tuple[int, int]],
    expected: PresenceScore,
    precision: float | None,
    recall: float | None,
) -> None:
    score = presence_score(pairs)
    assert score == expected
    assert (score.precision, score.recall) == (precision, recall)


@pytest.mark.parametrize(
    ("pairs", "mae", "bias"),
    [
        ([], None, None),
        ([(3, 3)], 0.0, 0.0),
        ([(5, 3), (1, 3)], 2.0, 0.0),  # errors cancel in the bias, not in the MAE
        ([(4, 3), (4, 3), (3, 3), (0, 3)], 1.25, -0.25),
    ],
)
def test_count_score(pairs: list[tuple[int, int]], mae: float | None, bias: float | None) -> None:
    score = count_score(pairs)
    assert (score.mae, score.bias) == (mae, bias)


@pytest.mark.parametrize(
    ("counts", "expected"),
    [
        ([1, 1, 1], ()),
        ([0, 0, 0, 1, 1], (Interval(0, 3),)),  # absent 0-2, delay 2 reached at t=2, back at 3
        ([1, 0, 0, 1, 1], ()),  # absent for less than the delay
        ([1, 0, 0, 0, 1, 0, 1, 1], (Interval(1, 6),)),  # a 1 s return is not enough
        ([1, 0, 0, 0], (Interval(1, None),)),  # still open at the end
        ([0, 0, 0, 1, 1, 0, 0, 0], (Interval(0, 3), Interval(5, None))),
    ],
)
def test_episodes_of_vacancy(counts: list[int], expected: tuple[Interval, ...]) -> None:
    labels = obs(*enumerate(counts))
    found = episodes(labels, lambda count: count < 1, Delays(2.0, 1.0))
    assert found == expected


@pytest.mark.parametrize(
    ("labelled", "detected", "pairs"),
    [
        ([], [], ()),
        ([Interval(0, 5)], [Interval(1, 6)], ((0, 0),)),
        ([Interval(0, 5)], [Interval(6, 8)], ()),  # no overlap, no match
        ([Interval(0, 5)], [Interval(5, 8)], ()),  # touching is not overlapping
        # one detected event over two labelled ones: it goes to the one it overlaps most
        ([Interval(0, 2), Interval(3, 9)], [Interval(1, 8)], ((1, 0),)),
        # two detected events in one labelled: the longer overlap wins, the other is false
        ([Interval(0, 10)], [Interval(0, 2), Interval(4, 10)], ((0, 1),)),
        ([Interval(8, None)], [Interval(9, None)], ((0, 0),)),  # open ends meet at clip end
    ],
)
def test_match_events(
    labelled: list[Interval], detected: list[Interval], pairs: tuple[tuple[int, int], ...]
) -> None:
    assert match_events(labelled, detected, clip_end=20.0) == pairs


@pytest.mark.parametrize(
    ("labelled", "detected", "expected"),
    [
        ([Interval(0, 5)], [Interval(1, 6.5)], EventScore(1, 1, (1.0,), (1.5,), 0, 0)),
        ([Interval(0, 5), Interval(9, 12)], [Interval(0, 5)], EventScore(2, 1, (0,), (0,), 1, 0)),
        ([Interval(0, 5)], [Interval(0, 5), Interval(7, 8)], EventScore(1, 2, (0,), (0,), 0, 1)),
        ([Interval(10, None)], [Interval(11, 18)], EventScore(1, 1, (1.0,), (2.0,), 0, 0)),
        ([Interval(10, 18)], [Interval(10, None)], EventScore(1, 1, (0.0,), (2.0,), 0, 0)),
        ([], [Interval(1, 2)], EventScore(0, 1, (), (), 0, 1)),
    ],
)
def test_event_score(
    labelled: list[Interval], detected: list[Interval], expected: EventScore
) -> None:
    assert event_score(labelled, detected, clip_end=20.0) == expected


def test_scores_add_up_for_the_overall_row() -> None:
    a = ClipResult(
        "a", 10, 2.0, PresenceScore(1, 2, 3, 4), CountScore(2, 3, -1), EventScore(1, 1, (2.0,))
    )
    b = ClipResult("b", 30, 2.0, PresenceScore(1, 0, 0, 0), CountScore(2, 1, 1), EventScore(1, 0))
    total = a + b
    assert total.name == "overall"
    assert total.frames_per_s == 10.0
    assert total.presence == PresenceScore(2, 2, 3, 4)
    assert (total.counts.mae, total.counts.bias) == (1.0, 0.0)
    assert total.events.mean_start_error == 2.0
    assert total.events.labelled == 2


@given(st.lists(st.tuples(st.integers(0, 9), st.integers(0, 9)), max_size=40))
def test_count_and_presence_scores_cover_every_pair(pairs: list[tuple[int, int]]) -> None:
    presence, counts = presence_score(pairs), count_score(pairs)
    assert presence.tp + presence.fp + presence.fn + presence.tn == len(pairs) == counts.n
    if counts.mae is not None and counts.bias is not None:
        assert counts.mae >= abs(counts.bias)


intervals = st.builds(
    lambda start, length: Interval(start, None if length is None else start + length),
    st.floats(0, 50),
    st.one_of(st.none(), st.floats(0.1, 20)),
)


@given(st.lists(intervals, max_size=6), st.lists(intervals, max_size=6))
def test_matching_is_one_to_one_and_only_on_overlap(
    labelled: list[Interval], detected: list[Interval]
) -> None:
    pairs = match_events(labelled, detected, clip_end=80.0)
    assert len({i for i, _ in pairs}) == len({j for _, j in pairs}) == len(pairs)
    score = event_score(labelled, detected, clip_end=80.0)
    assert score.missed + len(pairs) == len(labelled)
    assert score.false + len(pairs) == len(detected)


# --- a whole clip, scored without running analyze ----------------------------------------------


def test_score_clip_with_events(tmp_path: Path) -> None:
    site_path = tmp_path / "site.yaml"
    site_path.write_text(SITE_TEXT, encoding="utf-8")
    text = LABEL_TEXT.replace("# field: queue", "# field: staff").split("t,count")[0]
    text += "t,count\n" + "".join(f"{t},{c}\n" for t, c in enumerate([0, 0, 0, 1, 1, 1, 1, 0]))
    labels = parse_labels("clip", text)
    lines = [{"kind": "sample", "t": t + 0.3, "window": "W01", "staff": c} for t, c in
             enumerate([0, 0, 0, 0, 1, 1, 2, 0])]  # fmt: skip
    lines.append({"kind": "sample", "t": 1.0, "window": "W02", "staff": 5})
    events = [
        {"kind": "event", "type": "counter_vacant", "window": "W01", "start": 0.3, "end": 4.3}
    ]
    output = AnalyzeOutput(tuple(lines), tuple(events), {"frames": 8, "wall_s": 4.0})
    result = score_clip(labels, load_site(site_path), output)
    assert result.presence == PresenceScore(tp=3, fn=1, tn=4)
    assert (result.counts.mae, result.counts.bias) == (2 / 8, 0.0)
    # labelled vacancy 0-3 (delay 2 s), the open one from t=7 is too short to count
    assert (result.events.labelled, result.events.missed, result.events.false) == (1, 0, 0)
    assert result.events.start_errors == pytest.approx((0.3,))
    assert result.events.end_errors == pytest.approx((1.3,))
    assert result.frames_per_s == 2.0
    assert "overall" in table([result])


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("events: counter_vacant", "events: queue_buildup_v0", "no labelled events for type"),
        ("select: window=W01", "select: window=W09", "select window=W09: no such window"),
        ("select: window=W01", "select: queue=Q1", "select queue=Q1: no such window"),
    ],
)
def test_score_clip_refuses_events_it_cannot_label(
    tmp_path: Path, old: str, new: str, message: str
) -> None:
    site_path = tmp_path / "site.yaml"
    site_path.write_text(SITE_TEXT, encoding="utf-8")
    labels = parse_labels("clip", LABEL_TEXT.replace(old, new))
    with pytest.raises(HarnessError, match=message):
        score_clip(labels, load_site(site_path), AnalyzeOutput((), (), None))


def test_score_clip_refuses_output_without_the_labelled_field(tmp_path: Path) -> None:
    site_path = tmp_path / "site.yaml"
    site_path.write_text(SITE_TEXT, encoding="utf-8")
    labels = parse_labels("clip", LABEL_TEXT)  # field: queue
    output = AnalyzeOutput(({"kind": "sample", "t": 0.0, "window": "W01", "staff": 1},), (), None)
    with pytest.raises(HarnessError, match="no sample line has window=W01 and a count in 'queue'"):
        score_clip(labels, load_site(site_path), output)


# --- overrides --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "path", "value"),
    [
        ("thresholds.absence_delay_s=5", ("thresholds", "absence_delay_s"), 5),
        ("analysis.crops=zones", ("analysis", "crops"), "zones"),
        ("analysis.motion_gate.enabled=false", ("analysis", "motion_gate", "enabled"), False),
        ("windows.0.staff_zone=[[0,0],[1,0],[1,1]]", ("windows", "0", "staff_zone"),
         [[0, 0], [1, 0], [1, 1]]),
        ("detector.model=", ("detector", "model"), ""),
    ],
)  # fmt: skip
def test_parse_override(text: str, path: tuple[str, ...], value: object) -> None:
    assert parse_override(text) == (path, value)


@pytest.mark.parametrize("text", ["absence_delay_s", "=5", "thresholds..x=1"])
def test_parse_override_rejects(text: str) -> None:
    with pytest.raises(HarnessError, match=r"dotted\.key=value"):
        parse_override(text)


def test_with_override_copies_and_sets_nested_and_listed_values() -> None:
    data = {"thresholds": {"absence_delay_s": 60}, "windows": [{"id": "W01"}, {"id": "W02"}]}
    changed = with_override(data, ("thresholds", "return_delay_s"), 2)
    changed = with_override(changed, ("windows", "1", "staff_on_duty"), 2)
    changed = with_override(changed, ("analysis", "crops"), "zones")
    assert changed == {
        "thresholds": {"absence_delay_s": 60, "return_delay_s": 2},
        "windows": [{"id": "W01"}, {"id": "W02", "staff_on_duty": 2}],
        "analysis": {"crops": "zones"},
    }
    assert data == {
        "thresholds": {"absence_delay_s": 60},
        "windows": [{"id": "W01"}, {"id": "W02"}],
    }
    with pytest.raises(HarnessError, match="index"):
        with_override(data, ("windows", "5", "id"), "W09")


def test_anchored_makes_the_model_path_absolute(tmp_path: Path) -> None:
    data = {"detector": {"model": "models/yolo.onnx"}, "name": "x"}
    assert anchored(data, tmp_path)["detector"]["model"] == str(tmp_path / "models/yolo.onnx")
    assert anchored({"detector": {"model": "/abs.onnx"}}, tmp_path) == {
        "detector": {"model": "/abs.onnx"}
    }
    assert anchored({"name": "x"}, tmp_path) == {"name": "x"}


def test_effective_site_writes_a_valid_copy_only_with_overrides(tmp_path: Path) -> None:
    site = tmp_path / "labels" / "site.yaml"
    site.parent.mkdir()
    site.write_text(SITE_TEXT, encoding="utf-8")
    out = tmp_path / "out"
    out.mkdir()
    assert effective_site(site, [], out) == site
    copy = effective_site(site, ["thresholds.absence_delay_s=7", "detector.threads=3"], out)
    assert copy.parent == out
    loaded = load_site(copy)
    assert loaded.thresholds.absence_delay_s == 7
    assert loaded.thresholds.return_delay_s == 1
    assert loaded.detector.threads == 3
    assert site.read_text(encoding="utf-8") == SITE_TEXT


# --- error paths of a run ---------------------------------------------------------------------


def labelled_clip(tmp_path: Path, video_bytes: bytes, sha: str | None = None) -> Path:
    """A labels folder with clip.csv / clip.yaml over data/clip.mp4; returns the csv path."""
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "clip.mp4").write_bytes(video_bytes)
    labels = tmp_path / "labels"
    labels.mkdir()
    digest = sha or hashlib.sha256(video_bytes).hexdigest()
    text = LABEL_TEXT.replace("some_folder/clip.mp4", "clip.mp4").replace(SHA.upper(), digest)
    (labels / "clip.csv").write_text(text, encoding="utf-8")
    (labels / "clip.yaml").write_text(SITE_TEXT, encoding="utf-8")
    return labels / "clip.csv"


def settings(tmp_path: Path, hallwatch: Path) -> Settings:
    return Settings(hallwatch=hallwatch, data=tmp_path / "data", fps=1.0, timeout_s=30)


def test_a_changed_clip_is_not_scored(tmp_path: Path) -> None:
    csv = labelled_clip(tmp_path, b"not the labelled video", sha="0" * 64)
    result = evaluate(csv, settings(tmp_path, Path("/bin/false")), tmp_path)
    assert result.error is not None and "sha256 differs" in result.error


def test_a_missing_clip_is_an_error_of_that_clip(tmp_path: Path) -> None:
    csv = labelled_clip(tmp_path, b"x")
    (tmp_path / "data" / "clip.mp4").unlink()
    result = evaluate(csv, settings(tmp_path, Path("/bin/false")), tmp_path)
    assert result.error is not None and "no such file" in result.error


def test_a_failing_analyze_is_reported_with_its_stderr(tmp_path: Path) -> None:
    csv = labelled_clip(tmp_path, b"x")
    tool = tmp_path / "hallwatch"
    tool.write_text("#!/bin/sh\necho 'hallwatch analyze: bad things' >&2\nexit 3\n")
    tool.chmod(tool.stat().st_mode | stat.S_IXUSR)
    result = evaluate(csv, settings(tmp_path, tool), tmp_path)
    assert result.error == "analyze exited with 3: hallwatch analyze: bad things"
    assert "ERROR analyze exited with 3" in table([result])


def test_unknown_clip_names_are_refused(tmp_path: Path) -> None:
    csv = labelled_clip(tmp_path, b"x")
    with pytest.raises(HarnessError, match="unknown clips nope"):
        run(["nope"], csv.parent, settings(tmp_path, Path("/bin/false")))


# --- the whole harness on real footage --------------------------------------------------------


@pytest.mark.slow
def test_harness_on_the_intel_clip(capsys: pytest.CaptureFixture[str]) -> None:
    data = footage("intel_one_by_one", "one-by-one-person-detection.mp4").parents[1]
    argv = ["--clips", "intel_one_by_one", "--data", str(data), "--json", "--timeout", "120"]
    code = main(argv)
    report = json.loads(capsys.readouterr().out)
    (clip,) = report["clips"]
    assert code == 0, clip
    assert clip["frames"] == pytest.approx(139.4, abs=3)  # 1 frame/s over 139.4 s
    assert sum(clip["presence"][key] for key in ("tp", "fp", "fn", "tn")) == clip["frames"]
    # seven labelled vacancies (before, between and after the six visits); the product's
    # figures may move, but a harness that finds none of them is broken
    assert clip["events"]["labelled"] == 7
    assert clip["events"]["missed"] <= 2
    assert clip["presence"]["precision"] >= 0.8 and clip["presence"]["recall"] >= 0.8
    assert report["overall"]["frames"] == clip["frames"]
