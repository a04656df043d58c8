"""Capped exponential backoff with jitter, reset after a healthy period."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class BackoffPolicy:
    initial_s: float = 1.0
    max_s: float = 30.0
    factor: float = 2.0
    jitter: float = 0.5  # up to this fraction is taken off each delay, at random
    healthy_reset_s: float = 30.0  # a connection that lived this long resets the attempts


def backoff_delay(policy: BackoffPolicy, attempt: int, rnd: float) -> float:
    """Delay before retry number `attempt` (0-based); `rnd` in [0, 1) draws the jitter."""
    base = min(policy.max_s, policy.initial_s * policy.factor ** min(attempt, 32))
    return base * (1.0 - policy.jitter * rnd)


def failures_after(policy: BackoffPolicy, failures: int, healthy_for_s: float) -> int:
    """Consecutive failures after a connection that stayed up `healthy_for_s` seconds ended:
    a healthy connection starts the count again at 1."""
    return 1 if healthy_for_s >= policy.healthy_reset_s else failures + 1
