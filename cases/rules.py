"""The site's case rules from its config (`cases:` in cameras.yaml), as the clock's and the card
rules' values.

Rules:

- An item is looked up by its exact code (事项编码); an unknown code gets the site's defaults:
  the site's card rules, no default limits, no step limits.
- `card_rules_for`: the site's `card_rules`, with the keys the item's `card_rules` writes
  replacing the site's (an item's explicit `warning_fraction: null` warns by working days).
- `promised_default` / `legal_default`: the item's configured limit, for a case whose approval
  system sent none (None: not configured).
- `step_limit`: the item's node limit of a step, by its exact name (None: the step is unlimited).

Every value the config accepts converts (its bounds are those of `Limit` and `CardRules`).
"""

from __future__ import annotations

from dataclasses import replace

from cases.cards import CardRules
from cases.clock import Limit, LimitUnit
from hallwatch.config_cases import CardRulesSettings, CaseItem, CasesSettings, LimitSettings


def limit_of(settings: LimitSettings) -> Limit:
    """A configured limit as the clock's `Limit`."""
    return Limit(settings.amount, LimitUnit(settings.unit))


def site_card_rules(settings: CasesSettings) -> CardRules:
    """The site's card rules, before any item's overrides."""
    return _card_rules(settings.card_rules)


def _card_rules(rules: CardRulesSettings) -> CardRules:
    return CardRules(
        warning_working_days=rules.warning_working_days,
        warning_fraction=rules.warning_fraction,
        grace_working_days=rules.grace_working_days,
        red_past_legal=rules.red_past_legal,
        early_working_days=rules.early_working_days,
    )


def _item(settings: CasesSettings, item_code: str) -> CaseItem | None:
    return settings.items.get(item_code)


def card_rules_for(settings: CasesSettings, item_code: str) -> CardRules:
    """The card rules of an item: the site's, with the item's overrides."""
    rules = site_card_rules(settings)
    item = _item(settings, item_code)
    if item is None:
        return rules
    overrides = item.card_rules
    changes = {name: getattr(overrides, name) for name in overrides.model_fields_set}
    return replace(rules, **changes) if changes else rules


def promised_default(settings: CasesSettings, item_code: str) -> Limit | None:
    """The item's configured promised limit (承诺时限), or None."""
    item = _item(settings, item_code)
    return None if item is None or item.promised is None else limit_of(item.promised)


def legal_default(settings: CasesSettings, item_code: str) -> Limit | None:
    """The item's configured statutory limit (法定时限), or None."""
    item = _item(settings, item_code)
    return None if item is None or item.legal is None else limit_of(item.legal)


def step_limit(settings: CasesSettings, item_code: str, step_name: str) -> Limit | None:
    """The item's node limit of the step named `step_name`, or None."""
    item = _item(settings, item_code)
    if item is None:
        return None
    limit = item.step_limits.get(step_name)
    return None if limit is None else limit_of(limit)
