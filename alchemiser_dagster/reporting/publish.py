"""Publishing the daily report: charts and a self-contained HTML page next to the stored
assets (`<storage>/daily_report/<D>.html`, `<D>-weights.png`, `<D>-equity.png`; a local
folder or an `s3://` URL, see `alchemiser_dagster.storage`), and the email with the charts
inline.

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
    chart_paths: dict[str, UPath]
    charts: dict[str, bytes]


def publish_daily_report(report: DailyReport, storage_base: str, notifier: Notifier) -> Published:
    charts = render_charts(report)
    folder = storage_path(storage_base, REPORT_FOLDER)
    day = report.session.isoformat()
    chart_paths = {name: folder.joinpath(f"{day}-{name}.png") for name in charts}
    for name, png in charts.items():
        write_bytes(chart_paths[name], png)
    html_path = folder.joinpath(f"{day}.html")
    page = daily_report_html(report, {name: data_uri(png) for name, png in charts.items()})
    write_bytes(html_path, page.encode())
    subject, text, html = email_parts(report, charts)
    try:
        delivery = notifier.send_report(subject, text, html, charts)
    except (NotificationError, ConfigError) as error:
        delivery = Delivery(status="failed", detail=str(error))
    return Published(report.model_copy(update={"delivery": delivery}), html_path, chart_paths, charts)
