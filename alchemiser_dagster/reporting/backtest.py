"""The backtest rendered: equity and drawdown, weights over time, and an HTML page."""

from collections.abc import Mapping

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, PercentFormatter

from alchemiser_dagster.domain.backtest.benchmark import Benchmark, BenchmarkStats
from alchemiser_dagster.domain.backtest.engine import BacktestResult
from alchemiser_dagster.domain.backtest.metrics import Performance
from alchemiser_dagster.reporting.charts import png_bytes
from alchemiser_dagster.reporting.html import esc, image, page, table

EQUITY = "equity"
WEIGHTS = "weights"
TOP_SYMBOLS = 12  # the rest of the book is drawn as one "other" band


def equity_drawdown_chart(equity: pd.DataFrame, title: str, benchmark: Benchmark | None = None) -> bytes:
    figure = Figure(figsize=(9.0, 5.0), layout="constrained")
    top, bottom = figure.subplots(2, 1, sharex=True, height_ratios=[3, 1])
    dates = pd.to_datetime(equity["session"])
    top.plot(dates, equity["equity"].astype(float), color="#2f6fdf", linewidth=1.2, label="strategy")
    if benchmark is not None:
        top.plot(dates, benchmark.equity, color="#7a7a7a", linewidth=1.0, label=f"{benchmark.symbol} (held)")
        top.legend(loc="best", frameon=False)
    top.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
    top.set_ylabel("equity (USD)")
    top.set_title(title)
    top.grid(alpha=0.3)
    bottom.fill_between(
        dates,
        equity["drawdown"].astype(float),
        0.0,
        color="#d64545",
        alpha=0.5,
        linewidth=0,
        label="strategy",
    )
    if benchmark is not None:
        held = np.asarray(benchmark.equity, dtype=float)
        bottom.plot(dates, held / np.maximum.accumulate(held) - 1.0, color="#7a7a7a", linewidth=0.8,
                    label=benchmark.symbol)  # fmt: skip
        bottom.legend(loc="lower left", frameon=False, fontsize=8)
    bottom.yaxis.set_major_formatter(PercentFormatter(xmax=1.0, decimals=0))
    bottom.set_ylabel("drawdown")
    bottom.grid(alpha=0.3)
    return png_bytes(figure)


def weights_over_time_chart(holdings: pd.DataFrame, sessions: pd.Series, title: str) -> bytes:
    """Stacked weights of the most-held symbols after each session's trades."""
    weights = holdings.pivot_table(index="session", columns="symbol", values="weight", aggfunc="sum")
    weights = weights.reindex(list(sessions)).fillna(0.0)
    order = weights.mean().sort_values(ascending=False).index
    shown = list(order[:TOP_SYMBOLS])
    frame = weights[shown].copy()
    if len(order) > TOP_SYMBOLS:
        frame["other"] = weights[list(order[TOP_SYMBOLS:])].sum(axis=1)
    figure = Figure(figsize=(9.0, 4.0), layout="constrained")
    axes = figure.add_subplot()
    dates = pd.to_datetime(pd.Series(frame.index))
    values = [frame[c].to_numpy(dtype=float) for c in frame.columns]
    colors = [matplotlib.colormaps["tab20"](i % 20) for i in range(len(values))]
    stacked = np.vstack(values) if values else np.zeros((0, len(dates)))
    axes.stackplot(dates, stacked, labels=list(frame.columns), colors=colors)
    axes.yaxis.set_major_formatter(PercentFormatter(xmax=1.0, decimals=0))
    axes.set_ylim(0, 1.0)
    axes.set_title(title)
    figure.legend(loc="outside right upper", frameon=False, fontsize=8)
    return png_bytes(figure)


def render_charts(result: BacktestResult, benchmark: Benchmark | None = None) -> dict[str, bytes]:
    title = "Equity and drawdown" + (f" (benchmark {benchmark.symbol})" if benchmark else "")
    return {
        EQUITY: equity_drawdown_chart(result.equity, title, benchmark),
        WEIGHTS: weights_over_time_chart(result.holdings, result.equity["session"], "Weights over time"),
    }


def _pct(value: float | None) -> str:
    return "-" if value is None or pd.isna(value) else f"{value * 100:.2f} %"


def metrics_rows(p: Performance) -> list[list[str]]:
    dd = p.max_drawdown
    return [
        ["sessions", str(p.sessions)],
        ["start equity", f"{p.start_equity:,.2f}"],
        ["end equity", f"{p.end_equity:,.2f}"],
        ["total return", _pct(p.total_return)],
        ["CAGR", _pct(p.cagr)],
        ["volatility (annualized)", _pct(p.volatility)],
        ["Sharpe (rf 0)", "-" if p.sharpe is None else f"{p.sharpe:.2f}"],
        ["Sortino (rf 0)", "-" if p.sortino is None else f"{p.sortino:.2f}"],
        ["max drawdown", _pct(dd.depth)],
        [
            "drawdown peak / trough / recovered",
            f"{dd.peak or '-'} / {dd.trough or '-'} / {dd.recovered or 'not yet'}",
        ],
        ["traded notional", f"{p.traded_notional:,.2f}"],
        ["turnover (traded / mean equity, per year)", f"{p.turnover:.2f}"],
        ["slippage cost", f"{p.slippage_cost:,.2f}"],
    ]


def benchmark_rows(b: BenchmarkStats) -> list[list[str]]:
    return [
        ["benchmark", f"{b.symbol}, bought at the first close and held"],
        ["daily returns compared", str(b.returns)],
        ["benchmark total return", _pct(b.total_return)],
        ["benchmark annual return", _pct(b.annual_return)],
        ["excess return (annualized, strategy - benchmark)", _pct(b.excess_return)],
        ["excess total return", _pct(b.excess_total_return)],
        ["beta (cov / var of daily returns)", "-" if b.beta is None else f"{b.beta:.2f}"],
        ["correlation (Pearson, daily returns)", "-" if b.correlation is None else f"{b.correlation:.2f}"],
        ["tracking error (annualized)", _pct(b.tracking_error)],
    ]


def yearly_returns(equity: pd.DataFrame, start_equity: float) -> list[list[str]]:
    frame = equity.assign(year=[d.year for d in equity["session"]], value=equity["equity"].astype(float))
    rows = []
    previous = start_equity
    for year, group in frame.groupby("year", sort=True):
        end = float(group["value"].iloc[-1])
        rows.append([str(year), _pct(end / previous - 1.0), f"{end:,.2f}"])
        previous = end
    return rows


def backtest_html(
    result: BacktestResult,
    title: str,
    inputs: Mapping[str, str],
    sources: Mapping[str, str],
    benchmark: Benchmark | None = None,
) -> str:
    """The page; `inputs` describes the run (config, bars, range, cash, slippage)."""
    p = result.performance
    body = [
        f"<h1>{esc(title)}</h1>",
        table(["input", "value"], [[k, v] for k, v in inputs.items()], [False, False]),
    ]
    body += ["<h2>Performance</h2>", table(["metric", "value"], metrics_rows(p), [False, True])]
    if benchmark is not None:
        body += [
            "<h2>Benchmark</h2>",
            table(["metric", "value"], benchmark_rows(benchmark.stats), [False, True]),
        ]
    if EQUITY in sources:
        body.append(image(sources[EQUITY], "equity and drawdown"))
    body += [
        "<h2>Years</h2>",
        table(
            ["year", "return", "end equity"],
            yearly_returns(result.equity, p.start_equity),
            [False, True, True],
        ),
    ]
    attribution = [
        [
            r["strategy"],
            "-" if pd.isna(r["share"]) else f"{r['share'] * 100:.1f} %",
            "-" if pd.isna(r["trading"]) else r["trading"],
            "-" if pd.isna(r["rebalances"]) else str(int(r["rebalances"])),
            _pct(None if pd.isna(r["sleeve_total_return"]) else float(r["sleeve_total_return"])),
            _pct(None if pd.isna(r["sleeve_cagr"]) else float(r["sleeve_cagr"])),
            "-" if pd.isna(r["sleeve_sharpe"]) else f"{float(r['sleeve_sharpe']):.2f}",
            _pct(None if pd.isna(r["sleeve_max_drawdown"]) else float(r["sleeve_max_drawdown"])),
            f"{float(r['contribution_usd']):,.2f}",
        ]
        for r in result.attribution.to_dict("records")
    ]
    body += [
        "<h2>Strategies</h2>",
        '<p class="muted">Each sleeve on its own (its weights as its trading setting holds them,'
        " no costs), and its contribution to the account's profit: the sum over sessions of"
        " share x sleeve return x equity. Costs, cash and rounding make up the rest.</p>",
        table(
            ["strategy", "share", "trading", "rebalances", "total return", "CAGR", "Sharpe",
             "max drawdown", "contribution USD"],
            attribution,
            [False, True, False, True, True, True, True, True, True],
        ),
    ]  # fmt: skip
    body.append("<h2>Weights over time</h2>")
    if WEIGHTS in sources:
        body.append(image(sources[WEIGHTS], "weights over time"))
    last = result.equity["session"].iloc[-1]
    final = result.holdings[result.holdings["session"] == last]
    body += [
        f"<h2>Holdings after {esc(last)}</h2>",
        table(
            ["symbol", "qty", "close", "value", "weight"],
            [[r["symbol"], r["qty"], r["close"], f"{r['value']:,.2f}", _pct(r["weight"])]
             for r in final.to_dict("records")],
            [False, True, True, True, True],
        ),
    ]  # fmt: skip
    return page(title, body)


def compare_equity_chart(
    ours: pd.DataFrame, theirs: pd.DataFrame, ours_label: str, theirs_label: str, title: str, tolerance: float
) -> bytes:
    """Two equity curves (`session`, `equity`) on one axis (log when they span more than 10x), and
    below, each compared day's largest weight difference: green where the days agree, red where not."""
    figure = Figure(figsize=(9.0, 5.0), layout="constrained")
    top, bottom = figure.subplots(2, 1, sharex=True, height_ratios=[3, 1])
    for frame, label, color in ((ours, ours_label, "#2f6fdf"), (theirs, theirs_label, "#e07b00")):
        top.plot(pd.to_datetime(frame["session"]), frame["equity"].astype(float), color=color,
                 linewidth=1.1, label=label)  # fmt: skip
    values = np.concatenate([ours["equity"].to_numpy(dtype=float), theirs["equity"].to_numpy(dtype=float)])
    if values.min() > 0 and values.max() / values.min() > 10:
        top.set_yscale("log")
    top.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
    top.yaxis.set_minor_formatter(FuncFormatter(lambda v, _: ""))
    top.set_ylabel("equity (USD)")
    top.set_title(title)
    top.grid(alpha=0.3)
    top.legend(loc="best", frameon=False)
    days = ours.dropna(subset=["agree"])
    agree = days["agree"].astype(bool).to_numpy()
    difference = days["max_difference"].astype(float).to_numpy()
    when = pd.to_datetime(days["session"])
    bottom.scatter(when[agree], difference[agree], s=6, color="#3a9a4a", label="agree")
    bottom.scatter(when[~agree], difference[~agree], s=10, color="#d64545", label="differ")
    bottom.axhline(tolerance, color="#7a7a7a", linewidth=0.8, linestyle="--", label="tolerance")
    # headroom above the largest point so the legend (top centre) never covers one
    bottom.set_ylim(0, max(4 * tolerance, float(difference.max(initial=0.0)), 0.01) * 1.7)
    bottom.yaxis.set_major_formatter(PercentFormatter(xmax=1.0, decimals=1))
    bottom.set_ylabel("largest weight\ndifference")
    bottom.legend(loc="upper center", frameon=False, fontsize=8, ncols=3)
    bottom.grid(alpha=0.3)
    return png_bytes(figure)
