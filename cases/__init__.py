"""Supervision store for approval cases: working-day clock, deadlines and card rules.

The pure core lives here: `cases.workdays` (the site's legal working days and office hours),
`cases.clock` (statutory deadlines, suspensions, remaining time) and `cases.cards` (warning /
yellow / red card rules and their state transitions). Storage and HTTP intake build on them.
"""
