"""The live guard: orders only for the broker's current session while the market is open."""

from __future__ import annotations

import datetime as dt

from alchemiser_dagster.domain.broker import MarketClock
from alchemiser_dagster.domain.constants import NEW_YORK


def trading_refusal(session: dt.date, clock: MarketClock) -> str | None:
    """Why orders must not be placed for `session` now, or None when they may."""
    today = clock.timestamp.astimezone(NEW_YORK).date()
    if session != today:
        return (
            f"partition {session} is not the broker's current session ({today}); "
            "a past or future day produces a plan only"
        )
    if not clock.is_open:
        return (
            f"the market is closed at {clock.timestamp.isoformat()}; next open {clock.next_open.isoformat()}"
        )
    return None
