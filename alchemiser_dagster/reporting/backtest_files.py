"""A backtest's files: parquet tables, metrics.json, the charts and report.html.

Same inputs, same bytes: no timestamps anywhere (the PNGs carry none, the page shows only
the inputs), rows in session order. Paths may be local or fsspec URLs such as
`s3://bucket/prefix/backtests/<id>` (written with `path.open()` only, through
`alchemiser_dagster.storage`: atomic local files, one PUT per object).
"""

import io
import json
from collections.abc import Mapping

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from upath import UPath

from alchemiser_dagster.domain.backtest.benchmark import Benchmark
from alchemiser_dagster.domain.backtest.engine import BacktestResult
from alchemiser_dagster.reporting.backtest import backtest_html, render_charts
from alchemiser_dagster.reporting.html import data_uri
from alchemiser_dagster.storage import storage_path, write_bytes

TABLES = ("equity", "holdings", "trades", "targets", "sleeves", "attribution")


def _parquet(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    table = pa.Table.from_pandas(frame, preserve_index=False)
    pq.write_table(table.replace_schema_metadata(None), buffer)  # no pandas metadata: stable bytes
    return buffer.getvalue()


def _write(path: UPath, payload: bytes) -> None:
    write_bytes(path, payload, durable=False)


def write_backtest(
    result: BacktestResult,
    out: UPath,
    title: str,
    inputs: Mapping[str, str],
    benchmark: Benchmark | None = None,
) -> dict[str, UPath]:
    """Write every output under `out` (a folder or a URL); the paths written, by name."""
    out = storage_path(out)
    paths: dict[str, UPath] = {}
    for name in TABLES:
        paths[name] = out.joinpath(f"{name}.parquet")
        _write(paths[name], _parquet(getattr(result, name)))
    charts = render_charts(result, benchmark)
    for name, png in charts.items():
        paths[f"{name}_chart"] = out.joinpath(f"{name}.png")
        _write(paths[f"{name}_chart"], png)
    metrics = {
        "inputs": dict(inputs),
        "performance": result.performance.model_dump(mode="json"),
        "attribution": json.loads(result.attribution.to_json(orient="records")),
    }
    if benchmark is not None:
        metrics["benchmark"] = benchmark.stats.model_dump(mode="json")
    paths["metrics"] = out.joinpath("metrics.json")
    _write(paths["metrics"], (json.dumps(metrics, indent=1, sort_keys=True) + "\n").encode())
    paths["report"] = out.joinpath("report.html")
    page = backtest_html(
        result, title, inputs, {name: data_uri(png) for name, png in charts.items()}, benchmark
    )
    _write(paths["report"], page.encode())
    return paths
