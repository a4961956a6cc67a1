"""Resources, built once from the validated settings (`build_resources`).

Modes differ only in where the broker is and which keys reach it (the table is
`alchemiser_dagster.modes.MODES`):
- ``embedded`` (default): the local Alpaca stand-in is started on a free loopback port
  for the run, with persistent state under the ``sim_state`` setting; placeholder keys.
- ``paper``: Alpaca's paper API with the keys the settings ``api_key_secret`` /
  ``secret_key_secret`` point at (default ``env:ALPACA_API_KEY`` / ``env:ALPACA_SECRET_KEY``,
  or ``aws-sm:SECRET_ID#FIELD`` for AWS Secrets Manager).
- ``live``: Alpaca's live API; the run also needs ``ALCHEMISER_LIVE_CONFIRM`` equal to
  the account number the broker reports, else it fails before any order.
The resource holds the references only and resolves them when the run starts, so run
configs, the UI and the event log never see a key. ``broker_url`` points paper or live at
another Alpaca-compatible endpoint.
"""

import datetime as dt
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import dagster as dg
from pydantic import PrivateAttr

from alchemiser_dagster.broker.alpaca import AlpacaBroker
from alchemiser_dagster.broker.pacing import PacedBroker
from alchemiser_dagster.broker.session import check_live_confirm, open_broker_session
from alchemiser_dagster.broker.simulator.server import DEMO_TIME, SimulatorServer
from alchemiser_dagster.control.execution_lock import ExecutionLock, session_lock
from alchemiser_dagster.control.lease import Busy
from alchemiser_dagster.domain.broker import Broker
from alchemiser_dagster.domain.errors import ConfigError
from alchemiser_dagster.domain.execution.engine import ExecutionSettings
from alchemiser_dagster.domain.portfolio.allocation import FailedStrategyPolicy
from alchemiser_dagster.domain.portfolio.models import PlanningSettings
from alchemiser_dagster.domain.risk.limits import RiskLimits
from alchemiser_dagster.domain.strategy.config import AllocationConfig, load_allocation_config
from alchemiser_dagster.modes import mode_profile
from alchemiser_dagster.notify.notifier import Notifier
from alchemiser_dagster.notify.settings import AlertSettings
from alchemiser_dagster.pipeline.history import HistoryResource
from alchemiser_dagster.pipeline.io_manager import ModelIOManager
from alchemiser_dagster.pipeline.stores import AlertLogResource, ExecutionJournalResource, KillSwitchResource
from alchemiser_dagster.secrets import resolve_secret
from alchemiser_dagster.settings import Mode, Settings


class BrokerResource(dg.ConfigurableResource):
    """The broker for one run; in embedded mode it also owns the stand-in's lifetime."""

    mode: str = "embedded"
    # Where the keys are (env:NAME or aws-sm:ID[#FIELD]), resolved when the run starts.
    api_key_secret: str = "env:ALPACA_API_KEY"
    secret_key_secret: str = "env:ALPACA_SECRET_KEY"
    broker_url: str | None = None
    sim_state_dir: str = ""
    sim_date: str | None = None
    sim_time: str = "15:45"
    live_confirm: str | None = None
    timeout_seconds: float = 10.0

    _server: SimulatorServer | None = PrivateAttr(default=None)
    _broker: AlpacaBroker | None = PrivateAttr(default=None)
    _paced: PacedBroker | None = PrivateAttr(default=None)
    _session: ExitStack | None = PrivateAttr(default=None)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        profile = mode_profile(self.mode)
        at = dt.time.fromisoformat(self.sim_time) if profile.stand_in else DEMO_TIME
        day = dt.date.fromisoformat(self.sim_date) if profile.stand_in and self.sim_date else None
        key, secret = ("", "")
        if profile.needs_keys:
            key = resolve_secret(self.api_key_secret, "api_key_secret")
            secret = resolve_secret(self.secret_key_secret, "secret_key_secret")
        stack = ExitStack()
        try:
            session = stack.enter_context(
                open_broker_session(
                    self.mode,
                    api_key=key,
                    secret_key=secret,
                    broker_url=self.broker_url,
                    sim_state_dir=self.sim_state_dir,
                    sim_date=day,
                    sim_time=at,
                    timeout_seconds=self.timeout_seconds,
                )
            )
            if profile.live_confirm:
                check_live_confirm(session.broker, self.live_confirm)
        except BaseException:
            stack.close()
            raise
        self._session = stack
        self._server = session.server
        self._broker = session.broker

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if self._session is not None:
            self._session.close()  # closes the broker, then stops the stand-in

    def sleep(self, seconds: float) -> None:
        """Wait between execution steps: real time on Alpaca, simulated time on the stand-in."""
        if self._server is not None:
            self._server.set_clock(self._server.now() + dt.timedelta(seconds=seconds))
        else:
            time.sleep(seconds)

    def client(self) -> Broker:
        """The broker, paced under Alpaca's 200 requests/minute and backing off on 429."""
        if self._paced is None:
            if self._broker is None:
                raise ConfigError("the broker resource was used before it was set up")
            self._paced = PacedBroker(self._broker, sleep=time.sleep, monotonic=time.monotonic)
        return self._paced


class ExecutionLockResource(dg.ConfigurableResource):
    """The execution lock of each (account, session) this run executes.

    Taken by execution_result before the journal's first write and released when the
    run's resources are torn down: after the result is stored (the in-process executor
    tears down at the end of the run, a step-per-process executor after the step).
    """

    journal: ExecutionJournalResource
    wait_seconds: float = 900.0
    stale_seconds: float = 120.0

    _held: dict[str, ExecutionLock] = PrivateAttr(default_factory=dict)

    def hold(
        self,
        session: dt.date,
        account_number: str,
        run_id: str,
        on_wait: Callable[[Busy], None] | None = None,
    ) -> ExecutionLock:
        lock = session_lock(
            self.journal.journal(),
            session,
            account_number,
            wait_seconds=self.wait_seconds,
            stale_seconds=self.stale_seconds,
        )
        held = self._held.setdefault(lock.location, lock)  # a step retried in this run keeps it
        held.acquire(run_id, on_wait)
        return held

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        held, self._held = list(self._held.values()), {}
        for lock in held:
            lock.release()


class SettingsResource(dg.ConfigurableResource):
    """The validated settings (no secrets), as JSON so a run's config shows exactly what applied.

    Parsed on first use, once per run (each run initializes its own copy), and the
    allocation config read once; assets ask for the typed group they need (`planning`,
    `risk`, `execution`, `allocation`, ...), not the whole.
    """

    values: str

    _parsed: Settings | None = PrivateAttr(default=None)
    _allocation: AllocationConfig | None = PrivateAttr(default=None)

    def settings(self) -> Settings:
        if self._parsed is None:
            self._parsed = Settings.model_validate_json(self.values)
        return self._parsed

    @property
    def allocation(self) -> AllocationConfig:
        if self._allocation is None:
            self._allocation = load_allocation_config(self.settings().config)
        return self._allocation

    @property
    def planning(self) -> PlanningSettings:
        return self.settings().planning

    @property
    def risk(self) -> RiskLimits:
        return self.settings().risk

    @property
    def execution(self) -> ExecutionSettings:
        return self.settings().execution

    @property
    def failed_strategy_policy(self) -> FailedStrategyPolicy:
        return self.settings().failed_strategy_policy

    @property
    def report_history_sessions(self) -> int:
        return self.settings().report_history_sessions

    @property
    def mode(self) -> Mode:
        return self.settings().mode

    @property
    def storage(self) -> str:
        return self.settings().storage

    @property
    def config_path(self) -> Path:
        return self.settings().config


class NotifierResource(dg.ConfigurableResource):
    """Alert and report delivery; the settings hold secret references, never secrets.

    Flat (the alert log's storage, not the AlertLogResource): the sensors use it, and a
    sensor context built outside a `with` block accepts no nested resource.
    """

    alerts: str
    storage: str

    def notifier(self) -> Notifier:
        return Notifier(
            AlertSettings.model_validate_json(self.alerts), AlertLogResource(storage=self.storage).log()
        )


def broker_resource(settings: Settings) -> BrokerResource:
    """The broker of the settings' mode: the stand-in's clock and state, or Alpaca's keys."""
    if mode_profile(settings.mode).stand_in:
        return BrokerResource(
            mode=settings.mode,
            sim_state_dir=str(settings.sim_state),
            sim_date=settings.sim_date.isoformat() if settings.sim_date else None,
            sim_time=settings.sim_time.isoformat(timespec="minutes"),
            timeout_seconds=settings.broker_timeout_seconds,
        )
    return BrokerResource(
        mode=settings.mode,
        api_key_secret=settings.api_key_secret,
        secret_key_secret=settings.secret_key_secret,
        broker_url=settings.broker_url,
        live_confirm=settings.live_confirm,
        timeout_seconds=settings.broker_timeout_seconds,
    )


def build_resources(settings: Settings) -> dict[str, Any]:
    """Every resource of the graph, built once from the validated settings."""
    journal = ExecutionJournalResource(storage=settings.storage, account=settings.account)
    alert_log = AlertLogResource(storage=settings.storage)
    return {
        "io_manager": ModelIOManager(base=settings.storage),
        "broker": broker_resource(settings),
        "settings": SettingsResource(values=settings.model_dump_json()),
        "notifier": NotifierResource(alerts=settings.alerts.model_dump_json(), storage=settings.storage),
        "execution_lock": ExecutionLockResource(
            journal=journal,
            wait_seconds=settings.execution.lock_wait_seconds,
            stale_seconds=settings.execution.lock_stale_seconds,
        ),
        "execution_journal": journal,
        "kill_switch": KillSwitchResource(storage=settings.storage),
        "alert_log": alert_log,
        "history": HistoryResource(base=settings.storage, account=settings.account),
    }
