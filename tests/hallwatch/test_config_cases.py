"""cameras.yaml `cases:` section: what loads, and located errors for what does not."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import get_args

import pytest
from pydantic import ValidationError

from cases import cards, clock
from hallwatch.config import ConfigError, load_site
from hallwatch.config_cases import (
    MAX_LIMIT,
    CardRulesSettings,
    CaseItem,
    CasesSettings,
    LimitSettings,
    LimitUnitName,
)
from tests.support.config_files import ConfigFiles

REPO = Path(__file__).resolve().parents[2]

SITE = """\
name: 测试中心
cameras:
  - id: cam01
    name: 一号
    url: rtsp://192.0.2.1/stream
"""

GOOD = """\
cases:
  card_rules:
    warning_working_days: 0.5
    grace_working_days: 3
    red_past_legal: false
  items:
    "PLAN-0001":
      name: 建设工程规划许可
      promised:
        amount: 10
        unit: working_days
      legal: {amount: 20}
      card_rules:
        warning_fraction: 0.2
      step_limits:
        审核:
          amount: 2
          unit: working_days
        批准:
          amount: 4
          unit: working_hours
    "0042":
      promised: {amount: 30, unit: natural_days}
"""


FILES = ConfigFiles(SITE)
write, problem_of, line_of = FILES.write, FILES.problem_of, FILES.line_of


def test_a_site_without_the_section_gets_the_defaults(tmp_path: Path) -> None:
    site = load_site(write(tmp_path, ""))
    assert site.cases == CasesSettings()
    assert site.cases.items == {}
    assert site.cases.card_rules.grace_working_days == 2.0
    assert site.cases.card_rules.warning_fraction is None


def test_every_value_of_a_good_section_loads(tmp_path: Path) -> None:
    cases = load_site(write(tmp_path, GOOD)).cases
    assert cases.card_rules.warning_working_days == 0.5
    assert cases.card_rules.grace_working_days == 3
    assert cases.card_rules.red_past_legal is False
    assert cases.card_rules.early_working_days == 1.0  # default
    item = cases.items["PLAN-0001"]
    assert item.name == "建设工程规划许可"
    assert item.promised == LimitSettings(amount=10, unit="working_days")
    assert item.legal == LimitSettings(amount=20)  # unit defaults to working days
    assert item.card_rules.model_fields_set == {"warning_fraction"}
    assert item.step_limits == {
        "审核": LimitSettings(amount=2, unit="working_days"),
        "批准": LimitSettings(amount=4, unit="working_hours"),
    }
    other = cases.items["0042"]  # a quoted code of digits keeps its leading zeros
    assert other.promised == LimitSettings(amount=30, unit="natural_days")
    assert other.legal is None and other.step_limits == {} and other.name is None
    assert other.card_rules.model_fields_set == set()


def test_the_example_config_documents_the_section() -> None:
    cases = load_site(REPO / "cameras.yaml").cases
    assert cases.card_rules == CardRulesSettings()  # the example shows the defaults
    item = next(iter(cases.items.values()))
    assert item.name and item.promised and item.legal and item.step_limits
    assert item.card_rules.model_fields_set


ITEM = "cases:\n  items:\n    PLAN-0001:\n"

BAD = [
    # (description, section, key path, line fragment, reason fragment)
    ("unknown unit of a step", ITEM + "      step_limits:\n        审核:\n          amount: 2\n          unit: working_weeks\n",
     "cases.items.PLAN-0001.step_limits.审核.unit", "unit:",
     "Input should be 'working_days', 'natural_days' or 'working_hours'"),
    ("zero working hours", ITEM + "      step_limits:\n        批准:\n          amount: 0\n          unit: working_hours\n",
     "cases.items.PLAN-0001.step_limits.批准", "批准:", "at least 1 hour"),
    ("negative amount", ITEM + "      promised:\n        amount: -1\n",
     "cases.items.PLAN-0001.promised.amount", "amount:", "greater than or equal to 0"),
    ("amount over the clock's maximum", ITEM + f"      legal:\n        amount: {MAX_LIMIT + 1}\n",
     "cases.items.PLAN-0001.legal.amount", "amount:", f"less than or equal to {MAX_LIMIT}"),
    ("fractional amount", ITEM + "      promised:\n        amount: 2.5\n",
     "cases.items.PLAN-0001.promised.amount", "amount:", "valid integer"),
    ("yes as an amount", ITEM + "      promised:\n        amount: true\n",
     "cases.items.PLAN-0001.promised.amount", "amount:", "valid integer"),
    ("limit without an amount", ITEM + "      promised:\n        unit: natural_days\n",
     "cases.items.PLAN-0001.promised.amount", "promised:", "required key 'amount' is missing"),
    ("unknown key in a limit", ITEM + "      promised:\n        amount: 5\n        days: 5\n",
     "cases.items.PLAN-0001.promised.days", "days:", "unknown key 'days'"),
    ("promise longer than the law", ITEM + "      promised: {amount: 30}\n      legal: {amount: 20}\n",
     "cases.items.PLAN-0001", "PLAN-0001:", "promised limit (30 working days) is longer than the legal limit (20 working days)"),
    ("unknown key in an item", ITEM + "      deadline: 5\n",
     "cases.items.PLAN-0001.deadline", "deadline:", "unknown key 'deadline'"),
    ("item card rule out of range", ITEM + "      card_rules:\n        grace_working_days: 1001\n",
     "cases.items.PLAN-0001.card_rules.grace_working_days", "grace_working_days:",
     "less than or equal to 1000"),
    ("item override to null days", ITEM + "      card_rules:\n        warning_working_days: null\n",
     "cases.items.PLAN-0001.card_rules.warning_working_days", "warning_working_days:",
     "valid number"),
    ("fraction zero", "cases:\n  card_rules:\n    warning_fraction: 0\n",
     "cases.card_rules.warning_fraction", "warning_fraction:", "greater than 0"),
    ("fraction above one", "cases:\n  card_rules:\n    warning_fraction: 1.5\n",
     "cases.card_rules.warning_fraction", "warning_fraction:", "less than or equal to 1"),
    ("days not a number", "cases:\n  card_rules:\n    warning_working_days: .nan\n",
     "cases.card_rules.warning_working_days", "warning_working_days:", "finite number"),
    ("infinite grace", "cases:\n  card_rules:\n    grace_working_days: .inf\n",
     "cases.card_rules.grace_working_days", "grace_working_days:", "finite number"),
    ("negative early days", "cases:\n  card_rules:\n    early_working_days: -1\n",
     "cases.card_rules.early_working_days", "early_working_days:", "greater than or equal to 0"),
    ("unknown card rule", "cases:\n  card_rules:\n    yellow_days: 1\n",
     "cases.card_rules.yellow_days", "yellow_days:", "unknown key 'yellow_days'"),
    ("unknown key in the section", "cases:\n  holidays: []\n",
     "cases.holidays", "holidays:", "unknown key 'holidays'"),
    ("item code with spaces", "cases:\n  items:\n    ' PLAN-0001':\n      name: 规划\n",
     "cases.items. PLAN-0001.[key]", "' PLAN-0001':", "item code ' PLAN-0001' has spaces around it"),
    ("empty item code", "cases:\n  items:\n    '':\n      name: 规划\n",
     "cases.items..[key]", "'':", "item code must not be empty"),
    ("blank step name", ITEM + "      step_limits:\n        '  ': {amount: 1}\n",
     "cases.items.PLAN-0001.step_limits.  .[key]", "'  ':", "step name must not be empty"),
    ("step name with spaces", ITEM + "      step_limits:\n        '审核 ': {amount: 1}\n",
     "cases.items.PLAN-0001.step_limits.审核 .[key]", "'审核 ':", "step name '审核 ' has spaces around it"),
    ("items not a mapping", "cases:\n  items: [PLAN-0001]\n",
     "cases.items", "items:", "valid dictionary"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("section", "key", "fragment", "reason"), [c[1:] for c in BAD], ids=[c[0] for c in BAD]
)
def test_each_problem_is_located(
    tmp_path: Path, section: str, key: str, fragment: str, reason: str
) -> None:
    problem = problem_of(tmp_path, section)
    assert problem.key == key, str(problem)
    assert reason in problem.reason, problem.reason
    line = line_of(section, fragment)
    assert problem.line == line, str(problem)
    assert str(problem).startswith(f"{problem.file}:{line}: {key}: ")


def test_every_problem_of_the_section_is_reported_at_once(tmp_path: Path) -> None:
    extra = (
        "cases:\n  card_rules:\n    warning_fraction: 2\n"
        + "  items:\n    PLAN-0001:\n      step_limits:\n        审核: {amount: 1, unit: weeks}\n"
        + "        批准: {amount: -2}\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_site(write(tmp_path, extra))
    keys = [problem.key for problem in caught.value.problems]
    assert keys == [
        "cases.card_rules.warning_fraction",
        "cases.items.PLAN-0001.step_limits.审核.unit",
        "cases.items.PLAN-0001.step_limits.批准.amount",
    ]


@pytest.mark.parametrize(
    "section",
    [
        "promised: {amount: 0}",  # a same-day item (即办件)
        "promised: {amount: 0, unit: natural_days}",
        f"legal: {{amount: {MAX_LIMIT}, unit: natural_days}}",
        "step_limits: {受理: {amount: 1, unit: working_hours}}",
        # a promise is compared with the law only in the same unit
        "{promised: {amount: 30, unit: natural_days}, legal: {amount: 20}}",
        "{promised: {amount: 20}, legal: {amount: 20}}",
        "card_rules: {warning_fraction: 1, grace_working_days: 0, early_working_days: 1000}",
        "card_rules: {warning_fraction: null}",
    ],
)
def test_edge_values_load(tmp_path: Path, section: str) -> None:
    body = section if section.startswith("{") else "{" + section + "}"
    site = load_site(write(tmp_path, f"cases:\n  items:\n    X-1: {body}\n"))
    assert "X-1" in site.cases.items


def test_the_bounds_are_the_clocks() -> None:
    assert MAX_LIMIT == clock.MAX_LIMIT
    assert set(get_args(LimitUnitName)) == {unit.value for unit in clock.LimitUnit}


def test_the_card_rules_are_the_cards() -> None:
    config_fields = set(CardRulesSettings.model_fields)
    assert config_fields == {field.name for field in cards.CardRules.__dataclass_fields__.values()}
    defaults = CardRulesSettings()
    assert {name: getattr(defaults, name) for name in config_fields} == {
        name: getattr(cards.CardRules(), name) for name in config_fields
    }


def test_models_validate_outside_a_file() -> None:
    with pytest.raises(ValidationError, match="at least 1 hour"):
        LimitSettings(amount=0, unit="working_hours")
    with pytest.raises(ValidationError, match="longer than the legal limit"):
        CaseItem(promised=LimitSettings(amount=5), legal=LimitSettings(amount=4))
    assert str(LimitSettings(amount=4, unit="working_hours")) == "4 working hours"


def test_check_config_locates_a_broken_copy_of_the_example(tmp_path: Path) -> None:
    path = tmp_path / "cameras.yaml"
    shutil.copy(REPO / "cameras.yaml", path)
    text = path.read_text(encoding="utf-8")
    good = "批准: {amount: 4, unit: working_hours}"
    assert text.count(good) == 1
    path.write_text(text.replace(good, "批准: {amount: 4, unit: hours}"), encoding="utf-8")
    line = next(n for n, row in enumerate(text.splitlines(), 1) if good in row)
    code = next(iter(load_site(REPO / "cameras.yaml").cases.items))
    done = subprocess.run(
        [sys.executable, "-m", "hallwatch.cli", "check-config", str(path)],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
    )
    assert done.returncode == 2, done.stdout
    expected = (
        f"{path}:{line}: cases.items.{code}.step_limits.批准.unit: Input should be"
        " 'working_days', 'natural_days' or 'working_hours'"
    )
    assert expected in done.stderr, done.stderr
