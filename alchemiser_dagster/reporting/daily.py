"""The daily report rendered: charts, a self-contained HTML page, and the email's parts."""

from collections.abc import Mapping

from alchemiser_dagster.domain.report import DailyReport
from alchemiser_dagster.domain.report_markdown import optional, percent, report_markdown
from alchemiser_dagster.reporting.charts import equity_chart, weights_chart
from alchemiser_dagster.reporting.html import esc, image, page, table

WEIGHTS = "weights"
EQUITY = "equity"


def render_charts(report: DailyReport) -> dict[str, bytes]:
    return {
        WEIGHTS: weights_chart(report.weights, f"Weights {report.session}: before, target, after"),
        EQUITY: equity_chart(report.equity_history, "Equity after each session's trade, and traded notional"),
    }


def daily_report_html(report: DailyReport, sources: Mapping[str, str]) -> str:
    body = [f"<h1>Daily report {esc(report.session)}</h1>", f'<p class="headline">{esc(report.headline)}</p>']
    if report.alerts:
        body.append("<h2>Alerts of the day</h2><ul>")
        body += [
            f'<li class="{"error" if a.severity == "ERROR" else "warn"}"><b>{esc(a.severity)}</b>'
            f" {esc(a.where)}: {esc(a.reason)}</li>"
            for a in report.alerts
        ]
        body.append("</ul>")
    body += [
        "<h2>Account</h2>",
        table(
            ["", "equity", "cash"],
            [
                ["before (snapshot)", f"{report.equity_before:,.2f}", f"{report.cash_before:,.2f}"],
                ["after (re-read)", f"{report.equity_after:,.2f}", f"{report.cash_after:,.2f}"],
            ],
            [False, True, True],
        ),
        f"<p>{esc(report.account_basis)}</p>",
        f"<p>Traded {report.traded_notional:,.2f} USD; slippage cost {report.slippage_usd:,.2f} USD against"
        f' arrival prices. <span class="muted">{esc(report.after_note)}</span></p>',
        "<h2>Strategies</h2>",
    ]
    for s in report.strategies:
        body.append(f"<h3>{esc(s.name)} ({float(s.share) * 100:.1f} % of the account): {esc(s.title)}</h3>")
        if s.failure:
            policy = f"; policy applied: {s.policy}" if s.policy else ""
            body.append(f'<p class="error">FAILED: {esc(s.failure)}{esc(policy)}</p>')
        if s.trading:
            body.append(f"<p>Trading setting {esc(s.trading)}</p>")
        if s.weights:
            rows = [[symbol, percent(weight)] for symbol, weight in sorted(s.weights.items())]
            body.append(table(["symbol", "weight"], rows, [False, True]))
        decisions = [f"<li><code>{esc(d)}</code></li>" for d in s.decisions]
        if s.earlier_decisions:
            decisions.insert(
                0, f'<li class="muted">({s.earlier_decisions} earlier decisions in the trace)</li>'
            )
        body.append(f"<ul>{''.join(decisions)}</ul>")
    body.append("<h2>Weights</h2>")
    if WEIGHTS in sources:
        body.append(image(sources[WEIGHTS], "weights before, target and after"))
    body.append(
        table(
            ["symbol", "before", "target", "after"],
            [[w.symbol, percent(w.before), percent(w.target), percent(w.after)] for w in report.weights],
            [False, True, True, True],
        )
    )
    body += ["<h2>Orders</h2>", f"<p>{esc(report.status)}: {esc(report.execution_reason)}</p>"]
    if report.orders:
        body.append(
            table(
                ["symbol", "side", "requested", "filled", "avg price", "arrival", "slippage bps",
                 "slippage USD", "orders", "status"],
                [
                    [o.symbol, o.side, o.requested_qty, o.filled_qty, optional(o.avg_price), o.arrival_price,
                     optional(o.slippage_bps), optional(o.slippage_usd), o.orders, o.status]
                    for o in report.orders
                ],
                [False, False, True, True, True, True, True, True, True, False],
            )
        )  # fmt: skip
    if report.fills:
        body.append("<h3>Fills (ledger)</h3>")
        body.append(
            table(
                ["order", "symbol", "side", "qty", "price", "notional"],
                [
                    [
                        f.client_order_id,
                        f.symbol,
                        f.side,
                        f.filled_qty,
                        f.filled_avg_price,
                        f"{f.notional:,.2f}",
                    ]
                    for f in report.fills
                ],
                [False, False, False, True, True, True],
            )
        )
    body.append("<h2>Runs of the day</h2><ul>")
    body.append(
        f"<li>trading run {esc(report.trading_run or 'unknown')}: the orders, fills and account above</li>"
    )
    body += [f"<li>{esc(r.text)}</li>" for r in report.later_runs]
    body.append("</ul>")
    if report.inputs:
        body.append("<p>Stored inputs of the trading run's execution:</p><ul>")
        body += [f"<li><code>{esc(path)}</code></li>" for path in report.inputs]
        body.append("</ul>")
    body.append("<h2>Equity</h2>")
    if EQUITY in sources:
        body.append(image(sources[EQUITY], "equity over the last sessions"))
    body.append(
        table(
            ["session", "equity", "traded"],
            [[p.session, f"{p.equity:,.2f}", f"{p.traded_notional:,.2f}"] for p in report.equity_history],
            [False, True, True],
        )
    )
    body.append(f'<p class="muted">Plan {esc(report.plan_id)}</p>')
    return page(f"Daily report {report.session}", body)


def email_parts(report: DailyReport, charts: Mapping[str, bytes]) -> tuple[str, str, str]:
    """Subject, plain text and HTML (images as cid: references to parts named like the charts)."""
    subject = f"[alchemiser] Daily report {report.headline}"
    html = daily_report_html(report, {name: f"cid:{name}" for name in charts})
    return subject, report_markdown(report), html
