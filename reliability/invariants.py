"""What must hold after any fault once the faults end: the product's promises to a trader.

- no duplicate order: client ids unique, and no item traded beyond its planned quantity;
- no lost fill: the stored fill ledger equals the broker's own fills of our orders;
- on target: final weights within 1 percentage point of the executed plan's targets.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from alchemiser_dagster.broker.alpaca import AlpacaBroker
from alchemiser_dagster.broker.simulator.server import SimulatorServer
from alchemiser_dagster.control.documents import control_path
from alchemiser_dagster.domain.execution.ledger import ledger_mismatches
from alchemiser_dagster.domain.portfolio.models import RebalancePlan
from alchemiser_dagster.pipeline.io_manager import ModelIOManager

TOLERANCE = Decimal("0.01")


@dataclass
class Verdict:
    duplicates: list[str] = field(default_factory=list)
    lost_fills: list[str] = field(default_factory=list)
    off_target: list[str] = field(default_factory=list)

    @property
    def holds(self) -> bool:
        return not (self.duplicates or self.lost_fills or self.off_target)


def check(workdir: Path, session: str, storage: str | None = None) -> Verdict:
    """Inspect the stand-in state, the journal and the stored ledger of a finished session.

    `storage` is the runs' storage base (a folder or an s3:// URL); `workdir/storage` unless given.
    """
    verdict = Verdict()
    base = storage or str(workdir / "storage")
    journals = sorted(control_path(base, "executions").glob(f"{session}-*.json"), key=str)
    if not journals:
        verdict.lost_fills.append("no execution journal: the session never reached execution")
        return verdict
    plan = RebalancePlan.model_validate_json(journals[0].read_text())
    with SimulatorServer(workdir / "sim") as server:
        broker = AlpacaBroker(server.api_key, server.secret_key, base_url=server.base_url)
        orders = broker.get_orders(status="all")
        account = broker.get_account()
        positions = {p.symbol: p for p in broker.get_positions()}
    ids = [o.client_order_id for o in orders]
    verdict.duplicates += [f"client id {coid} twice" for coid in sorted({c for c in ids if ids.count(c) > 1})]
    traded: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for order in orders:
        traded[(order.symbol, order.side)] += order.filled_qty
    planned: dict[tuple[str, str], Decimal] = {(i.symbol, i.side): i.qty for i in plan.items}
    for key, qty in traded.items():
        if qty > planned.get(key, Decimal(0)):
            verdict.duplicates.append(f"{key[1]} {key[0]}: traded {qty}, planned {planned.get(key, 0)}")
    # The newest stored ledger (storage is append-only: every run's value is kept).
    ledger = ModelIOManager(base=base).stored_frame(["fill_ledger"], session)
    if ledger is None:
        verdict.lost_fills.append("no fill ledger stored for the session")
    else:
        verdict.lost_fills += ledger_mismatches(ledger, orders)
    for item in plan.items:
        position = positions.get(item.symbol)
        weight = position.market_value / account.equity if position else Decimal(0)
        if abs(weight - item.target_weight) > TOLERANCE:
            verdict.off_target.append(f"{item.symbol}: {weight:.4f} vs target {item.target_weight:.4f}")
    return verdict
