"""Deterministic asset master data for the symbols the simulator has bars for.

Every asset is ``us_equity``, active and tradable. Funds (ETFs, bond/cash funds, leveraged
and inverse products) list on ``ARCA`` and are fractionable, like on Alpaca. Single stocks
list on ``NASDAQ`` or ``NYSE`` (chosen from a stable hash of the symbol) and are fractionable
except for roughly a third of the small speculative names (speculative growth, crypto
miners), so that the whole-share path of the rebalancer is exercised by real symbols. The
choice is a pure function of the symbol: ``non_fractionable_symbols`` lists the outcome.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from alchemiser_dagster.demo.universe import profile_for, symbol_unit

__all__ = ["ASSET_NAMESPACE", "AssetInfo", "asset_info", "non_fractionable_symbols"]

ASSET_NAMESPACE = uuid.UUID("6b1f0c8e-5d0a-4c7e-9a43-2f0d8c1e7a11")
_FUND_CATEGORIES = frozenset({"fund", "leveraged", "inverse", "bond", "cash"})
_SPECULATIVE = frozenset({"speculative_growth", "crypto_miner"})
_NON_FRACTIONABLE_SHARE = 0.3


@dataclass(frozen=True, slots=True)
class AssetInfo:
    symbol: str
    id: str
    name: str
    exchange: str
    tradable: bool
    fractionable: bool


def asset_info(symbol: str) -> AssetInfo:
    """The simulator's asset record for ``symbol`` (same answer in every process)."""
    category = profile_for(symbol).category
    is_fund = category in _FUND_CATEGORIES
    exchange = "NASDAQ" if symbol_unit(symbol, "sim-exchange") < 0.6 else "NYSE"
    if is_fund:
        exchange = "ARCA"
    fractionable = not (
        category in _SPECULATIVE and symbol_unit(symbol, "sim-fractionable") < _NON_FRACTIONABLE_SHARE
    )
    kind = "ETF" if is_fund else "Common Stock"
    return AssetInfo(
        symbol=symbol,
        id=str(uuid.uuid5(ASSET_NAMESPACE, symbol)),
        name=f"{symbol} {kind} (simulated)",
        exchange=exchange,
        tradable=True,
        fractionable=fractionable,
    )


def non_fractionable_symbols(symbols: Iterable[str]) -> list[str]:
    """The symbols among ``symbols`` whose asset is not fractionable (sorted)."""
    return sorted(s for s in set(symbols) if not asset_info(s).fractionable)
