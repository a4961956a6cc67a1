"""Read the account once per run, completely, or not at all.

Any failed broker read propagates: a missing balance is never 0 and a failed position
list is never "flat". Problems with what was read (zero equity, a blocked account, an
unexpected short, an equity that is not cash plus the positions' market value) are
reported by `snapshot_problems` for a blocking check, never "fixed" here.

Equity and positions come from two reads, so prices may move between them: equity must
match cash + the positions' market value within `EQUITY_TOLERANCE_PCT` of equity or
`EQUITY_TOLERANCE_USD`, whichever is larger. Beyond that the planner would size every
order on a wrong base (a stale account, a missing position), so nothing is traded.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import Decimal

from alchemiser_dagster.domain.broker import Broker
from alchemiser_dagster.domain.portfolio.models import AccountSnapshot
from alchemiser_dagster.domain.portfolio.planner import AssetInput, PlannerInput, QuoteInput

#: How far equity may be from cash + positions' market value: the larger of these two.
EQUITY_TOLERANCE_PCT = Decimal("0.005")
EQUITY_TOLERANCE_USD = Decimal("1")


def take_snapshot(broker: Broker, symbols: Iterable[str], session: dt.date) -> AccountSnapshot:
    """Account, positions, open orders, and asset facts and prices for targets U held."""
    clock = broker.get_clock()
    account = broker.get_account()
    positions = broker.get_positions()
    open_orders = broker.get_orders(status="open")
    wanted = sorted(set(symbols) | {p.symbol for p in positions})
    return AccountSnapshot(
        session=session,
        taken_at=clock.timestamp,
        account=account,
        positions=tuple(sorted(positions, key=lambda p: p.symbol)),
        open_orders=tuple(open_orders),
        assets={symbol: broker.get_asset(symbol) for symbol in wanted},
        quotes=broker.get_latest_quotes(wanted),
        trades=broker.get_latest_trades(wanted),
    )


def snapshot_problems(snapshot: AccountSnapshot) -> list[str]:
    """Reasons the account must not be traded; empty when it is sane."""
    account = snapshot.account
    problems = []
    if account.equity <= 0:
        problems.append(f"equity is {account.equity}, not positive")
    if account.status != "ACTIVE":
        problems.append(f"account status is {account.status}")
    if account.account_blocked:
        problems.append("account is blocked")
    if account.trading_blocked:
        problems.append("trading is blocked")
    shorts = [p.symbol for p in snapshot.positions if p.side == "short" or p.qty < 0]
    if shorts:
        problems.append(f"unexpected short positions: {', '.join(shorts)}")
    held = sum((p.market_value for p in snapshot.positions), Decimal(0))
    if account.equity > 0 and (mismatch := equity_mismatch(account.equity, account.cash, held)) is not None:
        problems.append(f"{mismatch}; the account read is inconsistent")
    return problems


def equity_mismatch(equity: Decimal, cash: Decimal, positions_value: Decimal) -> str | None:
    """Why `equity` is not `cash` + `positions_value` (None when it is, within tolerance).

    The one copy of the rule: the daily graph's account check and `alchemiser plan`'s
    snapshot check both ask it.
    """
    expected = cash + positions_value
    tolerance = max(EQUITY_TOLERANCE_USD, equity * EQUITY_TOLERANCE_PCT)
    if abs(equity - expected) <= tolerance:
        return None
    return (
        f"equity {equity} is not cash {cash} + positions' market value {positions_value} = {expected}"
        f" (off by {abs(equity - expected)}, tolerance {tolerance}: the larger of"
        f" ${EQUITY_TOLERANCE_USD} and {EQUITY_TOLERANCE_PCT:%} of equity)"
    )


def planner_input(snapshot: AccountSnapshot) -> PlannerInput:
    """The planner's view of the snapshot: quantities, quotes and asset facts as Decimal."""
    return PlannerInput(
        equity=snapshot.account.equity,
        cash=snapshot.account.cash,
        buying_power=snapshot.account.buying_power,
        positions={p.symbol: p.qty for p in snapshot.positions},
        quotes={
            symbol: QuoteInput(
                bid=snapshot.quotes[symbol].bid if symbol in snapshot.quotes else None,
                ask=snapshot.quotes[symbol].ask if symbol in snapshot.quotes else None,
                last=snapshot.trades[symbol].price if symbol in snapshot.trades else None,
            )
            for symbol in snapshot.assets
        },
        assets={
            symbol: AssetInput(tradable=asset.tradable, fractionable=asset.fractionable)
            for symbol, asset in snapshot.assets.items()
        },
    )
