"""Deterministic client order ids: a rerun of the same plan finds its own orders.

Format (portfolio-execution spec): ``alch-<yyyymmdd>-<plan hash 8>-<SYMBOL>-<b|s><step>``,
at most 48 characters, with ``/`` in symbols (``BRK/B``) replaced by ``.``.
"""

from __future__ import annotations

import datetime as dt

from alchemiser_dagster.domain.broker import Side

PREFIX = "alch"
MAX_LENGTH = 48


def session_prefix(session: dt.date) -> str:
    """Every order of ours for a session starts with this."""
    return f"{PREFIX}-{session:%Y%m%d}-"


def client_order_id(session: dt.date, plan_id: str, symbol: str, side: Side, step: int) -> str:
    value = f"{session_prefix(session)}{plan_id[:8]}-{symbol.replace('/', '.')}-{side[0]}{step}"
    if len(value) > MAX_LENGTH:
        raise ValueError(f"client_order_id {value!r} is longer than {MAX_LENGTH} characters")
    return value


def plan_prefix_for(session: dt.date, plan_id: str) -> str:
    """Every order of one plan starts with this."""
    return f"{session_prefix(session)}{plan_id[:8]}-"
