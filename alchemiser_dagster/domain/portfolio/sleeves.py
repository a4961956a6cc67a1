"""Sleeve books: what each symphony holds, carried from session to session (spec §10).

One pure function, `advance_sleeves`, decides for every session whether each sleeve trades
and what it holds; the backtest and the daily graph's `sleeves` asset both call it, on the
same inputs (yesterday's stored book, today's prices, today's strategy targets), so a
backtest over sessions D1..Dn and n daily runs give the same sleeve weights.

A book keeps the sleeve's weights and the prices they were marked at. With no trade the
sleeve keeps its shares, so its weights drift with prices: w_i * p_i/p0_i, renormalized.
Weights are fractions of the sleeve (not of the account) and are stored quantized to 10
places; marks are the prices as given. Each day's input is therefore exactly the stored
value, whoever computed it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping
from decimal import Decimal

import pandas as pd
from pydantic import Field

from alchemiser_dagster.domain.errors import MarketDataError, PortfolioError
from alchemiser_dagster.domain.marketdata.bars import normalize_bars
from alchemiser_dagster.domain.model import Record
from alchemiser_dagster.domain.portfolio.allocation import to_decimal_weights
from alchemiser_dagster.domain.portfolio.trading import (
    TradingSetting,
    percent_points,
    rebalance_day,
    trading_setting,
)
from alchemiser_dagster.domain.strategy.compiler import load_symphony
from alchemiser_dagster.domain.strategy.config import AllocationConfig
from alchemiser_dagster.domain.strategy.trace import StrategyEvaluation


class SleeveBook(Record):
    """One sleeve after the decision of `session`: the weights it holds and why."""

    strategy: str
    setting: TradingSetting
    session: dt.date  # the session its weights are marked at
    weights: dict[str, Decimal]  # fractions of the sleeve, after the decision
    prices: dict[str, Decimal]  # the marks of the held symbols at `session`
    target: dict[str, Decimal] | None  # the strategy's own target that session (None: it failed)
    traded: bool  # the sleeve went back to its target this session
    reason: str
    rebalanced_on: dt.date | None  # the last session it went to target
    fingerprint: str = ""  # the symphony's content hash: a changed file restarts the sleeve


class SleeveBooks(Record):
    """Every sleeve of the allocation config after the decisions of `session`."""

    session: dt.date
    sleeves: tuple[SleeveBook, ...]
    carried_from: dt.date | None  # the stored book these continue (None: started afresh)
    origin: str  # how the previous book was found, in words
    # The previous session's fills as its stored ledger attributes them (notional per
    # strategy); evidence only, see `ledger_attribution`.
    previous_fills: dict[str, Decimal] = Field(default_factory=dict)
    ledger_note: str = ""

    def book(self, strategy: str) -> SleeveBook:
        return next(s for s in self.sleeves if s.strategy == strategy)


def symphony_settings(config: AllocationConfig) -> tuple[dict[str, TradingSetting], dict[str, str]]:
    """Each configured symphony's trading setting and content fingerprint, in config order."""
    settings, fingerprints = {}, {}
    for name in config.files:
        path = config.strategy_path(name)
        settings[name] = trading_setting(name, dict(load_symphony(path).options))
        fingerprints[name] = symphony_fingerprint(path.read_bytes())
    return settings, fingerprints


def session_prices(bars: pd.DataFrame, session: dt.date) -> dict[str, float]:
    """The close of `session` per symbol (a pre-close snapshot when D is today)."""
    normalized = normalize_bars(bars, source=f"market bars of {session}")
    today = normalized[normalized["date"] == session]
    return dict(zip(today["symbol"].astype(str), today["close"].astype(float), strict=True))


def ledger_attribution(ledger: pd.DataFrame | None, day: dt.date) -> tuple[dict[str, Decimal], str]:
    """Notional of `day`'s fills per strategy, split as the ledger attributes them, and a note.

    Evidence, not an input of the decision: the ledger splits each netted fill by the
    strategies' shares of the symbol's target, not by which sleeve moved, so it cannot
    rebuild a sleeve's shares. A missing ledger (a plan-only backfill, a day not run) is
    said as such and nothing is assumed filled.
    """
    if ledger is None:
        return {}, f"no fill ledger stored for {day} (plan only or not run): no fills assumed"
    missing = sorted({"attribution", "notional"} - set(ledger.columns))
    if missing:
        raise PortfolioError(f"the fill ledger of {day} has no column {', '.join(missing)}")
    notional: dict[str, Decimal] = {}
    for record in ledger.to_dict("records"):
        for strategy, fraction in json.loads(str(record["attribution"])).items():
            part = Decimal(str(record["notional"])) * Decimal(fraction)
            notional[strategy] = notional.get(strategy, Decimal(0)) + part
    rounded = {s: v.quantize(Decimal("0.01")) for s, v in sorted(notional.items())}
    return rounded, f"fill ledger of {day}: {len(ledger)} fills"


def symphony_fingerprint(text: bytes) -> str:
    """A short content hash of a symphony file: an edited file restarts its sleeve."""
    return hashlib.sha256(text).hexdigest()[:16]


def _mark(value: float | Decimal) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(repr(float(value)))


def drifted_weights(book: SleeveBook, prices: Mapping[str, float]) -> dict[str, float]:
    """The book's weights after the move from its marks to `prices` (it traded nothing)."""
    missing = sorted(s for s in book.weights if s not in prices)
    if missing:
        raise MarketDataError(
            f"sleeve {book.strategy} holds {', '.join(missing)} but there is no price for it"
            f" on the session after {book.session}"
        )
    values = {s: float(w) * prices[s] / float(book.prices[s]) for s, w in book.weights.items()}
    total = sum(values.values())
    return {s: v / total for s, v in values.items()} if total > 0 else {}


def largest_gap(held: Mapping[str, float], target: Mapping[str, float]) -> tuple[str, float]:
    """The symbol whose held weight is furthest from its target, and held - target."""
    gaps = {s: held.get(s, 0.0) - target.get(s, 0.0) for s in set(held) | set(target)}
    if not gaps:
        return "", 0.0
    symbol = max(sorted(gaps), key=lambda s: abs(gaps[s]))
    return symbol, gaps[symbol]


def _restart_reason(previous: SleeveBook | None, setting: TradingSetting, fingerprint: str) -> str | None:
    """Why the sleeve starts again at target whatever its setting, or None."""
    if previous is None:
        return "first session: to target"
    if previous.setting != setting:
        return f"trading setting changed ({previous.setting.label()} -> {setting.label()}): to target"
    if fingerprint and previous.fingerprint and previous.fingerprint != fingerprint:
        return "symphony changed: to target"
    if previous.target is None:
        return f"strategy failed on {previous.session}: back to target"
    if not previous.weights:
        return "nothing held: to target"
    return None


def decide_sleeve(
    strategy: str,
    setting: TradingSetting,
    session: dt.date,
    previous: SleeveBook | None,
    prices: Mapping[str, float],
    target: Mapping[str, float] | None,
    fingerprint: str = "",
) -> SleeveBook:
    """Whether the sleeve trades on `session`, what it holds after, and the reason in words.

    `previous` is the sleeve's latest stored book (normally the previous session's),
    `prices` today's prices of at least the held and targeted symbols, `target` the
    strategy's weights for today (None: the strategy failed; the failed-strategy policy
    decides the account's target, the book records nothing held and the sleeve goes back
    to target on its next session).
    """
    if target is None:  # nothing to decide on (and its symbols may have no price today)
        return _book(strategy, setting, session, previous, prices, {}, None, False,
                     "strategy failed: the failed-strategy policy decides", fingerprint)  # fmt: skip
    wanted = to_decimal_weights(target)
    restart = _restart_reason(previous, setting, fingerprint)
    if restart is not None or previous is None:
        return _book(strategy, setting, session, previous, prices, wanted, wanted, True,
                     restart or "", fingerprint)  # fmt: skip
    held = drifted_weights(previous, prices)
    if rebalance_day(setting.frequency, previous.session, session):
        return _book(strategy, setting, session, previous, prices, wanted, wanted, True,
                     f"rebalance day ({setting.frequency})", fingerprint)  # fmt: skip
    if setting.threshold is not None:
        symbol, gap = largest_gap(held, {s: float(w) for s, w in wanted.items()})
        corridor = f"corridor {percent_points(setting.threshold)} %"
        if abs(gap) > setting.threshold:
            return _book(strategy, setting, session, previous, prices, wanted, wanted, True,
                         f"{corridor} broken by {symbol} ({gap * 100:+.1f} pp): back to target",
                         fingerprint)  # fmt: skip
        reason = f"within {corridor}: held"
    elif setting.frequency == "none":
        reason = "buy and hold (none): held"
    else:
        reason = f"not a rebalance day ({setting.frequency}): held"
    return _book(strategy, setting, session, previous, prices, held, wanted, False, reason, fingerprint)


def _book(
    strategy: str,
    setting: TradingSetting,
    session: dt.date,
    previous: SleeveBook | None,
    prices: Mapping[str, float],
    weights: Mapping[str, float | Decimal],
    target: dict[str, Decimal] | None,
    traded: bool,
    reason: str,
    fingerprint: str,
) -> SleeveBook:
    held = to_decimal_weights(weights)
    missing = sorted(s for s in held if s not in prices)
    if missing:
        raise MarketDataError(f"sleeve {strategy}: no price on {session} for {', '.join(missing)}")
    return SleeveBook(
        strategy=strategy,
        setting=setting,
        session=session,
        weights=held,
        prices={s: _mark(prices[s]) for s in held},
        target=target,
        traded=traded,
        reason=reason,
        rebalanced_on=session if traded else (previous.rebalanced_on if previous else None),
        fingerprint=fingerprint,
    )


def advance_sleeves(
    session: dt.date,
    previous: SleeveBooks | None,
    settings: Mapping[str, TradingSetting],
    targets: Mapping[str, Mapping[str, float] | None],
    prices: Mapping[str, float],
    fingerprints: Mapping[str, str] | None = None,
    origin: str = "",
    previous_fills: tuple[dict[str, Decimal], str] = ({}, ""),
) -> SleeveBooks:
    """Every sleeve of `settings` (config order) decided for `session` from `previous`.

    A sleeve absent from `previous` (new in the config, or no previous book at all)
    starts at its target; a sleeve in `previous` but no longer configured is dropped.
    """
    if previous is not None and previous.session >= session:
        raise ValueError(f"the previous sleeve book is of {previous.session}, not before {session}")
    books = {b.strategy: b for b in previous.sleeves} if previous is not None else {}
    sleeves = tuple(
        decide_sleeve(
            name,
            setting,
            session,
            books.get(name),
            prices,
            targets[name],
            (fingerprints or {}).get(name, ""),
        )
        for name, setting in settings.items()
    )
    return SleeveBooks(
        session=session,
        sleeves=sleeves,
        carried_from=previous.session if previous is not None else None,
        origin=origin or (f"carried from {previous.session}" if previous else "first session"),
        previous_fills=previous_fills[0],
        ledger_note=previous_fills[1],
    )


def sleeves_for_session(
    session: dt.date,
    config: AllocationConfig,
    evaluations: Mapping[str, StrategyEvaluation],
    bars: pd.DataFrame,
    previous: tuple[SleeveBooks | None, str],
    ledger: tuple[pd.DataFrame | None, dt.date],
) -> SleeveBooks:
    """Each symphony's book for `session`: the stored book before it (and how it was found),
    today's evaluations (a failed one has no target: the failed-strategy policy decides),
    the session's prices and the fills of the previous session's ledger."""
    setting_of, fingerprints = symphony_settings(config)
    return advance_sleeves(
        session,
        previous[0],
        setting_of,
        {name: None if e.failure is not None else e.weights for name, e in evaluations.items()},
        session_prices(bars, session),
        fingerprints,
        previous[1],
        ledger_attribution(*ledger),
    )
