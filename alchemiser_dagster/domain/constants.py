"""Facts every layer shares, each defined once: the market's clock, money and share steps,
the weight-sum tolerance. Kept free of heavy imports so the CLI can read them cheaply."""

from __future__ import annotations

from decimal import Decimal
from typing import Final
from zoneinfo import ZoneInfo

__all__ = [
    "CENT",
    "FLOAT_WEIGHT_SUM_TOLERANCE",
    "FRACTIONAL_STEP",
    "MARKET_TIMEZONE",
    "MIN_ORDER_USD",
    "NEW_YORK",
    "SUB_DOLLAR_TICK",
    "WEIGHT_SUM_TOLERANCE",
]

#: The NYSE's time zone: sessions, closes, partitions and schedules are all New York time.
MARKET_TIMEZONE: Final = "America/New_York"
NEW_YORK: Final = ZoneInfo(MARKET_TIMEZONE)

#: Dollars are recorded to the cent; also the price tick at or above $1 (SEC Rule 612).
CENT: Final = Decimal("0.01")
#: Price tick below $1.
SUB_DOLLAR_TICK: Final = Decimal("0.0001")
#: Smallest fractional share quantity we order (Alpaca accepts more digits; we stop at 6).
FRACTIONAL_STEP: Final = Decimal("0.000001")
#: An order worth less than this is not placed (Alpaca's minimum fractional notional).
MIN_ORDER_USD: Final = Decimal(1)

#: How far weights that must sum to 1 may miss it (one part in a million).
WEIGHT_SUM_TOLERANCE: Final = Decimal("1e-6")
#: The same tolerance for float weights. The load-time check of ``weight-specified`` and the
#: evaluator's root guard share it, so a symphony accepted at load cannot then fail every
#: session on a stricter sum check.
FLOAT_WEIGHT_SUM_TOLERANCE: Final = float(WEIGHT_SUM_TOLERANCE)
