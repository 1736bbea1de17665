"""Billable units of a timed CPT code from its direct minutes: the CMS 8-minute rule.

A timed service is billed in 15-minute units. The first unit needs at least 8 minutes; each further
unit needs the full 15 minutes of the next block to be at least half used (8 of its 15 minutes):
0-7 min -> 0, 8-22 -> 1, 23-37 -> 2, 38-52 -> 3, 53-67 -> 4, 68-82 -> 5, ...

For one timed code per session (97755 here) this is the whole rule; sharing the minutes of
several timed codes in one session is outside this module.
"""

from __future__ import annotations

__all__ = ["UNIT_MINUTES", "timed_units"]

UNIT_MINUTES = 15
"""Length of one billable unit of a timed code, in minutes."""


def timed_units(minutes: int) -> int:
    """Billable units for ``minutes`` of direct one-on-one time (CMS 8-minute rule)."""
    if isinstance(minutes, bool) or not isinstance(minutes, int):
        raise TypeError(f"timed minutes must be an integer, not {type(minutes).__name__}")
    if minutes < 0:
        raise ValueError(f"timed minutes cannot be negative: {minutes}")
    return (minutes + UNIT_MINUTES // 2) // UNIT_MINUTES
