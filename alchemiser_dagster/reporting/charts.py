"""PNG charts with matplotlib's object API (no pyplot state, no display, safe in threads).

Bytes out, same bytes for the same input: the PNG carries no timestamp or software tag.
"""

import io
from collections.abc import Sequence

from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, PercentFormatter

from alchemiser_dagster.domain.report import EquityPoint, WeightRow

COLORS = {
    "before": "#9aa5b1",
    "target": "#2f6fdf",
    "after": "#f08c2e",
    "equity": "#2f6fdf",
    "traded": "#c9d3df",
}
WIDTH_IN = 8.0
HEIGHT_IN = 3.6
DPI = 100


def png_bytes(figure: Figure) -> bytes:
    """The figure as PNG, without the software tag (same figure, same bytes)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    return buffer.getvalue()


def weights_chart(rows: Sequence[WeightRow], title: str) -> bytes:
    """Grouped bars per symbol: weight before the trade, the target, and after the trade."""
    figure = Figure(figsize=(WIDTH_IN, HEIGHT_IN), layout="constrained")
    axes = figure.add_subplot()
    symbols = [r.symbol for r in rows]
    series = {
        "before": [float(r.before) for r in rows],
        "target": [float(r.target) for r in rows],
        "after": [float(r.after) if r.after is not None else 0.0 for r in rows],
    }
    width = 0.27
    for offset, (name, values) in zip((-width, 0.0, width), series.items(), strict=True):
        axes.bar([i + offset for i in range(len(rows))], values, width, label=name, color=COLORS[name])
    axes.set_xticks(range(len(rows)), symbols, rotation=45 if len(rows) > 12 else 0, ha="center")
    axes.yaxis.set_major_formatter(PercentFormatter(xmax=1.0, decimals=0))
    axes.set_ylabel("weight of equity")
    axes.set_title(title)
    figure.legend(loc="outside right upper", frameon=False)
    axes.grid(axis="y", alpha=0.3)
    return png_bytes(figure)


def equity_chart(points: Sequence[EquityPoint], title: str) -> bytes:
    """Equity after each session's trade (line), traded notional per session (bars, right axis)."""
    figure = Figure(figsize=(WIDTH_IN, HEIGHT_IN), layout="constrained")
    axes = figure.add_subplot()
    labels = [p.session.isoformat() for p in points]
    positions = list(range(len(points)))
    traded_axes = axes.twinx()
    traded_axes.bar(
        positions,
        [float(p.traded_notional) for p in points],
        color=COLORS["traded"],
        width=0.6,
        label="traded",
    )
    traded_axes.set_ylabel("traded (USD)")
    axes.set_zorder(traded_axes.get_zorder() + 1)
    axes.patch.set_visible(False)
    axes.plot(
        positions, [float(p.equity) for p in points], marker="o", color=COLORS["equity"], label="equity"
    )
    money = FuncFormatter(lambda value, _: f"{value:,.0f}")
    axes.yaxis.set_major_formatter(money)
    traded_axes.yaxis.set_major_formatter(money)
    axes.set_xlim(-0.75, max(len(points), 6) - 0.25)  # a few sessions keep slim bars
    step = max(1, len(points) // 10)
    axes.set_xticks(positions[::step], labels[::step], rotation=30, ha="right")
    axes.set_ylabel("equity (USD)")
    axes.set_title(title)
    figure.legend(loc="outside right upper", frameon=False)
    axes.grid(axis="y", alpha=0.3)
    return png_bytes(figure)
