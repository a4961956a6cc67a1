"""``alchemiser ledger``: the fills stored for one session, as the broker reported them.

Reads the newest stored ``fill_ledger`` of the session (storage keeps every run's value)
through the graph's own IO manager (the storage base ``ALCHEMISER_STORAGE``, local or S3;
the account's prefix with an accounts file), so it shows exactly what the run recorded.
Quantities and prices are the broker's, as exact decimal strings. ``strategy`` names the
strategies the symbol's target came from, largest share first (comma-separated; empty when
no strategy wanted it).

Errors exit 1 with a one-line message; output is built before anything is printed.
"""

import datetime as dt
import json
from decimal import Decimal

import click
import pandas as pd

from alchemiser_dagster.cli.types import DATE
from alchemiser_dagster.domain.calendar import is_session, latest_session_on_or_before
from alchemiser_dagster.domain.constants import NEW_YORK
from alchemiser_dagster.domain.errors import StorageError
from alchemiser_dagster.settings import load_settings

LEDGER_ASSET = "fill_ledger"


def fills_of(ledger: pd.DataFrame) -> list[dict[str, str]]:
    """One entry per fill: symbol, side, qty, price, client_order_id, strategy."""
    fills = []
    for row in ledger.to_dict("records"):
        shares = json.loads(row["attribution"] or "{}")
        ranked = sorted(shares, key=lambda name: (-Decimal(shares[name]), name))
        fills.append(
            {
                "symbol": str(row["symbol"]),
                "side": str(row["side"]),
                "qty": str(row["filled_qty"]),
                "price": str(row["filled_avg_price"]),
                "client_order_id": str(row["client_order_id"]),
                "strategy": ", ".join(ranked),
            }
        )
    return fills


def _table(day: dt.date, fills: list[dict[str, str]], ledger: pd.DataFrame) -> str:
    if not fills:
        return f"Session {day}: no fills"
    notional = {side: Decimal(0) for side in ("buy", "sell")}
    for value, side in zip(ledger["notional"], ledger["side"], strict=True):
        notional[side] += Decimal(value)
    bought, sold = notional["buy"], notional["sell"]
    lines = [f"Session {day}: {len(fills)} fills, bought {bought:,.2f}, sold {sold:,.2f}"]
    lines.append(f"  {'side':<4} {'symbol':<8} {'qty':>14} {'price':>12}  {'client_order_id':<40} strategy")
    for f in fills:
        fill = f"{f['side']:<4} {f['symbol']:<8} {f['qty']:>14} {f['price']:>12}"
        lines.append(f"  {fill}  {f['client_order_id']:<40} {f['strategy']}")
    return "\n".join(lines)


def _stored_ledger(day: dt.date) -> tuple[pd.DataFrame, str]:
    from alchemiser_dagster.pipeline.io_manager import ModelIOManager

    settings = load_settings()
    prefix = [settings.account] if settings.account else []
    storage = ModelIOManager(base=settings.storage)
    ledger = storage.stored_frame([*prefix, LEDGER_ASSET], day.isoformat())
    where = str(storage.partition_folder([*prefix, LEDGER_ASSET], day.isoformat()))
    if ledger is None:
        raise StorageError(
            f"no fill ledger stored for {day} ({where}); run `alchemiser run --date {day}` first"
        )
    return ledger, where


@click.command()
@click.option("--date", "session", type=DATE, help="Session (default: the latest).")
@click.option("--json", "as_json", is_flag=True, help="Print the fills as a JSON list.")
def ledger(session: dt.datetime | None, as_json: bool) -> None:
    """Print the session's stored fills (--json: symbol, side, qty, price, client_order_id, strategy)."""
    day = session.date() if session else latest_session_on_or_before(dt.datetime.now(NEW_YORK).date())
    if not is_session(day):
        raise click.UsageError(f"{day} is not an NYSE session; ledgers exist for sessions only")
    stored, where = _stored_ledger(day)
    try:
        fills = fills_of(stored)
        output = json.dumps(fills, indent=2) if as_json else _table(day, fills, stored)
    except (ValueError, KeyError, ArithmeticError) as error:  # a column missing or not a number
        raise StorageError(
            f"{where}: the stored ledger is unreadable ({type(error).__name__}: {error})"
        ) from error
    click.echo(output)
