"""The report's pure parts: decisions in one line, slippage cost signs, the inline summary's size."""

import datetime as dt
from decimal import Decimal

from alchemiser_dagster.domain.execution.models import OrderOutcome
from alchemiser_dagster.domain.report import DailyReport, WeightRow, _order_row
from alchemiser_dagster.domain.report_markdown import report_summary_markdown
from alchemiser_dagster.domain.strategy.trace import FilterTrace, IfTrace, OperandValue, RankedCandidate


def outcome(side: str, avg: str, arrival: str, qty: str = "10") -> OrderOutcome:
    return OrderOutcome(
        symbol="SPY", side=side, requested_qty=Decimal(qty), filled_qty=Decimal(qty),  # type: ignore[arg-type]
        filled_avg_price=Decimal(avg), arrival_price=Decimal(arrival), slippage_bps=Decimal(0),
        client_order_id="c", order_id="o", status="filled", order_ids=("o", "p"), adopted=False,
    )  # fmt: skip


def test_slippage_cost_is_positive_when_paying_up_and_selling_down() -> None:
    assert _order_row(outcome("buy", "100.10", "100.00")).slippage_usd == Decimal("1.00")
    assert _order_row(outcome("sell", "99.90", "100.00")).slippage_usd == Decimal("1.00")
    assert _order_row(outcome("buy", "99.95", "100.00")).slippage_usd == Decimal("-0.50")  # price improvement
    assert _order_row(outcome("buy", "100.10", "100.00")).orders == 2


def test_decision_lines_name_the_values_and_the_choice() -> None:
    from alchemiser_dagster.domain.report_markdown import decision_line

    branch = IfTrace(
        node="a.clj:3:5", op=">", result=False, branch="else",
        lhs=OperandValue(expr='(rsi "SPY" {:window 10})', value=42.19123, symbol="SPY", indicator="rsi", window=10),
        rhs=OperandValue(expr="80", value=80.0),
    )  # fmt: skip
    assert decision_line(branch) == 'a.clj:3:5 (rsi "SPY" {:window 10}) = 42.1912 > 80 -> else'
    ranking = FilterTrace(
        node="a.clj:9:1", key="(rsi {:window 10})", select="top", n=1,
        candidates=(RankedCandidate(label="SQQQ", score=49.7, rank=1, selected=True),
                    RankedCandidate(label="TQQQ", score=40.0, rank=2, selected=False)),
    )  # fmt: skip
    assert decision_line(ranking) == "a.clj:9:1 filter (rsi {:window 10}) top 1 of 2 -> SQQQ (49.7000)"


def test_the_inline_summary_stays_under_dagsters_limit() -> None:
    rows = tuple(
        WeightRow(symbol=f"S{i:03d}", before=Decimal("0.01"), target=Decimal("0.01"), after=Decimal("0.01"))
        for i in range(100)
    )
    report = DailyReport(
        session=dt.date(2026, 12, 4), status="SUCCESS", headline="h", plan_id="p", execution_reason="ok",
        strategies=(), weights=rows, orders=(), fills=(), equity_before=Decimal(1), cash_before=Decimal(1),
        equity_after=Decimal(1), cash_after=Decimal(1), after_note="", traded_notional=Decimal(0),
        slippage_usd=Decimal(0), alerts=(), equity_history=(),
    )  # fmt: skip
    summary = report_summary_markdown(report)
    assert len(summary) < 1000 and "| S000 |" in summary and summary.endswith("more rows in the full report)")
    shown = summary.count("| S0")
    assert f"({100 - shown} more rows" in summary
    short = report_summary_markdown(report.model_copy(update={"weights": rows[:3]}))
    assert short.count("| S0") == 3 and "more rows" not in short


def test_the_trading_run_is_the_first_that_placed_orders_else_the_first() -> None:
    import datetime as dt

    from alchemiser_dagster.domain.execution.models import ExecutionResult
    from alchemiser_dagster.domain.report import run_line, trading_run_index

    def execution(placed: int, adopted: int, finished: dt.datetime) -> ExecutionResult:
        return ExecutionResult(
            session=dt.date(2026, 12, 4), plan_id="p1", account_number="PA1", status="SUCCESS", reason="",
            outcomes=(), orders_placed=placed, orders_adopted=adopted, started_at=finished, finished_at=finished,
        )  # fmt: skip

    at = dt.datetime(2026, 12, 4, 21, 2, tzinfo=dt.UTC)  # 16:02 in New York
    assert trading_run_index([execution(0, 0, at), execution(3, 0, at), execution(0, 3, at)]) == 1
    assert trading_run_index([execution(0, 0, at), execution(0, 0, at)]) == 0
    line = run_line(execution(0, 3, at), "abcd1234-ffff")
    assert line.text == "rerun at 16:02 ET (run abcd1234): finished nothing, placed 0, adopted 3; SUCCESS"
    assert "(run unknown): traded, placed 2, adopted 1" in run_line(execution(2, 1, at), None).text


def test_the_report_says_which_account_state_it_compares_with() -> None:
    from alchemiser_dagster.domain.report_markdown import report_markdown
    from alchemiser_dagster.reporting.daily import daily_report_html

    report = DailyReport(
        session=dt.date(2026, 12, 4), status="SUCCESS", headline="h", plan_id="p", execution_reason="ok",
        strategies=(), weights=(), orders=(), fills=(), equity_before=Decimal(1), cash_before=Decimal(1),
        equity_after=Decimal(1), cash_after=Decimal(1), after_note="", traded_notional=Decimal(0),
        slippage_usd=Decimal(0), alerts=(), equity_history=(),
    )  # fmt: skip
    # 20:45 UTC is 15:45 in New York, the same session day.
    same_day = report.model_copy(
        update={"snapshot_taken_at": dt.datetime(2026, 12, 4, 20, 45, tzinfo=dt.UTC)}
    )
    assert same_day.account_basis == (
        "Compared with the account of the session's day, as read at 2026-12-04 15:45 New York."
    )
    # 02:30 UTC on the 5th is still the 4th in New York: the day is New York's, not UTC's.
    evening = report.model_copy(update={"snapshot_taken_at": dt.datetime(2026, 12, 5, 2, 30, tzinfo=dt.UTC)})
    assert evening.account_basis.startswith("Compared with the account of the session's day")
    later = report.model_copy(update={"snapshot_taken_at": dt.datetime(2026, 12, 7, 15, 2, tzinfo=dt.UTC)})
    assert later.account_basis == (
        "Compared with the account as read at 2026-12-07 10:02 New York, after the session:"
        " that later state, not the account of 2026-12-04."
    )
    assert report.account_basis == "When the account was read is not recorded in this report."
    for rendered in (report_markdown(later), daily_report_html(later, {})):
        account = rendered[rendered.index("Account") : rendered.index("Strategies")]
        assert "that later state, not the account of 2026-12-04" in account
