"""MANSCDP XML bodies (GB/T 28181-2016 Annex A) carried in SIP MESSAGE.

Built here: Keepalive notify (A.2.5), Catalog response pages (A.2.6.4: SumNum is the total,
``DeviceList Num`` the items of this page), DeviceInfo and DeviceStatus responses (A.2.6.5,
A.2.6.6) and the Alarm notify (A.2.5). Parsed here: any Query/Control/Notify/Response body into
its root, CmdType, SN, DeviceID and the other top-level fields.

Charset: GB2312 or UTF-8 per settings, named in the XML declaration. Characters that GB2312
lacks (rare names) are written as XML character references, which any XML parser reads back.
Incoming bodies are read as UTF-8 or GB18030 (a superset of GB2312) by their bytes, not by their
declaration (see `decode`): platforms that declare one charset and send the other exist.

2022 edition: the same elements; it adds optional Catalog item fields (e.g. ``Longitude``/
``Latitude`` become common, ``BusinessGroupID``) and an AlarmType 13 (image occlusion); none of
them is needed by an upper platform that speaks 2016.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

Charset = Literal["GB2312", "UTF-8"]
CONTENT_TYPE = "Application/MANSCDP+xml"
_ANY_DECLARATION = re.compile(r"^\s*<\?xml[^>]*\?>")


class ManscdpError(ValueError):
    """A MANSCDP body that is not well-formed or lacks CmdType."""


@dataclass(frozen=True, slots=True)
class Manscdp:
    """A parsed body: ``<Query><CmdType>Catalog</CmdType><SN>7</SN><DeviceID>…</DeviceID>``."""

    root: str  # Query, Control, Notify, Response
    cmd_type: str
    sn: int | None
    device_id: str
    fields: dict[str, str] = field(default_factory=dict)  # other top-level text elements


@dataclass(frozen=True, slots=True)
class CatalogItem:
    device_id: str
    name: str
    online: bool
    manufacturer: str = "hallwatch"
    model: str = "hallwatch-channel"
    owner: str = "hallwatch"
    civil_code: str = ""
    address: str = ""
    parent_id: str = ""


def encode(xml_text: str, charset: Charset) -> bytes:
    """The body bytes: XML declaration naming `charset`, then the document."""
    codec = "gb2312" if charset == "GB2312" else "utf-8"
    declaration = f'<?xml version="1.0" encoding="{charset}"?>\r\n'
    return (declaration + xml_text + "\r\n").encode(codec, errors="xmlcharrefreplace")


def decode(body: bytes) -> str:
    """Body text, whatever the declaration says: UTF-8 when the bytes are valid UTF-8 and do
    not read as Latin letters (short GB2312 text can be valid UTF-8: 目录 reads as "Ŀ¼"),
    else GB18030 (a superset of GB2312)."""
    try:
        utf8: str | None = body.decode("utf-8")
    except UnicodeDecodeError:
        utf8 = None
    try:
        gb: str | None = body.decode("gb18030")
    except UnicodeDecodeError:
        gb = None
    if utf8 is not None and (gb is None or not _misread(utf8)):
        return utf8
    if gb is not None:
        return gb
    raise ManscdpError("body is neither UTF-8 nor GB18030")


def _misread(text: str) -> bool:
    """GB2312 bytes decoded as UTF-8 give Latin-1 and Latin Extended letters."""
    return any("\u0080" <= char <= "\u02ff" for char in text)


def parse(body: bytes) -> Manscdp:
    """Parse a MANSCDP body; raises ManscdpError."""
    text = _ANY_DECLARATION.sub("", decode(body), count=1)
    try:
        root = ET.fromstring(text.strip())
    except ET.ParseError as exc:
        raise ManscdpError(f"XML: {exc}") from None
    values = {child.tag: (child.text or "").strip() for child in root if len(child) == 0}
    cmd_type = values.pop("CmdType", "")
    if not cmd_type:
        raise ManscdpError(f"<{root.tag}> without CmdType")
    sn_text = values.pop("SN", "")
    sn = int(sn_text) if sn_text.isdigit() else None
    device_id = values.pop("DeviceID", "")
    return Manscdp(root.tag, cmd_type, sn, device_id, values)


def _document(root: str, cmd_type: str, sn: int, device_id: str) -> ET.Element:
    element = ET.Element(root)
    _text(element, "CmdType", cmd_type)
    _text(element, "SN", str(sn))
    _text(element, "DeviceID", device_id)
    return element


def _text(parent: ET.Element, tag: str, text: str) -> ET.Element:
    child = ET.SubElement(parent, tag)
    child.text = text
    return child


def _string(element: ET.Element) -> str:
    return ET.tostring(element, encoding="unicode")


def keepalive(sn: int, device_id: str) -> str:
    element = _document("Notify", "Keepalive", sn, device_id)
    _text(element, "Status", "OK")
    return _string(element)


def catalog_pages(
    sn: int, device_id: str, items: Sequence[CatalogItem], page_size: int
) -> list[str]:
    """Catalog response MESSAGE bodies, `page_size` items each (one empty page when none)."""
    if page_size < 1:
        raise ValueError("page_size must be at least 1")
    starts = range(0, len(items), page_size) if items else range(1)
    pages: list[str] = []
    for start in starts:
        page = items[start : start + page_size]
        element = _document("Response", "Catalog", sn, device_id)
        _text(element, "SumNum", str(len(items)))
        device_list = ET.SubElement(element, "DeviceList", {"Num": str(len(page))})
        for item in page:
            _catalog_item(device_list, item)
        pages.append(_string(element))
    return pages


def _catalog_item(parent: ET.Element, item: CatalogItem) -> None:
    node = ET.SubElement(parent, "Item")
    for tag, text in (
        ("DeviceID", item.device_id),
        ("Name", item.name),
        ("Manufacturer", item.manufacturer),
        ("Model", item.model),
        ("Owner", item.owner),
        ("CivilCode", item.civil_code or item.device_id[:6]),
        ("Address", item.address),
        ("Parental", "0"),
        ("ParentID", item.parent_id),
        ("SafetyWay", "0"),
        ("RegisterWay", "1"),
        ("Secrecy", "0"),
        ("Status", "ON" if item.online else "OFF"),
    ):
        _text(node, tag, text)


def device_info(
    sn: int,
    device_id: str,
    *,
    name: str,
    channels: int,
    manufacturer: str = "hallwatch",
    model: str = "hallwatch",
    firmware: str = "1.0",
) -> str:
    element = _document("Response", "DeviceInfo", sn, device_id)
    for tag, text in (
        ("DeviceName", name),
        ("Result", "OK"),
        ("Manufacturer", manufacturer),
        ("Model", model),
        ("Firmware", firmware),
        ("Channel", str(channels)),
    ):
        _text(element, tag, text)
    return _string(element)


def device_status(sn: int, device_id: str, *, online: bool, device_time: str) -> str:
    """DeviceStatus response; `device_time` like ``2024-05-06T09:30:00`` (local time)."""
    element = _document("Response", "DeviceStatus", sn, device_id)
    for tag, text in (
        ("Result", "OK"),
        ("Online", "ONLINE" if online else "OFFLINE"),
        ("Status", "OK" if online else "ERROR"),
        ("Encode", "ON"),
        ("Record", "OFF"),
        ("DeviceTime", device_time),
    ):
        _text(element, tag, text)
    ET.SubElement(element, "Alarmstatus", {"Num": "0"})
    return _string(element)


def alarm_notify(
    sn: int,
    device_id: str,
    *,
    priority: int,
    method: int,
    alarm_time: str,
    description: str,
    alarm_type: int | None = None,
    event_type: int | None = None,
) -> str:
    """Alarm notify (§9.4 / A.2.5); `device_id` is the alarming channel."""
    element = _document("Notify", "Alarm", sn, device_id)
    _text(element, "AlarmPriority", str(priority))
    _text(element, "AlarmMethod", str(method))
    _text(element, "AlarmTime", alarm_time)
    _text(element, "AlarmDescription", description)
    if alarm_type is not None:
        info = ET.SubElement(element, "Info")
        _text(info, "AlarmType", str(alarm_type))
        if event_type is not None:
            param = ET.SubElement(info, "AlarmTypeParam")
            _text(param, "EventType", str(event_type))
    return _string(element)
