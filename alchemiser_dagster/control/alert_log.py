"""Every alert sent and the channels it reached, kept beside the storage base.

`<storage>/../control/alerts/<session>/<id hash>.json`. The sensors consult it before
sending, so a failure is announced once per channel even when a tick is retried after
a partial delivery or the cursor is lost; the daily report lists the session's alerts.
"""

from __future__ import annotations

import datetime as dt
import hashlib

from upath import UPath

from alchemiser_dagster.control.documents import control_path, read_record, write_document
from alchemiser_dagster.domain.alerts import Alert
from alchemiser_dagster.domain.errors import StorageError
from alchemiser_dagster.domain.model import Record
from alchemiser_dagster.storage import STORE_ERRORS


class AlertRecord(Record):
    alert: Alert
    delivered: tuple[str, ...]


class AlertLog:
    def __init__(self, storage_base: str) -> None:
        self._base = storage_base

    def _folder(self, session: dt.date | None) -> str:
        return session.isoformat() if session else "no-session"

    def _path(self, alert: Alert) -> UPath:
        digest = hashlib.sha256(alert.alert_id.encode()).hexdigest()[:24]
        return control_path(self._base, "alerts", self._folder(alert.session), f"{digest}.json")

    def delivered(self, alert: Alert) -> set[str]:
        record = self._read(self._path(alert))
        return set(record.delivered) if record else set()

    def record(self, alert: Alert, channel: str) -> None:
        channels = tuple(sorted(self.delivered(alert) | {channel}))
        record = AlertRecord(alert=alert, delivered=channels)
        write_document(self._path(alert), record.model_dump_json(indent=1).encode())

    def for_session(self, session: dt.date) -> list[AlertRecord]:
        folder = control_path(self._base, "alerts", self._folder(session))
        try:
            entries = list(folder.iterdir())
        except (FileNotFoundError, NotADirectoryError):  # no alert yet (an object store has no empty folders)
            return []
        except STORE_ERRORS as error:
            raise StorageError(
                f"{folder}: cannot list the alert log ({type(error).__name__}: {error})"
            ) from error
        records = [
            self._read(path)
            for path in entries
            if path.name.endswith(".json") and not path.name.startswith(".")
        ]
        return sorted((r for r in records if r is not None), key=lambda r: r.alert.occurred_at)

    @staticmethod
    def _read(path: UPath) -> AlertRecord | None:
        return read_record(path, AlertRecord, "the alert record")
