"""MANSCDP bodies (relay.gb.manscdp) and the event → GB alarm mapping (relay.gb.alarms)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, timedelta, timezone

import pytest

from hallwatch.events import Event, EventType
from relay.gb import manscdp
from relay.gb.alarms import ALARM_RULES, alarm_time, describe, gb_alarm

PLATFORM = "34020000002000000001"
CST = timezone(timedelta(hours=8))


def _root(body: bytes) -> ET.Element:
    text = manscdp.decode(body)
    return ET.fromstring(text.split("?>", 1)[1].strip())


@pytest.mark.parametrize("charset", ["GB2312", "UTF-8"])
def test_encoding_declares_and_round_trips(charset: manscdp.Charset) -> None:
    items = [manscdp.CatalogItem("34020000001320000001", "一号窗口 ㈠ 𠀀", True)]
    body = manscdp.encode(manscdp.catalog_pages(5, PLATFORM, items, 4)[0], charset)
    assert body.startswith(f'<?xml version="1.0" encoding="{charset}"?>'.encode())
    if charset == "GB2312":
        assert "一号窗口".encode("gb2312") in body  # native bytes, not references
        assert b"&#131072;" in body  # U+20000 is not in GB2312: a character reference
    item = _root(body).find("DeviceList/Item")
    assert item is not None and item.findtext("Name") == "一号窗口 ㈠ 𠀀"


def test_catalog_pages() -> None:
    items = [manscdp.CatalogItem(f"3402000000132000000{n}", f"cam{n}", n % 2 == 0,
                                 parent_id=PLATFORM) for n in range(5)]  # fmt: skip
    pages = manscdp.catalog_pages(17, PLATFORM, items, 2)
    assert len(pages) == 3
    roots = [_root(manscdp.encode(page, "UTF-8")) for page in pages]
    assert [r.findtext("SumNum") for r in roots] == ["5", "5", "5"]
    assert [r.find("DeviceList").get("Num") for r in roots] == ["2", "2", "1"]  # type: ignore[union-attr]
    first = roots[0].find("DeviceList/Item")
    assert first is not None
    expected = {
        "DeviceID": "34020000001320000000", "Name": "cam0", "Parental": "0",
        "ParentID": PLATFORM, "SafetyWay": "0", "RegisterWay": "1", "Secrecy": "0",
        "Status": "ON", "CivilCode": "340200",
    }  # fmt: skip
    assert {k: first.findtext(k) for k in expected} == expected
    assert roots[0].findtext("CmdType") == "Catalog" and roots[0].findtext("SN") == "17"
    assert [i.findtext("Status") for r in roots for i in r.iter("Item")] == [
        "ON",
        "OFF",
        "ON",
        "OFF",
        "ON",
    ]


def test_empty_catalog_is_one_page() -> None:
    (page,) = manscdp.catalog_pages(1, PLATFORM, [], 4)
    root = _root(manscdp.encode(page, "UTF-8"))
    assert root.findtext("SumNum") == "0" and root.find("DeviceList").get("Num") == "0"  # type: ignore[union-attr]


def test_keepalive_device_info_status() -> None:
    keepalive = manscdp.parse(manscdp.encode(manscdp.keepalive(3, PLATFORM), "GB2312"))
    assert (keepalive.root, keepalive.cmd_type, keepalive.sn) == ("Notify", "Keepalive", 3)
    assert keepalive.device_id == PLATFORM and keepalive.fields == {"Status": "OK"}
    info = manscdp.parse(
        manscdp.encode(manscdp.device_info(4, PLATFORM, name="政务大厅", channels=7), "GB2312")
    )
    assert info.fields["DeviceName"] == "政务大厅" and info.fields["Channel"] == "7"
    assert info.fields["Result"] == "OK"
    status = manscdp.parse(
        manscdp.encode(
            manscdp.device_status(5, PLATFORM, online=False, device_time="2024-05-06T09:30:00"),
            "UTF-8",
        )
    )
    assert status.fields["Online"] == "OFFLINE" and status.fields["DeviceTime"].startswith("2024")


QUERY_GB2312 = (
    '<?xml version="1.0" encoding="GB2312"?>\r\n<Query>\r\n<CmdType>Catalog</CmdType>\r\n'
    "<SN>248</SN>\r\n<DeviceID>34020000002000000001</DeviceID>\r\n<Note>目录</Note>\r\n</Query>\r\n"
)


@pytest.mark.parametrize(
    "body",
    [
        QUERY_GB2312.encode("gb2312"),
        QUERY_GB2312.encode("utf-8"),  # declared GB2312, sent as UTF-8
        QUERY_GB2312.replace("GB2312", "UTF-8").encode("gb2312"),  # and the other way round
        QUERY_GB2312.split("\r\n", 1)[1].encode("utf-8"),  # no declaration
    ],
)
def test_parse_query(body: bytes) -> None:
    query = manscdp.parse(body)
    assert (query.root, query.cmd_type, query.sn, query.device_id) == (
        "Query", "Catalog", 248, PLATFORM
    )  # fmt: skip
    assert query.fields == {"Note": "目录"}


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"<Query><SN>1</SN></Query>",
        b"<Query><CmdType>Catalog</CmdType>",
        b"\xff\xfe\x00garbage",
        b"<?xml version='1.0' encoding='GB2312'?><Query><CmdType>&bogus;</CmdType></Query>",
    ],
)
def test_parse_bad_bodies(body: bytes) -> None:
    with pytest.raises(manscdp.ManscdpError):
        manscdp.parse(body)


# ---- alarms -----------------------------------------------------------------------------------


def _event(kind: str, **details: object) -> Event:
    return Event(type=kind, camera="cam1", start=1_714_959_000.0, detected_at=1_714_959_001.0,
                 window="W01" if kind in ("counter_vacant", "queue_buildup") else None,
                 details=dict(details))  # fmt: skip


@pytest.mark.parametrize(
    ("kind", "priority", "method", "alarm_type", "event_type"),
    [
        (EventType.INTRUSION, 1, 5, 6, 1),
        (EventType.OVERCROWDED, 2, 5, 10, None),
        (EventType.COUNTER_VACANT, 3, 5, 6, 2),
        (EventType.QUEUE_BUILDUP, 3, 5, 10, None),
        (EventType.LONG_WAIT, 4, 5, 8, None),
    ],
)
def test_alarm_mapping(
    kind: str, priority: int, method: int, alarm_type: int, event_type: int | None
) -> None:
    alarm = gb_alarm(_event(kind), CST)
    assert alarm is not None
    assert (alarm.priority, alarm.method, alarm.alarm_type, alarm.event_type) == (
        priority, method, alarm_type, event_type
    )  # fmt: skip
    assert alarm.alarm_time == "2024-05-06T09:30:00"


@pytest.mark.parametrize(
    "kind", [EventType.CASE_WARNING, EventType.CASE_YELLOW, EventType.CASE_RED, "unknown"]
)
def test_unmapped_events(kind: str) -> None:
    assert gb_alarm(_event(kind)) is None


def test_every_analyzer_event_type_is_mapped() -> None:
    analyzer_types = {t for t in EventType if not t.startswith("case_")}
    assert analyzer_types == set(ALARM_RULES)


@pytest.mark.parametrize(
    ("event", "text"),
    [
        (_event(EventType.COUNTER_VACANT, staff_on_duty=1), "窗口空岗 窗口 W01"),
        (
            _event(EventType.QUEUE_BUILDUP, length=12, peak_length=14),
            "排队拥堵 窗口 W01 排队 12 人",
        ),
        (_event(EventType.INTRUSION, zone="room1", persons=3), "非开放时段闯入 区域 room1 3 人"),
        (_event(EventType.LONG_WAIT, wait_s=1260.0, track_id=4), "等候超时 等候 21 分钟"),
    ],
)
def test_descriptions(event: Event, text: str) -> None:
    assert describe(event) == text


def test_alarm_notify_body() -> None:
    alarm = gb_alarm(_event(EventType.COUNTER_VACANT), CST)
    assert alarm is not None
    xml = manscdp.alarm_notify(
        9, "34020000001320000001", priority=alarm.priority, method=alarm.method,
        alarm_time=alarm.alarm_time, description=alarm.description,
        alarm_type=alarm.alarm_type, event_type=alarm.event_type,
    )  # fmt: skip
    root = _root(manscdp.encode(xml, "GB2312"))
    assert root.tag == "Notify" and root.findtext("CmdType") == "Alarm"
    assert root.findtext("AlarmMethod") == "5" and root.findtext("AlarmPriority") == "3"
    assert root.findtext("Info/AlarmType") == "6"
    assert root.findtext("Info/AlarmTypeParam/EventType") == "2"
    assert root.findtext("AlarmDescription") == "窗口空岗 窗口 W01"


def test_alarm_time_format() -> None:
    assert alarm_time(0.0, UTC) == "1970-01-01T00:00:00"
