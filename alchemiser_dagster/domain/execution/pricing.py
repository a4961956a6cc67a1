"""Walk-the-book prices and quantities (portfolio-execution spec, "Execution").

A step r places a limit at bid + r x (ask - bid) for a buy and ask - r x (ask - bid) for a
sell, so each step gives up more of the spread. Prices sit on Alpaca's tick grid: cents
at and above $1, four decimals below; buys round up and sells round down, so rounding
never makes a step less aggressive than its r.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_DOWN, ROUND_FLOOR, Decimal

from alchemiser_dagster.domain.broker import QuoteInfo, Side
from alchemiser_dagster.domain.constants import CENT, FRACTIONAL_STEP, SUB_DOLLAR_TICK

WALK_STEPS: tuple[Decimal, ...] = (Decimal("0.50"), Decimal("0.75"), Decimal("0.95"))


def tick_for(price: Decimal) -> Decimal:
    return CENT if price >= 1 else SUB_DOLLAR_TICK


def usable(quote: QuoteInfo | None) -> bool:
    """A quote the walk can price from: both sides positive and not crossed."""
    return quote is not None and quote.bid > 0 and quote.ask >= quote.bid


def step_limit_price(quote: QuoteInfo, side: Side, r: Decimal) -> Decimal:
    """The limit price of walk step `r` on the tick grid (buys up, sells down)."""
    spread = quote.ask - quote.bid
    if side == "buy":
        raw = quote.bid + r * spread
        return raw.quantize(tick_for(raw), rounding=ROUND_CEILING)
    raw = quote.ask - r * spread
    return raw.quantize(tick_for(raw), rounding=ROUND_FLOOR)


def tradable_qty(qty: Decimal, fractionable: bool) -> Decimal:
    """Round a quantity toward zero to what the asset can trade (6 dp, or whole shares)."""
    step = FRACTIONAL_STEP if fractionable else Decimal(1)
    return qty.quantize(step, rounding=ROUND_DOWN) if qty > 0 else Decimal(0)
