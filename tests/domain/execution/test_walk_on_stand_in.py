"""The walk on the real stand-in through alpaca-py: steps, limit prices, cancel, re-quote."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

from alchemiser_dagster.broker.alpaca import AlpacaBroker
from alchemiser_dagster.broker.simulator.server import SimulatorServer, session_time
from alchemiser_dagster.domain.execution.engine import ExecutionSettings, execute_plan
from alchemiser_dagster.domain.execution.pricing import step_limit_price
from alchemiser_dagster.domain.portfolio.models import PlanItem, RebalancePlan

D = dt.date(2024, 6, 28)


def plan_for(broker: AlpacaBroker, symbol: str, qty: str) -> RebalancePlan:
    quote = broker.get_latest_quotes([symbol])[symbol]
    mid = (quote.bid + quote.ask) / 2
    item = PlanItem(symbol=symbol, side="buy", qty=Decimal(qty), est_price=mid, est_value=Decimal(qty) * mid,
                    current_weight=Decimal(0), target_weight=Decimal("0.1"), reason="new")  # fmt: skip
    return RebalancePlan(plan_id="f" * 64, session=D, account_number=broker.get_account().account_number,
                         items=(item,), skipped=(), turnover=item.est_value)  # fmt: skip


def test_walk_gives_up_more_of_the_spread_each_step_until_it_fills(tmp_path: Path) -> None:
    with SimulatorServer(tmp_path / "sim", now=session_time(D, dt.time(15, 0))) as server:
        broker = AlpacaBroker(server.api_key, server.secret_key, base_url=server.base_url)
        plan = plan_for(broker, "SPY", "10")
        quote = broker.get_latest_quotes(["SPY"])["SPY"]
        waited: list[float] = []

        def sleep(seconds: float) -> None:  # the stand-in's clock stands in for the wall clock
            waited.append(seconds)
            server.set_clock(server.now() + dt.timedelta(seconds=seconds))

        result = execute_plan(broker, plan, settings=ExecutionSettings(step_seconds=10), sleep=sleep)
        orders = sorted(broker.get_orders(status="all"), key=lambda o: o.client_order_id)
        limits = [o.limit_price for o in orders]
        # Each step prices from the quote at that step; every limit sits on the cent grid and
        # rises step by step toward the ask until one is marketable.
        assert limits == sorted(limits) and all(p == p.quantize(Decimal("0.01")) for p in limits if p)
        assert limits[0] == step_limit_price(quote, "buy", Decimal("0.50"))
        assert [o.status for o in orders][:-1] == ["canceled"] * (len(orders) - 1)
        assert orders[-1].status == "filled" and orders[-1].filled_qty == Decimal(10)
        (outcome,) = result.outcomes
        assert result.status == "SUCCESS" and outcome.filled_qty == Decimal(10)
        assert outcome.order_ids == tuple(o.id for o in orders)
        assert outcome.filled_avg_price is not None and outcome.filled_avg_price <= quote.ask + Decimal(
            "0.05"
        )
        assert waited[: len(orders) - 1] == [10.0] * (len(orders) - 1)
        assert result.orders_placed == len(orders) and {o.client_order_id[-2:] for o in orders} <= {
            "b1",
            "b2",
            "b3",
            "b4",
        }
