"""Synthetic approval cases for `hallwatch demo` (演示数据), so that case cards show in the console.

`demo_events(site, now, seed, cases)` writes the history of `cases` approval cases (办件) as an
approval system would have sent it, every event before `now`; the same site, `now` and seed
give the same events. `feed_demo` registers the source `DEMO_SOURCE` and ingests that history
through the ledger once (a data directory that already has it is left as it is).

What the history holds:

- Items (事项) of `CATALOGUE`, real PRC government-service items with promised limits (承诺时限)
  of 5..20 working days and legal limits (法定时限) at least as long. An item whose department
  has a window in the site config is accepted at that window (some online, 网上受理, without a
  window) and handled there (承办 / 审核 / 批准 steps with the window and handler ids); the
  other departments' items are accepted online and handled in the back office.
- Acceptances over the last six weeks, on the site's legal working days (the case clock's
  calendar: no statutory holiday, make-up working days included) and inside office hours, within
  09:00–12:00 and 13:30–17:30 where the site's office hours allow it.
- A fixed mix of outcomes (`mix`), for 120 cases: most completed early or on their last day,
  a few completed late, four open cases in the warning band, three past their promised
  deadline (yellow), two past the supervision grace (red), some open on track, three
  suspended now, some with a past suspension (补正 correction or 专家评审 expert review,
  resumed), two refusals with a written reason, one refusal without one (red: abnormal
  handling) and one withdrawal.

Each case is checked against the card rules before it is kept: its events are folded as the
ledger folds them (`cases.projection`) and judged at `now` with the site's calendar and the
item's rules (`cases.cards.evaluate`); a draw that does not give the planned outcome (say, a step
that would overrun its node limit) is drawn again. So the mix holds for any `now`, including
weekends, holidays and hours outside office time.
"""

from __future__ import annotations

import datetime as dt
import random
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from cases.cards import CardLevel, CaseStatus, Evaluation, evaluate
from cases.intake import CaseEvent, SuspensionKind, parse_event
from cases.ledger import CaseLedger
from cases.projection import case_view, fold
from cases.rules import card_rules_for
from cases.store import Sources
from cases.workdays import WorkCalendar, local, work_calendar
from hallwatch.config import Site

DEMO_SOURCE = "演示数据"
DEMO_SEED = 20261116
DEFAULT_CASES = 120
HISTORY_DAYS = 42  # acceptances over the last six weeks
MIN_CASES = 20
_TRIES = 400  # draws per case before giving up (a site whose rules make a kind impossible)

# Realistic hours inside the site's office hours (seconds after local midnight).
_HALL_HOURS = ((9 * 3600, 12 * 3600), (13 * 3600 + 1800, 17 * 3600 + 1800))
_STEPS = ("承办", "审核", "批准")


@dataclass(frozen=True, slots=True)
class DemoItem:
    """An approval item of the demo: limits in working days (promised <= legal)."""

    code: str
    name: str
    department: str
    promised: int
    legal: int
    organizations_only: bool = False  # only 法人或其他组织 apply
    expert_review: bool = False  # its handling may pause for 专家评审 / 技术审查


CATALOGUE: tuple[DemoItem, ...] = (
    # 市场监管局 (window W01 of the demo)
    DemoItem("SCJG-001", "食品经营许可", "市场监管局", 5, 10),
    DemoItem("SCJG-002", "食品生产许可", "市场监管局", 10, 20, organizations_only=True,
             expert_review=True),
    DemoItem("SCJG-003", "药品零售许可", "市场监管局", 10, 20, organizations_only=True),
    DemoItem("SCJG-004", "第三类医疗器械经营许可", "市场监管局", 15, 20,
             organizations_only=True, expert_review=True),
    # 税务局 (window W02 of the demo)
    DemoItem("SWJ-001", "增值税防伪税控系统最高开票限额审批", "税务局", 5, 20,
             organizations_only=True),
    DemoItem("SWJ-002", "对纳税人延期缴纳税款的核准", "税务局", 15, 20),
    DemoItem("SWJ-003", "对纳税人延期申报的核准", "税务局", 5, 20),
    DemoItem("SWJ-004", "对纳税人变更纳税定额的核准", "税务局", 10, 20),
    # departments without a window in the demo hall: accepted online
    DemoItem("ZRZY-001", "建设工程规划许可证核发", "自然资源和规划局", 20, 20,
             organizations_only=True, expert_review=True),
    DemoItem("JTYS-001", "道路运输经营许可", "交通运输局", 10, 20),
    DemoItem("WSJK-001", "公共场所卫生许可", "卫生健康委", 10, 20),
    DemoItem("ZJJ-001", "建筑工程施工许可证核发", "住房和城乡建设局", 5, 7,
             organizations_only=True),
    DemoItem("RSJ-001", "劳务派遣经营许可", "人力资源和社会保障局", 10, 20,
             organizations_only=True),
)  # fmt: skip

_HANDLER_PREFIX = {
    "市场监管局": "SCJG",
    "税务局": "SWJ",
    "自然资源和规划局": "ZRZY",
    "交通运输局": "JTYS",
    "卫生健康委": "WSJK",
    "住房和城乡建设局": "ZJJ",
    "人力资源和社会保障局": "RSJ",
}
_ONLINE_SHARE = 0.2  # of the cases of a department with a window
_HALL_WEIGHT = 3  # an item of a department with a window is drawn this much more often
_PAST_PAUSE_SHARE = 0.15  # of the cases that may have had one

_REFUSAL_REASONS = (
    "经审查，申请人提交的材料不符合法定条件、标准，依法不予许可",
    "经现场核查，经营场所与申请材料不一致，不予许可",
    "申请人未按期提交补正材料且不符合许可条件，不予许可",
)
_CORRECTION_REASONS = (
    "申请材料不齐全，一次性告知补正：营业执照复印件、法定代表人身份证明",
    "申请材料不符合法定形式，一次性告知补正：平面布局图、设备清单",
    "申请表信息与证照不一致，通知申请人补正",
)
_EXPERT_REASONS = (
    "组织专家评审（技术审查），所需时间不计入办理时限",
    "委托专家进行现场核查与技术评审",
)
_WITHDRAWAL_REASONS = ("申请人主动申请撤回", "申请人经营计划调整，申请撤回")


class Kind(StrEnum):
    """What becomes of a generated case, as judged at `now`."""

    EARLY = "early"  # completed with at least a working day to spare (提前办结)
    ON_TIME = "on_time"  # completed on its last day (按时办结)
    LATE = "late"  # completed past the promised deadline, within the grace (closed yellow)
    LATE_RED = "late_red"  # completed past the supervision grace (closed red)
    REFUSED = "refused"  # 不予许可 with its written reason, in time
    REFUSED_NO_REASON = "refused_no_reason"  # 不予许可 without a reason: red (abnormal handling)
    WITHDRAWN = "withdrawn"  # 撤回
    OPEN = "open"  # in progress, on track
    SUSPENDED = "suspended"  # in progress, its clock paused now (补正 / 专家评审)
    WARNING = "warning"  # open, at most the warning threshold left (预警)
    YELLOW = "yellow"  # open, past the promised deadline (黄牌)
    RED = "red"  # open, past the supervision grace (红牌)


# Cases of each kind per 120; EARLY takes the rest.
_MIX_PER_120 = {
    Kind.ON_TIME: 14,
    Kind.LATE: 3,
    Kind.LATE_RED: 1,
    Kind.REFUSED: 2,
    Kind.REFUSED_NO_REASON: 1,
    Kind.WITHDRAWN: 1,
    Kind.OPEN: 20,
    Kind.SUSPENDED: 3,
    Kind.WARNING: 4,
    Kind.YELLOW: 3,
    Kind.RED: 2,
}
_COMPLETED = frozenset({Kind.EARLY, Kind.ON_TIME, Kind.LATE, Kind.LATE_RED, Kind.REFUSED,
                        Kind.REFUSED_NO_REASON})  # fmt: skip


def mix(cases: int) -> dict[Kind, int]:
    """How many cases of each kind `demo_events` writes (each kind at least once)."""
    if cases < MIN_CASES:
        raise ValueError(f"the demo writes at least {MIN_CASES} cases, not {cases}")
    counts = {kind: max(1, round(n * cases / DEFAULT_CASES)) for kind, n in _MIX_PER_120.items()}
    return {Kind.EARLY: cases - sum(counts.values()), **counts}


# --- office time on a line ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Line:
    """The hall hours of the working days up to today as one line of seconds: u = day index *
    `per_day` + seconds of hall hours passed that day. `now_u`: where `now` is on it."""

    days: list[dt.date]
    slots: tuple[tuple[int, int], ...]
    per_day: int
    now_u: int
    today: int  # index of today, or len(days) when today is not a working day
    first: int  # index of the first day of the history
    calendar: WorkCalendar

    def at(self, u: int) -> dt.datetime:
        index, into = divmod(u, self.per_day)
        day = self.days[index]
        for start, end in self.slots:
            if into < end - start:
                clock = start + into
                break
            into -= end - start
        else:  # pragma: no cover - into < per_day
            raise AssertionError(u)
        midnight = dt.datetime(day.year, day.month, day.day, tzinfo=self.calendar.zone)
        return midnight + dt.timedelta(seconds=clock)


def _slots(calendar: WorkCalendar) -> tuple[tuple[int, int], ...]:
    office = [(start // 1_000_000, end // 1_000_000) for start, end in calendar.periods]
    hall = [
        (max(a, c), min(b, d)) for a, b in office for c, d in _HALL_HOURS if min(b, d) > max(a, c)
    ]
    chosen = hall if sum(b - a for a, b in hall) >= 3600 else office
    return tuple(chosen)


def _line(calendar: WorkCalendar, now: dt.datetime) -> _Line:
    moment = local(calendar, now)
    today = moment.date()
    back = today - dt.timedelta(days=HISTORY_DAYS + 60)  # room for cases accepted before
    ordinals = calendar.table(today.toordinal()).ordinals
    chosen = ordinals[bisect_left(ordinals, back.toordinal()) : bisect_right(
        ordinals, today.toordinal())]  # fmt: skip
    days = [dt.date.fromordinal(ordinal) for ordinal in chosen]
    slots = _slots(calendar)
    per_day = sum(end - start for start, end in slots)
    if days and days[-1] == today:
        index = len(days) - 1
        second = moment.hour * 3600 + moment.minute * 60 + moment.second
        into = sum(min(max(second - start, 0), end - start) for start, end in slots)
        now_u = index * per_day + into
    else:
        index = len(days)
        now_u = index * per_day
    first = bisect_left(days, today - dt.timedelta(days=HISTORY_DAYS))
    return _Line(days, slots, per_day, now_u, index, first, calendar)


# --- one case ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Moment:
    u: int
    body: dict[str, Any]  # the event without event_id and case_id


@dataclass(frozen=True, slots=True)
class _Draft:
    accepted_u: int
    moments: list[_Moment]


def _handler(rng: random.Random, department: str, role: str, pool: int = 3) -> str:
    return f"{_HANDLER_PREFIX.get(department, 'QT')}-{role}{rng.randint(1, pool):02d}"


def _window_of(site: Site, department: str) -> str | None:
    for window in site.windows:
        if window.department == department:
            return window.id
    return None


class _Planner:
    def __init__(self, site: Site, line: _Line, now: dt.datetime) -> None:
        self.site = site
        self.line = line
        self.now = now
        # the hall's own departments come first: most cases of a hall demo are its windows'
        self.weights = [
            _HALL_WEIGHT if _window_of(site, item.department) else 1 for item in CATALOGUE
        ]

    def draft(self, rng: random.Random, kind: Kind) -> _Draft | None:
        """One draw of a case of `kind` (None: this draw does not fit the history)."""
        line, day = self.line, self.line.per_day
        (item,) = rng.choices(CATALOGUE, self.weights)
        promised = item.promised
        window = _window_of(self.site, item.department)
        online = window is None or rng.random() < _ONLINE_SHARE
        pause = 0
        if kind is Kind.SUSPENDED or (
            kind in (Kind.EARLY, Kind.ON_TIME, Kind.LATE, Kind.OPEN)
            and rng.random() < _PAST_PAUSE_SHARE
        ):
            pause = rng.randint(3, 8) if item.expert_review else rng.randint(2, 5)
        # working days of handling (the pause not counted), and the day of acceptance
        if kind in (Kind.EARLY, Kind.REFUSED, Kind.REFUSED_NO_REASON):
            work = rng.randint(max(1, promised // 3), promised - 1)
        elif kind is Kind.ON_TIME:
            work = promised
        elif kind is Kind.LATE:
            work = promised + rng.randint(1, 2)
        elif kind is Kind.LATE_RED:
            work = promised + rng.randint(3, 5)
        else:
            work = 0  # open: planned below from the acceptance day
        if kind in _COMPLETED:
            low, high = line.first, line.today - work - pause
        elif kind is Kind.WITHDRAWN:
            low, high = line.first, line.today - 1
        elif kind is Kind.OPEN:
            low, high = line.today - promised + 1, line.today
        elif kind is Kind.SUSPENDED:
            low, high = line.today - promised, line.today - 1
        elif kind is Kind.WARNING:
            low, high = line.today - promised - pause - 1, line.today - promised - pause + 1
        elif kind is Kind.YELLOW:
            low, high = line.today - promised - pause - 2, line.today - promised - pause
        else:  # RED
            low, high = line.first, line.today - promised - pause - 3
        low = max(low, line.first)
        if high < low:
            return None
        accepted = rng.randint(low, high)
        if kind not in _COMPLETED:  # planned to finish after today
            ahead = rng.randint(1, 3) if kind is not Kind.OPEN else rng.randint(1, promised)
            work = max(1, line.today - accepted - pause + ahead)
            if kind is Kind.OPEN:
                work = max(work, min(promised - 1, work + rng.randint(0, 2)))
        if pause and work < 2:
            pause = 0
        pause_at = None
        if kind is Kind.SUSPENDED:
            earliest = max((accepted + 1) * day, line.now_u - pause * day + 1)
            if earliest >= line.now_u:
                return None
            pause_at = rng.randrange(earliest, line.now_u)
        return self._timeline(rng, kind, item, online, window, accepted, work, pause, pause_at)

    def _timeline(
        self,
        rng: random.Random,
        kind: Kind,
        item: DemoItem,
        online: bool,
        window: str | None,
        accepted: int,
        work: int,
        pause: int,
        pause_at: int | None,
    ) -> _Draft | None:
        day = self.line.per_day
        start_u = accepted * day + rng.randrange(0, day * 9 // 10)
        end_u = (accepted + work + pause) * day + rng.randrange(day // 10, day)
        span = end_u - pause * day - start_u  # handling time without the pause
        if span <= 0 or start_u >= self.line.now_u:
            return None

        def small() -> int:
            return rng.randint(1, max(1, min(1800, span * 3 // 100)))

        points = [
            start_u + rng.randint(1, max(1, min(3600, span * 5 // 100))),  # 承办 start
            start_u + int(span * rng.uniform(0.3, 0.5)),  # 承办 end
            0,
            start_u + int(span * rng.uniform(0.7, 0.85)),  # 审核 end
            0,
            start_u + span - small(),  # 批准 end
            start_u + span,  # completion
        ]
        points[2] = points[1] + small()  # 审核 start
        points[4] = points[3] + small()  # 批准 start
        pause_v = pause_at
        if pause and pause_v is None:
            low, high = (accepted + 1) * day, min(points[3], start_u + span - 1)
            if high <= low:
                return None
            pause_v = rng.randrange(low, high)

        def shifted(v: int) -> int:
            return v + pause * day if pause_v is not None and v >= pause_v else v

        department = item.department
        step_window = window
        organization = item.organizations_only or rng.random() < 0.6
        accepted_body: dict[str, Any] = {
            "type": "accepted",
            "item_code": item.code,
            "item_name": item.name,
            "department": department,
            "applicant_type": "organization" if organization else "individual",
            "promised": {"amount": item.promised, "unit": "working_days"},
            "legal": {"amount": item.legal, "unit": "working_days"},
            "handler_id": _handler(rng, department, "SL"),
        }
        if not online and window is not None:
            accepted_body["window_id"] = window
        moments = [_Moment(start_u, accepted_body)]
        handlers = {name: _handler(rng, department, role, pool)
                    for name, role, pool in (("承办", "CB", 4), ("审核", "SH", 2),
                                             ("批准", "PZ", 1))}  # fmt: skip
        for index, name in enumerate(_STEPS):
            for phase, v in (("start", points[2 * index]), ("end", points[2 * index + 1])):
                body: dict[str, Any] = {
                    "type": "step", "step": name, "phase": phase, "handler_id": handlers[name],
                }  # fmt: skip
                if step_window is not None:
                    body["window_id"] = step_window
                moments.append(_Moment(shifted(v), body))
        if pause_v is not None:
            in_review = points[2] <= pause_v < points[3]
            expert = item.expert_review and in_review
            suspension_kind = SuspensionKind.EXPERT_REVIEW if expert else SuspensionKind.CORRECTION
            reasons = _EXPERT_REASONS if expert else _CORRECTION_REASONS
            moments.append(_Moment(pause_v, {
                "type": "suspended", "kind": suspension_kind.value,
                "reason": rng.choice(reasons), "suspension_id": "P1",
            }))  # fmt: skip
            moments.append(
                _Moment(pause_v + pause * day, {"type": "resumed", "suspension_id": "P1"})
            )
        done_u = shifted(points[6])
        if kind in _COMPLETED:
            outcome, reason = "approved", "符合法定条件、标准，准予许可"
            if kind is Kind.REFUSED:
                outcome, reason = "refused", rng.choice(_REFUSAL_REASONS)
            elif kind is Kind.REFUSED_NO_REASON:
                outcome, reason = "refused", ""
            completed: dict[str, Any] = {
                "type": "completed", "outcome": outcome, "handler_id": handlers["批准"],
            }  # fmt: skip
            if reason:
                completed["reason"] = reason
            moments.append(_Moment(done_u, completed))
        elif kind is Kind.WITHDRAWN:
            cut = rng.randint(points[0] + 1, max(points[0] + 1, points[3]))
            moments = [m for m in moments if m.u < cut]
            moments.append(_Moment(cut, {
                "type": "withdrawn", "reason": rng.choice(_WITHDRAWAL_REASONS),
            }))  # fmt: skip
        else:
            if done_u < self.line.now_u:
                return None  # it would be done by now
            moments = [m for m in moments if m.u < self.line.now_u]
        if any(m.u >= self.line.now_u for m in moments):
            return None
        moments.sort(key=lambda m: m.u)
        return _Draft(start_u, moments)

    def events(self, case_id: str, draft: _Draft) -> list[CaseEvent]:
        events = []
        for n, moment in enumerate(draft.moments, start=1):
            ids = {"event_id": f"{case_id}-{n:02d}", "case_id": case_id}
            at = self.line.at(moment.u).isoformat()
            events.append(parse_event({**moment.body, **ids, "at": at}))
        return events

    def judge(self, case_id: str, events: Sequence[CaseEvent]) -> tuple[Evaluation, bool]:
        """The card the ledger would give the case at `now`, and whether it is suspended."""
        settings = self.site.cases
        facts = fold(case_id, [e.model_dump(mode="json") for e in events], settings)
        view = case_view(facts, settings)
        assert view is not None  # every draft is accepted with a promised limit
        rules = card_rules_for(settings, facts.item_code or "")
        suspended = any(pause.end is None for pause in facts.pauses)
        return evaluate(self.line.calendar, rules, view, self.now), suspended


def _fits(kind: Kind, evaluation: Evaluation, suspended: bool) -> bool:
    level, status = evaluation.level, evaluation.status
    codes = {reason.code for reason in evaluation.reasons}
    completion = evaluation.completion
    if kind is Kind.WITHDRAWN:
        return status is CaseStatus.WITHDRAWN
    if kind in _COMPLETED:
        if status is not CaseStatus.COMPLETED or completion is None:
            return False
        if kind in (Kind.EARLY, Kind.REFUSED):
            return level is None and completion.early
        if kind is Kind.ON_TIME:
            return level is None and completion.on_time and not completion.early
        if kind is Kind.LATE:
            return level is CardLevel.YELLOW
        if kind is Kind.LATE_RED:
            return level is CardLevel.RED and "past_grace" in codes
        return codes == {"refused_without_reason"} and completion.on_time  # REFUSED_NO_REASON
    if status is not CaseStatus.OPEN:
        return False
    if kind is Kind.OPEN:
        return level is None
    if kind is Kind.SUSPENDED:
        return level is None and suspended
    if kind is Kind.WARNING:
        return level is CardLevel.WARNING and not suspended
    if kind is Kind.YELLOW:
        return level is CardLevel.YELLOW and not suspended
    return level is CardLevel.RED and "past_grace" in codes and not suspended  # RED


# --- the history -------------------------------------------------------------------------------


def demo_events(
    site: Site, now: dt.datetime, seed: int = DEMO_SEED, cases: int = DEFAULT_CASES
) -> list[CaseEvent]:
    """The event history of `cases` synthetic approval cases up to `now` (rules in the module
    docstring); deterministic for the same site, `now` and seed."""
    return [event for _, _, events in demo_cases(site, now, seed, cases) for event in events]


def demo_cases(
    site: Site, now: dt.datetime, seed: int = DEMO_SEED, cases: int = DEFAULT_CASES
) -> list[tuple[str, Kind, list[CaseEvent]]]:
    """(case id, kind, events) of each generated case, in order of acceptance."""
    calendar = work_calendar(site.schedule)
    line = _line(calendar, now)
    planner = _Planner(site, line, now)
    rng = random.Random(seed)
    kinds = [kind for kind, count in mix(cases).items() for _ in range(count)]
    rng.shuffle(kinds)
    drafts: list[tuple[Kind, _Draft]] = []
    for number, kind in enumerate(kinds):
        drafts.append((kind, _draw(planner, rng, kind, f"DRAFT-{number}")))
    drafts.sort(key=lambda pair: pair[1].accepted_u)
    result = []
    per_day: dict[dt.date, int] = {}
    for kind, draft in drafts:
        day = line.at(draft.accepted_u).date()
        per_day[day] = per_day.get(day, 0) + 1
        case_id = f"DEMO-{day:%Y%m%d}-{per_day[day]:03d}"
        result.append((case_id, kind, planner.events(case_id, draft)))
    return result


def _draw(planner: _Planner, rng: random.Random, kind: Kind, case_id: str) -> _Draft:
    for _ in range(_TRIES):
        draft = planner.draft(rng, kind)
        if draft is None:
            continue
        evaluation, suspended = planner.judge(case_id, planner.events(case_id, draft))
        if _fits(kind, evaluation, suspended):
            return draft
    raise RuntimeError(
        f"no demo case of kind '{kind}' fits the site's calendar and card rules at"
        f" {planner.now.isoformat()}"
    )


def feed_demo(
    ledger: CaseLedger,
    sources: Sources,
    site: Site,
    now: dt.datetime | None = None,
    seed: int = DEMO_SEED,
) -> int:
    """Register `DEMO_SOURCE` and ingest the demo history through the ledger; returns the
    events stored. A store that already holds the demo's events is left as it is (0): the
    history was written for the time of the first start, and the ticker moves its cards on."""
    if DEMO_SOURCE in sources.names():
        held = ledger.db.query(
            "SELECT 1 AS found FROM case_events WHERE source = ? LIMIT 1", (DEMO_SOURCE,)
        )
        if held:
            return 0
    else:
        sources.add(DEMO_SOURCE)
    when = now or dt.datetime.now(dt.UTC)
    return ledger.ingest(DEMO_SOURCE, demo_events(site, when, seed), when).accepted
