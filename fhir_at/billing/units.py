"""Billable units of a timed CPT code from its direct minutes: the CMS 8-minute rule.

A timed service is billed in 15-minute units. The first unit needs at least 8 minutes; each further
unit needs the full 15 minutes of the next block to be at least half used (8 of its 15 minutes):
0-7 min -> 0, 8-22 -> 1, 23-37 -> 2, 38-52 -> 3, 53-67 -> 4, 68-82 -> 5, ...

With several timed codes on one day, the total timed minutes give the total units
(:func:`allocate_units`). Source: CMS IOM 100-04, Medicare Claims Processing Manual, ch. 5 §20.2.
"""

from __future__ import annotations

__all__ = ["UNIT_MINUTES", "timed_units", "allocate_units"]

UNIT_MINUTES = 15
"""Length of one billable unit of a timed code, in minutes."""


def timed_units(minutes: int) -> int:
    """Billable units for ``minutes`` of direct one-on-one time (CMS 8-minute rule)."""
    if isinstance(minutes, bool) or not isinstance(minutes, int):
        raise TypeError(f"timed minutes must be an integer, not {type(minutes).__name__}")
    if minutes < 0:
        raise ValueError(f"timed minutes cannot be negative: {minutes}")
    return (minutes + UNIT_MINUTES // 2) // UNIT_MINUTES


def allocate_units(minutes_by_code: dict[str, int]) -> dict[str, int]:
    """Units of each timed code of one day when several are billed (CMS 8-minute rule).

    The *total* timed minutes give the total units; each code first gets one unit per full 15
    minutes, and the units left go to the codes with the most remaining minutes (ties: the code
    listed first). A code with under 8 minutes alone can still get a unit this way.
    """
    total = timed_units(sum(minutes_by_code.values()))
    units = {code: m // UNIT_MINUTES for code, m in minutes_by_code.items()}
    left = total - sum(units.values())
    order = sorted(minutes_by_code, key=lambda c: -(minutes_by_code[c] % UNIT_MINUTES))
    for code in order:
        if left <= 0:
            break
        units[code] += 1
        left -= 1
    return units
