"""cases.rules: the site's card rules and limits by item, and every accepted config value
converting to the clock's and the card rules' values."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from cases.cards import CardLevel, CardRules, CaseView, Step, evaluate
from cases.clock import MAX_LIMIT, Limit, LimitUnit
from cases.rules import (
    card_rules_for,
    legal_default,
    limit_of,
    promised_default,
    site_card_rules,
    step_limit,
)
from cases.workdays import work_calendar
from hallwatch.config import Schedule
from hallwatch.config_cases import CardRulesSettings, CasesSettings, LimitSettings

SETTINGS = CasesSettings.model_validate(
    {
        "card_rules": {"grace_working_days": 3, "warning_fraction": 0.25, "early_working_days": 2},
        "items": {
            "PLAN": {
                "name": "建设工程规划许可",
                "promised": {"amount": 10, "unit": "working_days"},
                "legal": {"amount": 20},
                "card_rules": {"grace_working_days": 5, "red_past_legal": False},
                "step_limits": {
                    "审核": {"amount": 2, "unit": "working_days"},
                    "批准": {"amount": 4, "unit": "working_hours"},
                    "公示": {"amount": 7, "unit": "natural_days"},
                },
            },
            "DAYS": {"card_rules": {"warning_fraction": None, "warning_working_days": 0.5}},
            "SAME-DAY": {"promised": {"amount": 0}},
            "BARE": {},
        },
    }
)
SITE_RULES = CardRules(grace_working_days=3, warning_fraction=0.25, early_working_days=2)


def test_site_rules() -> None:
    assert site_card_rules(SETTINGS) == SITE_RULES
    assert site_card_rules(CasesSettings()) == CardRules()


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("PLAN", CardRules(grace_working_days=5, red_past_legal=False, warning_fraction=0.25,
                           early_working_days=2)),
        # an explicit null fraction goes back to warning by working days
        ("DAYS", CardRules(warning_working_days=0.5, warning_fraction=None, grace_working_days=3,
                           early_working_days=2)),
        ("SAME-DAY", SITE_RULES),  # no overrides
        ("BARE", SITE_RULES),
        ("UNKNOWN", SITE_RULES),  # an unknown item gets the site's rules
        ("plan", SITE_RULES),  # codes are exact
        (" PLAN", SITE_RULES),
    ],
)  # fmt: skip
def test_card_rules_for(code: str, expected: CardRules) -> None:
    assert card_rules_for(SETTINGS, code) == expected


def test_default_site_and_unknown_item() -> None:
    assert card_rules_for(CasesSettings(), "ANY") == CardRules()


@pytest.mark.parametrize(
    ("code", "step", "expected"),
    [
        ("PLAN", "审核", Limit(2, LimitUnit.WORKING_DAYS)),
        ("PLAN", "批准", Limit(4, LimitUnit.WORKING_HOURS)),
        ("PLAN", "公示", Limit(7, LimitUnit.NATURAL_DAYS)),
        ("PLAN", "承办", None),  # a step without a node limit
        ("PLAN", "审核 ", None),  # names are exact
        ("BARE", "审核", None),
        ("UNKNOWN", "审核", None),
    ],
)
def test_step_limit(code: str, step: str, expected: Limit | None) -> None:
    assert step_limit(SETTINGS, code, step) == expected


@pytest.mark.parametrize(
    ("code", "promised", "legal"),
    [
        ("PLAN", Limit(10), Limit(20, LimitUnit.WORKING_DAYS)),
        ("SAME-DAY", Limit(0), None),
        ("BARE", None, None),
        ("UNKNOWN", None, None),
    ],
)
def test_default_limits(code: str, promised: Limit | None, legal: Limit | None) -> None:
    assert promised_default(SETTINGS, code) == promised
    assert legal_default(SETTINGS, code) == legal


def test_the_item_rules_reach_the_card_rules() -> None:
    """A configured grace and step limit change the card a case deserves."""
    calendar = work_calendar(Schedule())
    sh = ZoneInfo("Asia/Shanghai")
    accepted = dt.datetime(2026, 11, 16, 10, tzinfo=sh)  # Monday; 10 working days: 11-30 17:30
    promised = promised_default(SETTINGS, "PLAN")
    assert promised is not None
    review = Step("审核", accepted, limit=step_limit(SETTINGS, "PLAN", "审核"))
    case = CaseView(promised, accepted, steps=(review,))
    # review started Monday 11-16: 2 working days end Wednesday 11-18 17:30
    thursday = dt.datetime(2026, 11, 19, 10, tzinfo=sh)
    judged = evaluate(calendar, card_rules_for(SETTINGS, "PLAN"), case, thursday)
    assert judged.level is CardLevel.RED
    assert [reason.code for reason in judged.reasons] == ["step_overdue"]
    # on the 4th working day past the promise: red with the site's grace (3), yellow with PLAN's (5)
    late = dt.datetime(2026, 12, 4, 10, tzinfo=sh)
    plain = CaseView(promised, accepted)
    assert evaluate(calendar, card_rules_for(SETTINGS, "BARE"), plain, late).level is CardLevel.RED
    assert evaluate(calendar, card_rules_for(SETTINGS, "PLAN"), plain, late).level is (
        CardLevel.YELLOW
    )


# --- every value the config accepts converts, and the config refuses what would not -----------

UNITS = [unit.value for unit in LimitUnit]
NUMBERS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(min_value=-1, max_value=1001),
    st.sampled_from([0.0, -0.0, 1.0, 1000.0, 1000.0000001, 1e-300, -1e-300]),
    st.integers(min_value=-2, max_value=1002),
)


def _accepts(build: Any, *args: Any, **kwargs: Any) -> bool:
    try:
        build(*args, **kwargs)
    except (ValueError, ValidationError):
        return False
    return True


@given(
    st.one_of(
        st.integers(min_value=-5, max_value=MAX_LIMIT + 5), st.integers(), st.sampled_from([0, 1])
    ),
    st.sampled_from(UNITS),
)
def test_a_limit_loads_exactly_when_the_clock_takes_it(amount: int, unit: str) -> None:
    loads = _accepts(LimitSettings, amount=amount, unit=unit)
    assert loads == _accepts(Limit, amount, LimitUnit(unit))
    if loads:
        assert limit_of(LimitSettings(amount=amount, unit=unit)) == Limit(amount, LimitUnit(unit))  # type: ignore[arg-type]


@pytest.mark.parametrize("field", ["warning_working_days", "grace_working_days",
                                   "early_working_days", "warning_fraction"])  # fmt: skip
@given(value=NUMBERS)
def test_a_card_rule_loads_exactly_when_the_cards_take_it(field: str, value: float) -> None:
    loads = _accepts(CardRulesSettings, **{field: value})
    assert loads == _accepts(CardRules, **{field: value})
    if loads:
        converted = site_card_rules(CasesSettings(card_rules=CardRulesSettings(**{field: value})))
        assert converted == CardRules(**{field: float(value)})
        item = CasesSettings.model_validate({"items": {"X": {"card_rules": {field: value}}}})
        assert card_rules_for(item, "X") == CardRules(**{field: float(value)})
