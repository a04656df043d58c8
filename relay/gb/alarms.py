"""hallwatch events → GB/T 28181 alarm notify fields (a pure, table-tested mapping).

What the 2016 edition gives (§9.4 alarm events, Annex A.2.5 alarm notify):

- ``AlarmPriority`` 1–4: level-1 (most urgent) to level-4 alarm.
- ``AlarmMethod``: 1 phone, 2 device, 3 SMS, 4 GPS, 5 video alarm, 6 device fault, 7 other.
- ``Info/AlarmType`` for method 5 (video alarms): 1 manual, 2 moving target, 3 left object,
  4 object removed, 5 tripwire, 6 intrusion detection, 7 wrong direction, 8 loitering,
  9 flow counting, 10 density detection, 11 video anomaly, 12 fast movement.
- ``Info/AlarmTypeParam/EventType`` for intrusion detection: 1 entering the area, 2 leaving it.
- ``AlarmDescription`` free text, ``AlarmTime`` local ISO time without zone.

The 2022 edition keeps these codes and adds AlarmType 13 (image occlusion) for method 5; we do
not rely on anything it adds.

Mapping (all video alarms, method 5, ``DeviceID`` = the event camera's channel id):

============== ====================== ===== ============================== ===============
event          meaning                prio  AlarmType (EventType)          why
============== ====================== ===== ============================== ===============
intrusion      people in a sealed     1     6 intrusion (1 enter)          exact match
               room outside hours
overcrowded    more people than       2     10 density detection           exact match
               allowed in a zone
counter_vacant window seat empty      3     6 intrusion (2 leave area)     see below
queue_buildup  queue too long         3     10 density detection           crowd in a zone
long_wait      one person waits too   4     8 loitering                    stays in a zone
               long                                                        past a limit
============== ====================== ===== ============================== ===============

"Leave post" (窗口空岗): GB/T 28181 has no such type. We send it as method 5 (video alarm),
AlarmType 6 with EventType 2 "leaving the area", because (a) it is an analysis of the
channel's video, and upper platforms route method-5 alarms to their video-analysis views and
link them to the channel's live and recorded video, which is what an inspector needs; (b) the
staff seat is a configured zone and the condition is the staff having left it, which is what
EventType 2 says; (c) the AlarmDescription starts with 窗口空岗 and names the window, so an
operator reads the fact, not the code. Method 7 ("other") was rejected: platforms show it
without a type and without a video link, and some drop it from video-alarm lists.

Case cards (case_warning/yellow/red) are not video facts and have no GB meaning: they are not
mapped (they go upstream through the HTTP upload). Unknown event types are not mapped either.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, tzinfo

from hallwatch.events import EVENT_LABELS_ZH, Event, EventType

METHOD_VIDEO = 5
TYPE_LOITERING = 8
TYPE_INTRUSION = 6
TYPE_DENSITY = 10
EVENT_ENTER = 1
EVENT_LEAVE = 2


@dataclass(frozen=True, slots=True)
class AlarmRule:
    priority: int
    method: int
    alarm_type: int | None
    event_type: int | None = None


ALARM_RULES: dict[str, AlarmRule] = {
    EventType.INTRUSION: AlarmRule(1, METHOD_VIDEO, TYPE_INTRUSION, EVENT_ENTER),
    EventType.OVERCROWDED: AlarmRule(2, METHOD_VIDEO, TYPE_DENSITY),
    EventType.COUNTER_VACANT: AlarmRule(3, METHOD_VIDEO, TYPE_INTRUSION, EVENT_LEAVE),
    EventType.QUEUE_BUILDUP: AlarmRule(3, METHOD_VIDEO, TYPE_DENSITY),
    EventType.LONG_WAIT: AlarmRule(4, METHOD_VIDEO, TYPE_LOITERING),
}


@dataclass(frozen=True, slots=True)
class GbAlarm:
    priority: int
    method: int
    alarm_type: int | None
    event_type: int | None
    alarm_time: str
    description: str


def alarm_time(t: float, tz: tzinfo | None = None) -> str:
    """GB time text: local wall time ``YYYY-MM-DDTHH:MM:SS`` (`tz` None: this machine's zone)."""
    return datetime.fromtimestamp(t, tz).strftime("%Y-%m-%dT%H:%M:%S")


def describe(event: Event) -> str:
    """The AlarmDescription: the Chinese label, then window, zone and counts, e.g.
    ``窗口空岗 窗口 W01`` or ``非开放时段闯入 区域 room1 3 人``."""
    parts = [EVENT_LABELS_ZH.get(event.type, event.type)]
    details = event.details
    if event.window:
        parts.append(f"窗口 {event.window}")
    if details.get("zone"):
        parts.append(f"区域 {details['zone']}")
    if isinstance(details.get("length"), int):
        parts.append(f"排队 {details['length']} 人")
    if isinstance(details.get("persons"), int):
        parts.append(f"{details['persons']} 人")
    wait = details.get("wait_s")
    if isinstance(wait, int | float):
        parts.append(f"等候 {round(wait / 60)} 分钟")
    return " ".join(parts)


def gb_alarm(event: Event, tz: tzinfo | None = None) -> GbAlarm | None:
    """The alarm fields for `event`, or None when the event type is not forwarded."""
    rule = ALARM_RULES.get(event.type)
    if rule is None:
        return None
    return GbAlarm(
        priority=rule.priority,
        method=rule.method,
        alarm_type=rule.alarm_type,
        event_type=rule.event_type,
        alarm_time=alarm_time(event.start, tz),
        description=describe(event),
    )
