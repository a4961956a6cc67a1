"""Earlier sessions' stored values of one account, read back (never written) by the assets.

A Dagster resource (``HistoryResource``) built once in the definitions: the assets ask it
for yesterday's sleeve book, a strategy's last good weights or the equity curve, and never
build a storage reader or apply the account prefix themselves.
"""

import datetime as dt
from collections.abc import Mapping, Sequence
from decimal import Decimal

import dagster as dg
import pandas as pd
from pydantic import BaseModel, PrivateAttr

from alchemiser_dagster.domain.calendar import previous_session
from alchemiser_dagster.domain.portfolio.failed_strategy import LastTargets
from alchemiser_dagster.domain.portfolio.reconcile import Reconciliation
from alchemiser_dagster.domain.portfolio.sleeves import SleeveBooks
from alchemiser_dagster.domain.report import EquityPoint, ledger_notional
from alchemiser_dagster.domain.strategy.trace import StrategyEvaluation
from alchemiser_dagster.pipeline.io_manager import ModelIOManager, StoredVersion
from alchemiser_dagster.pipeline.keys import account_path

LAST_TARGET_LOOKBACK = 10  # sessions searched back for a strategy's last good weights
SLEEVES_LOOKBACK = 10  # sessions searched back for the last stored sleeve book
SLEEVES = "sleeves"


class StoredHistory:
    """The stored values of one account; asset names are given without the account prefix."""

    def __init__(self, storage: ModelIOManager, account: str | None) -> None:
        self.storage = storage
        self.account = account

    def path(self, name: str | Sequence[str]) -> list[str]:
        return account_path(self.account, name)

    def folder(self) -> str:
        """Where the account's values are stored (for files published beside them)."""
        return "/".join([self.storage.base.rstrip("/"), *account_path(self.account)])

    def model(self, name: str | Sequence[str], day: dt.date) -> BaseModel | None:
        return self.storage.stored_model(self.path(name), day.isoformat())

    def frame(self, name: str | Sequence[str], day: dt.date) -> pd.DataFrame | None:
        return self.storage.stored_frame(self.path(name), day.isoformat())

    def models(self, name: str, day: dt.date) -> list[tuple[StoredVersion, BaseModel]]:
        return self.storage.stored_models(self.path(name), day.isoformat())

    def version_of_run(
        self, asset_path: list[str], partition: str, run_id: str | None
    ) -> StoredVersion | None:
        """The value `run_id` stored for the partition (its last, should it have stored two);
        `asset_path` is a full stored path (as an identity's causation id names it)."""
        found = [v for v in self.storage.versions(asset_path, partition) if v.run_id == run_id]
        return found[-1] if found else None

    def previous_sleeves(
        self, session: dt.date, lookback: int = SLEEVES_LOOKBACK
    ) -> tuple[SleeveBooks | None, str]:
        """The latest stored sleeve book before `session`, and how it was found, in words.

        Normally D-1's. When D-1 is missing (a backfill gap, a failed run) the latest within
        `lookback` sessions is carried on; its sleeves trade today if a rebalance session of
        theirs fell in the gap. With none (the first session, or a longer gap) every sleeve
        starts at its target, as on its first session: the netted account cannot be split
        back into sleeves without guessing.
        """
        yesterday = previous_session(session)
        day = session
        for _ in range(lookback):
            day = previous_session(day)
            stored = self.model(SLEEVES, day)
            if isinstance(stored, SleeveBooks):
                if day == yesterday:
                    return stored, f"carried from {day}"
                return stored, (
                    f"no stored book for {yesterday}: carried from {day}"
                    " (a sleeve whose rebalance session fell in between trades today)"
                )
        return None, (
            f"no stored book in the {lookback} sessions before {session}:"
            " every sleeve starts at its target (first session)"
        )

    def last_targets(
        self,
        signal_paths: Mapping[str, Sequence[str]],
        session: dt.date,
        lookback: int = LAST_TARGET_LOOKBACK,
    ) -> LastTargets:
        """Each strategy's latest successful stored weights from a session before `session`
        (`signal_paths`: strategy name -> its signal asset's path)."""
        found: dict[str, tuple[dt.date, dict[str, float]]] = {}
        for name, signal_path in signal_paths.items():
            day = session
            for _ in range(lookback):
                day = previous_session(day)
                stored = self.model(signal_path, day)
                if isinstance(stored, StrategyEvaluation) and stored.failure is None and stored.weights:
                    found[name] = (day, stored.weights)
                    break
        return found

    def equity_history(self, session: dt.date, sessions: int) -> list[EquityPoint]:
        """Equity after the trade and traded notional of the stored sessions before `session`.

        Sessions whose day placed nothing (a backfill, a closed market) are left out: their
        stored equity is the account's at the time of the rerun, not that day's.
        """
        points = []
        day = session
        for _ in range(sessions):
            day = previous_session(day)
            stored = self.model("reconciliation", day)
            if not isinstance(stored, Reconciliation) or not stored.applicable:
                continue
            ledger = self.frame("fill_ledger", day)
            traded = ledger_notional(ledger) if ledger is not None else Decimal(0)
            points.append(EquityPoint(session=day, equity=stored.equity, traded_notional=traded))
        return points


class HistoryResource(dg.ConfigurableResource):
    """The history reader of the account's stored values, built once in the definitions."""

    base: str
    account: str | None = None

    _reader: StoredHistory | None = PrivateAttr(default=None)

    def reader(self) -> StoredHistory:
        if self._reader is None:
            self._reader = StoredHistory(ModelIOManager(base=self.base), self.account)
        return self._reader
