"""Configuration of the supervision store (section `cases:`): card rules of the site and, per
approval item (事项), its default promised and legal limits, card-rule overrides and step limits.

The bounds here are those of `cases.clock.Limit` and `cases.cards.CardRules` (tests keep them
equal), so that every value this section accepts converts (`cases.rules`): a config that loads
never fails later. This module may not import `cases` (which imports the config: a cycle).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, Field, model_validator

from hallwatch.config_base import Model

# The values of cases.clock.LimitUnit (a test keeps them equal).
LimitUnitName = Literal["working_days", "natural_days", "working_hours"]

# cases.clock.MAX_LIMIT (a test keeps them equal).
MAX_LIMIT = 10_000
# The most working days a card rule may name (cases.cards.CardRules checks the same bound).
MAX_RULE_DAYS = 1000.0


def _trimmed(what: str) -> AfterValidator:
    def check(value: str) -> str:
        if not value.strip():
            raise ValueError(f"{what} must not be empty")
        if value != value.strip():
            raise ValueError(f"{what} '{value}' has spaces around it: write it without them")
        return value

    return AfterValidator(check)


ItemCode = Annotated[str, _trimmed("item code")]
StepName = Annotated[str, _trimmed("step name")]


class LimitSettings(Model):
    """A time limit: `amount` of `unit` (as `cases.clock.Limit`)."""

    amount: int = Field(
        ge=0,
        le=MAX_LIMIT,
        strict=True,
        description=f"Whole number of units, 0..{MAX_LIMIT} (0 days: a same-day item, 即办件)",
    )
    unit: LimitUnitName = Field(
        default="working_days",
        description="working_days (legal working days), natural_days (calendar days, ending on"
        " a working day) or working_hours (office hours, at least 1)",
    )

    @model_validator(mode="after")
    def _whole_hour(self) -> LimitSettings:
        if self.unit == "working_hours" and self.amount == 0:
            raise ValueError("a limit in working hours must be at least 1 hour")
        return self

    def __str__(self) -> str:
        return f"{self.amount} {self.unit.replace('_', ' ')}"


class CardRulesSettings(Model):
    """Card thresholds (as `cases.cards.CardRules`, with its defaults).

    As an item's override only the keys written change the site's rules (an explicit
    `warning_fraction: null` there goes back to warning by working days).
    """

    warning_working_days: float = Field(
        default=1.0,
        ge=0,
        le=MAX_RULE_DAYS,
        allow_inf_nan=False,
        description="Warning (预警) when at most this much office time is left before the"
        " promised deadline, in working days (0..1000)",
    )
    warning_fraction: float | None = Field(
        default=None,
        gt=0,
        le=1,
        allow_inf_nan=False,
        description="When set, warn at this fraction (0 < f <= 1) of the office time the promised"
        " limit allows instead of warning_working_days, e.g. 0.2; null: by working days",
    )
    grace_working_days: float = Field(
        default=2.0,
        ge=0,
        le=MAX_RULE_DAYS,
        allow_inf_nan=False,
        description="Supervision grace (督办宽限期) after the promised deadline, in working days"
        " (0..1000): past it the case gets a red card",
    )
    red_past_legal: bool = Field(
        default=True, description="Red card past the statutory (legal) limit of the case"
    )
    early_working_days: float = Field(
        default=1.0,
        ge=0,
        le=MAX_RULE_DAYS,
        allow_inf_nan=False,
        description="A case completed with at least this many working days left counts as"
        " early (0..1000)",
    )


class CaseItem(Model):
    """An approval item (事项): its default limits, card-rule overrides and step limits."""

    name: str | None = Field(
        default=None, description="Item name shown in the console, e.g. 建设工程规划许可"
    )
    promised: LimitSettings | None = Field(
        default=None,
        description="Promised limit (承诺时限) used when the approval system sends none",
    )
    legal: LimitSettings | None = Field(
        default=None,
        description="Statutory limit (法定时限) used when the approval system sends none",
    )
    card_rules: CardRulesSettings = Field(
        default=CardRulesSettings(),
        description="Overrides of the site's card_rules for this item: only the keys written"
        " here change",
    )
    step_limits: dict[StepName, LimitSettings] = Field(
        default={},
        description="Node limit (环节时限) of each step by its name (承办, 审核, 批准 ...): a step"
        " that overruns it gets a red card",
    )

    @model_validator(mode="after")
    def _promise_within_law(self) -> CaseItem:
        promised, legal = self.promised, self.legal
        if (
            promised is not None
            and legal is not None
            and promised.unit == legal.unit
            and promised.amount > legal.amount
        ):
            raise ValueError(
                f"the promised limit ({promised}) is longer than the legal limit ({legal}):"
                " a promise can only shorten the statutory limit"
            )
        return self


# Upper bound of every scoring weight (points): a typo such as 500 per card is an error.
MAX_WEIGHT = 100.0


def _weight(default: float, description: str) -> float:
    return Field(default=default, ge=0, le=MAX_WEIGHT, allow_inf_nan=False, description=description)


class ScoringSettings(Model):
    """Weights of the performance score (绩效评估) of a department or window in a period:

    score = 100 − (per_warning_card × warnings + per_yellow_card × yellow cards
                   + per_red_card × red cards + per_on_time_point × (100 − on-time rate %)
                   + per_vacancy_hour × vacancy hours
                   + per_wait_minute × max(0, mean wait minutes − wait_target_minutes))
                + early_bonus_per_point × early-completion rate %,
    bounded to 0..100. A figure that is unknown in the period (no case completed, no analyzer
    statistics, no queue wait) adds nothing. Cards count each level a card reached in the
    period (raised or escalated to it). See cases.scoring.
    """

    per_warning_card: float = _weight(
        0.0,
        "Points deducted per warning (预警) raised in the period (0..100); 0: a warning is a"
        " reminder, not a fault",
    )
    per_yellow_card: float = _weight(
        2.0,
        "Points deducted per yellow card (黄牌) raised or escalated to in the period (0..100)",
    )
    per_red_card: float = _weight(
        5.0,
        "Points deducted per red card (红牌) raised or escalated to in the period (0..100); a"
        " case that went yellow then red costs both",
    )
    per_on_time_point: float = _weight(
        0.5,
        "Points deducted per percentage point of on-time rate (按时办结率, completed on time /"
        " completed) below 100 % (0..100)",
    )
    per_vacancy_hour: float = _weight(
        1.0,
        "Points deducted per hour a window's staff seat was vacant (空岗) during service hours,"
        " from the analyzers' statistics; a department sums its windows (0..100)",
    )
    wait_target_minutes: float = Field(
        default=15.0,
        ge=0,
        le=1440,
        allow_inf_nan=False,
        description="Mean queue waiting time (minutes) that costs nothing; each minute above"
        " it costs per_wait_minute (0..1440)",
    )
    per_wait_minute: float = _weight(
        0.5,
        "Points deducted per minute the mean queue waiting time (排队等候) of the window (a"
        " department: of all its windows' waits) is above wait_target_minutes (0..100)",
    )
    early_bonus_per_point: float = _weight(
        0.05,
        "Points added per percentage point of early-completion rate (提前办结率, completed"
        " early / completed), e.g. 0.05: 5 points at 100 % (0..100); the score stays at"
        " most 100",
    )


class CasesSettings(Model):
    database: str | None = Field(
        default=None,
        pattern=r"^postgres(ql)?://",
        description="PostgreSQL URL of the supervision store, e.g."
        " postgresql://hallwatch@127.0.0.1/hallwatch; null: the site's own SQLite store",
    )
    tick_s: float = Field(
        default=30.0,
        ge=1,
        le=3600,
        description="How often cards are re-judged as deadlines pass (seconds)",
    )
    card_rules: CardRulesSettings = Field(
        default=CardRulesSettings(), description="Card thresholds of the site (every item)"
    )
    items: dict[ItemCode, CaseItem] = Field(
        default={},
        description="Approval items by item code (事项编码, exactly as the approval system sends"
        " it; quote codes made of digits so that YAML keeps them as text)",
    )
    scoring: ScoringSettings = Field(
        default=ScoringSettings(),
        description="Weights of the performance score (绩效评估) per department and window:"
        " 100 − per_warning_card × warnings − per_yellow_card × yellow cards − per_red_card"
        " × red cards − per_on_time_point × (100 − on-time rate %) − per_vacancy_hour ×"
        " vacancy hours − per_wait_minute × minutes of mean wait above wait_target_minutes"
        " + early_bonus_per_point × early-completion rate %, bounded to 0..100",
    )
