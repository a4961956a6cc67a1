"""Publishing the daily report: charts and self-contained HTML pages next to the stored
assets (a local folder or an `s3://` URL, see `alchemiser_dagster.storage`), and the email
with the charts inline.

- `<storage>/daily_report/<D>.html` is the whole day: the trading run's story, then one
  line per later run of D. Each run of D rewrites it, always with the whole day.
- `<storage>/daily_report/<D>/<stamp>-<run id>.html` is the page as that run published it,
  kept (never overwritten), so what any run showed stays readable.
- `<D>-weights.png`, `<D>-equity.png`: the day page's charts.

A failed email does not lose the report: it is written and stored either way, and the
failure is recorded in the report's `delivery` (the `report_delivered` check fails on it).
"""

from typing import NamedTuple

from upath import UPath

from alchemiser_dagster.domain.errors import ConfigError, NotificationError
from alchemiser_dagster.domain.report import DailyReport, Delivery
from alchemiser_dagster.notify.notifier import Notifier
from alchemiser_dagster.reporting.daily import daily_report_html, email_parts, render_charts
from alchemiser_dagster.reporting.html import data_uri
from alchemiser_dagster.storage import storage_path, write_bytes

REPORT_FOLDER = "daily_report"


class Published(NamedTuple):
    report: DailyReport
    html_path: UPath
    run_html_path: UPath
    chart_paths: dict[str, UPath]
    charts: dict[str, bytes]


def publish_daily_report(
    report: DailyReport, storage_base: str, notifier: Notifier, run_file: str
) -> Published:
    """Write the day page, this run's page `<D>/<run_file>` and the charts; send the email."""
    charts = render_charts(report)
    folder = storage_path(storage_base, REPORT_FOLDER)
    day = report.session.isoformat()
    chart_paths = {name: folder.joinpath(f"{day}-{name}.png") for name in charts}
    for name, png in charts.items():
        write_bytes(chart_paths[name], png)
    html_path = folder.joinpath(f"{day}.html")
    page = daily_report_html(report, {name: data_uri(png) for name, png in charts.items()})
    write_bytes(folder.joinpath(day, run_file), page.encode())
    write_bytes(html_path, page.encode())
    subject, text, html = email_parts(report, charts)
    try:
        delivery = notifier.send_report(subject, text, html, charts)
    except (NotificationError, ConfigError) as error:
        delivery = Delivery(status="failed", detail=str(error))
    return Published(
        report.model_copy(update={"delivery": delivery}),
        html_path,
        folder.joinpath(day, run_file),
        chart_paths,
        charts,
    )
