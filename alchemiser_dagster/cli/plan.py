"""``alchemiser plan``: the rebalance planner as a command (portfolio-execution spec).

``alchemiser plan --snapshot SNAPSHOT.json --targets TARGETS.json [--settings SETTINGS.json]
[--format json|table]`` reads an account snapshot and target weights, calls the same pure
domain function as the ``rebalance_plan`` asset (:func:`plan_rebalance`) and prints the plan
as JSON (the default) or as a table for people.

Every input is checked here first so that a bad one is reported by the field that holds it
(``positions.SPY: not a decimal: 'abc'``) as one line on stderr, with exit code 2 and nothing
on stdout. Like the daily graph, a snapshot whose equity is not cash + the positions' market
value (within the larger of $1 and 0.5 % of equity) is refused. Numbers are read as Decimal
straight from the JSON text (strings or JSON numbers, never through float); NaN and infinities
are refused.

The command exits through ``ctx.exit(2)``, so it keeps its exit codes whether it runs through
:func:`main` or is registered in the ``alchemiser`` group.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import sys
from collections.abc import Mapping
from decimal import Decimal, DecimalException, InvalidOperation
from pathlib import Path
from typing import Any

import click
from pydantic import ValidationError

from alchemiser_dagster.domain.constants import WEIGHT_SUM_TOLERANCE
from alchemiser_dagster.domain.errors import MissingPrice, PortfolioError
from alchemiser_dagster.domain.portfolio.models import PlanningSettings, RebalancePlan
from alchemiser_dagster.domain.portfolio.planner import (
    WEIGHT_PLACES,
    AssetInput,
    PlannerInput,
    QuoteInput,
    plan_rebalance,
    price_of,
)
from alchemiser_dagster.domain.portfolio.snapshot import equity_mismatch

EXIT_BAD_INPUT = 2
CLI_ACCOUNT = "cli"

SNAPSHOT_FIELDS = ("equity", "cash", "buying_power", "positions", "quotes", "assets")
QUOTE_FIELDS = ("bid", "ask", "last")
ASSET_FIELDS = ("tradable", "fractionable")
SETTING_FIELDS = tuple(PlanningSettings.model_fields)

# A plain decimal literal: no whitespace, underscores, NaN or infinity (all of which
# Decimal() itself would accept).
_DECIMAL_TEXT = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


class BadInput(Exception):
    """An input the planner cannot use; the message starts with the field that holds it."""


# --- reading --------------------------------------------------------------------------------


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a finite number")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for key, value in pairs:
        if key in found:
            raise ValueError(f"duplicate key {key!r}")
        found[key] = value
    return found


def _read_json(path: Path, role: str) -> Any:
    """The document in `path`, numbers as Decimal; errors name the role and the path."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise BadInput(f"{role}: file not found: {path}") from None
    except IsADirectoryError:
        raise BadInput(f"{role}: is a directory, not a file: {path}") from None
    except OSError as error:
        raise BadInput(f"{role}: cannot read {path}: {error.strerror or error}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise BadInput(f"{role}: {path}: not UTF-8 text") from None
    try:
        return json.loads(
            text,
            parse_float=Decimal,
            parse_int=Decimal,
            parse_constant=_reject_constant,
            object_pairs_hook=_unique_keys,
        )
    except json.JSONDecodeError as error:
        raise BadInput(
            f"{role}: {path}: not valid JSON: {error.msg} (line {error.lineno}, column {error.colno})"
        ) from None
    except ValueError as error:
        raise BadInput(f"{role}: {path}: not valid JSON: {error}") from None


# --- fields ---------------------------------------------------------------------------------


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    return "a number"


def _decimal(value: Any, field: str) -> Decimal:
    """A finite Decimal from a JSON number (already Decimal) or a decimal string."""
    if isinstance(value, Decimal):
        number = value
    elif isinstance(value, str):
        if _DECIMAL_TEXT.fullmatch(value) is None:
            try:
                special = Decimal(value.strip())
            except InvalidOperation:
                special = None
            if special is not None and not special.is_finite():
                raise BadInput(f"{field}: not a finite number: {value!r}")
            raise BadInput(f"{field}: not a decimal: {value!r}")
        number = Decimal(value)
    else:
        raise BadInput(f"{field}: not a decimal: expected a decimal string, got {_kind(value)}")
    if not number.is_finite():  # pragma: no cover - the JSON reader and the regex refuse these
        raise BadInput(f"{field}: not a finite number: {value!r}")
    return number


def _optional_decimal(value: Any, field: str) -> Decimal | None:
    return None if value is None else _decimal(value, field)


def _boolean(value: Any, field: str) -> bool:
    if not isinstance(value, bool):
        raise BadInput(f"{field}: must be true or false, got {_kind(value)}")
    return value


def _object(value: Any, field: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise BadInput(f"{field}: must be a JSON object, got {_kind(value)}")
    return value


def _fields(
    document: Mapping[str, Any], prefix: str, required: tuple[str, ...], allowed: tuple[str, ...]
) -> None:
    for key in document:
        if key not in allowed:
            raise BadInput(f"{prefix}{key}: unknown field (expected {', '.join(allowed)})")
    for key in required:
        if key not in document:
            raise BadInput(f"{prefix}{key}: missing field")


def _symbol(symbol: str, field: str) -> str:
    if not symbol or symbol != symbol.strip():
        raise BadInput(f"{field}: not a symbol: {symbol!r}")
    return symbol


# --- documents ------------------------------------------------------------------------------


def parse_snapshot(document: Any) -> PlannerInput:
    """The SNAPSHOT document as the planner's input; raises BadInput naming the field."""
    snapshot = _object(document, "snapshot")
    _fields(snapshot, "", SNAPSHOT_FIELDS, SNAPSHOT_FIELDS)
    equity = _decimal(snapshot["equity"], "equity")
    if equity <= 0:
        raise BadInput(f"equity: must be > 0, got {equity}")
    cash = _decimal(snapshot["cash"], "cash")
    buying_power = _decimal(snapshot["buying_power"], "buying_power")

    positions: dict[str, Decimal] = {}
    for symbol, qty in _object(snapshot["positions"], "positions").items():
        field = f"positions.{_symbol(symbol, 'positions')}"
        quantity = _decimal(qty, field)
        if quantity < 0:
            raise BadInput(f"{field}: quantity must be >= 0 (no short positions), got {quantity}")
        positions[symbol] = quantity

    quotes: dict[str, QuoteInput] = {}
    for symbol, quote in _object(snapshot["quotes"], "quotes").items():
        field = f"quotes.{_symbol(symbol, 'quotes')}"
        entry = _object(quote, field)
        _fields(entry, f"{field}.", (), QUOTE_FIELDS)
        quotes[symbol] = QuoteInput(
            **{name: _optional_decimal(entry.get(name), f"{field}.{name}") for name in QUOTE_FIELDS}
        )

    assets: dict[str, AssetInput] = {}
    for symbol, asset in _object(snapshot["assets"], "assets").items():
        field = f"assets.{_symbol(symbol, 'assets')}"
        entry = _object(asset, field)
        _fields(entry, f"{field}.", ASSET_FIELDS, ASSET_FIELDS)
        assets[symbol] = AssetInput(
            **{name: _boolean(entry[name], f"{field}.{name}") for name in ASSET_FIELDS}
        )

    return PlannerInput(
        equity=equity,
        cash=cash,
        buying_power=buying_power,
        positions=positions,
        quotes=quotes,
        assets=assets,
    )


def parse_targets(document: Any) -> dict[str, Decimal]:
    """TARGETS: non-negative weights (strings or numbers) summing to 1 within 1e-6."""
    targets: dict[str, Decimal] = {}
    for symbol, weight in _object(document, "targets").items():
        field = f"targets.{_symbol(symbol, 'targets')}"
        value = _decimal(weight, field)
        if value < 0:
            raise BadInput(f"{field}: weight must be >= 0, got {value}")
        if value > 1 + WEIGHT_SUM_TOLERANCE:
            raise BadInput(f"{field}: weight must be <= 1, got {value}")
        targets[symbol] = value
    # The planner reads weights rounded to 10 places; the sum is checked on what it reads.
    total = sum((w.quantize(WEIGHT_PLACES) for w in targets.values()), Decimal(0))
    if abs(total - 1) > WEIGHT_SUM_TOLERANCE:
        raise BadInput(f"targets: weights sum to {total.normalize():f}, not 1 (tolerance 1e-6)")
    return targets


def parse_settings(document: Any) -> PlanningSettings:
    """SETTINGS: any of the planning settings by name; the rest keep the spec's defaults."""
    entries = _object(document, "settings")
    _fields(entries, "settings.", (), SETTING_FIELDS)
    values = {name: _decimal(value, f"settings.{name}") for name, value in entries.items()}
    try:
        return PlanningSettings(**values)
    except ValidationError as error:
        first = error.errors()[0]
        name = ".".join(str(part) for part in first["loc"])
        raise BadInput(f"settings.{name}: {first['msg'].lower()}, got {values.get(name)}") from None


def check_prices(inputs: PlannerInput, targets: Mapping[str, Decimal]) -> None:
    """Every symbol the plan touches (targets U held) needs a quote, a usable price, an asset."""
    held = {symbol for symbol, qty in inputs.positions.items() if qty > 0}
    for symbol in sorted(set(targets) | held):
        quote = inputs.quotes.get(symbol)
        if quote is None:
            raise BadInput(f"quotes.{symbol}: missing quote")
        try:
            price_of(symbol, quote)
        except MissingPrice:
            raise BadInput(
                f"quotes.{symbol}: no usable price (needs bid > 0 and ask >= bid, or last > 0)"
            ) from None
        if symbol not in inputs.assets:
            raise BadInput(f"assets.{symbol}: missing asset entry")


def check_equity(inputs: PlannerInput, snapshot_path: Path) -> None:
    """Equity must be cash + the held positions valued at the planner's prices.

    The daily graph's rule (`equity_mismatch`): an equity far from what the account holds
    would size every order on a wrong base, so nothing is planned.
    """
    held = sum(
        (qty * price_of(s, inputs.quotes.get(s)) for s, qty in inputs.positions.items() if qty > 0),
        Decimal(0),
    )
    mismatch = equity_mismatch(inputs.equity, inputs.cash, held)
    if mismatch is not None:
        raise BadInput(
            f"snapshot: {snapshot_path}: {mismatch}; positions are valued at the quote mid, else the"
            " last trade; the snapshot is inconsistent"
        )


# --- output ---------------------------------------------------------------------------------


def plan_document(plan: RebalancePlan) -> dict[str, Any]:
    """The spec's output document: decimals as strings, sides buy/sell."""
    return {
        "plan_id": plan.plan_id,
        "items": [
            {
                "symbol": item.symbol,
                "side": item.side,
                "qty": str(item.qty),
                "est_price": str(item.est_price),
                "est_value": str(item.est_value),
                "reason": item.reason,
            }
            for item in plan.items
        ],
        "skipped": [{"symbol": s.symbol, "reason": s.reason} for s in plan.skipped],
        "turnover": str(plan.turnover),
    }


def plan_table(plan: RebalancePlan) -> str:
    """The plan for people: one aligned row per order (SELLs first), then what was skipped.

    Quantities and prices are printed exactly as planned; dollar values to the cent.
    """
    rows = [("side", "symbol", "qty", "est price", "est value", "reason")]
    rows += [
        (i.side, i.symbol, str(i.qty), str(i.est_price), f"{i.est_value:,.2f}", i.reason) for i in plan.items
    ]
    widths = [max(len(row[c]) for row in rows) for c in range(len(rows[0]))]
    right = {2, 3, 4}  # numbers
    lines = [
        f"Plan {plan.plan_id[:8]}: {len(plan.items)} item{'' if len(plan.items) == 1 else 's'},"
        f" turnover ${plan.turnover:,.2f}"
    ]
    if plan.items:
        lines += [
            "  "
            + "  ".join(
                cell.rjust(w) if c in right else cell.ljust(w)
                for c, (cell, w) in enumerate(zip(row, widths, strict=True))
            ).rstrip()
            for row in rows
        ]
    else:
        lines.append("  nothing to trade")
    if plan.skipped:
        lines.append("Skipped:")
        lines += [f"  {s.symbol:<8} {s.reason}" for s in plan.skipped]
    return "\n".join(lines)


def build_plan(snapshot_path: Path, targets_path: Path, settings_path: Path | None) -> RebalancePlan:
    """Read and check the three documents, then plan with the domain function."""
    inputs = parse_snapshot(_read_json(snapshot_path, "snapshot"))
    targets = parse_targets(_read_json(targets_path, "targets"))
    settings = (
        parse_settings(_read_json(settings_path, "settings"))
        if settings_path is not None
        else PlanningSettings()
    )
    check_prices(inputs, targets)
    try:
        check_equity(inputs, snapshot_path)
        return plan_rebalance(inputs, targets, settings, session=dt.date.today(), account_number=CLI_ACCOUNT)
    except MissingPrice as error:  # pragma: no cover - check_prices found these first
        raise BadInput(f"quotes.{error.symbol}: {error}") from None
    except PortfolioError as error:
        raise BadInput(str(error)) from None
    except DecimalException as error:
        raise BadInput(
            f"snapshot: numbers out of range for decimal arithmetic ({type(error).__name__})"
        ) from None


@click.command("plan")
@click.option(
    "--snapshot",
    "snapshot_path",
    required=True,
    type=click.Path(path_type=Path),
    help="Account snapshot JSON: equity, cash, buying_power, positions, quotes, assets.",
)
@click.option(
    "--targets",
    "targets_path",
    required=True,
    type=click.Path(path_type=Path),
    help="Target weights JSON: {SYMBOL: weight}, summing to 1.",
)
@click.option(
    "--settings",
    "settings_path",
    type=click.Path(path_type=Path),
    default=None,
    help="Planning settings JSON: any of cash_reserve_pct, min_trade_usd, drift_band.",
)
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["json", "table"]),
    default="json",
    show_default=True,
    help="json: the spec's document; table: aligned rows for people.",
)
@click.pass_context
def plan(
    ctx: click.Context,
    snapshot_path: Path,
    targets_path: Path,
    settings_path: Path | None,
    output_format: str,
) -> None:
    """Print the rebalance plan that moves the SNAPSHOT account to the TARGETS weights.

    Exit 0 with the plan on stdout; exit 2 with one line on stderr naming the bad field.
    """
    try:
        rebalance = build_plan(snapshot_path, targets_path, settings_path)
    except BadInput as error:
        click.echo(f"error: {error}", err=True)
        ctx.exit(EXIT_BAD_INPUT)
    if output_format == "table":
        click.echo(plan_table(rebalance))
    else:
        click.echo(json.dumps(plan_document(rebalance), indent=2))


def main(args: list[str] | None = None) -> None:
    """Run `plan` as a program: 0 on success, 2 on bad input or a usage error."""
    try:
        code = plan.main(args=args, prog_name="alchemiser plan", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(1)
    except click.ClickException as error:
        error.show()
        sys.exit(EXIT_BAD_INPUT)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
