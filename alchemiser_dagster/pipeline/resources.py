"""Resources, configured once from the environment.

Modes differ only in where the broker is and which keys reach it:
- ``embedded`` (default): the local Alpaca stand-in is started on a free loopback port
  for the run, with persistent state under ``ALCHEMISER_SIM_STATE``; placeholder keys.
- ``paper``: Alpaca's paper API with ``ALPACA_API_KEY`` / ``ALPACA_SECRET_KEY``.
- ``live``: Alpaca's live API; the run also needs ``ALCHEMISER_LIVE_CONFIRM`` equal to
  the account number the broker reports, else it fails before any order.
Keys are passed as `EnvVar`s, so run configs and the UI show the variable's name, never
its value.
"""

import os
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Literal

import dagster as dg
from pydantic import PrivateAttr

from alchemiser_dagster.broker.alpaca import AlpacaBroker
from alchemiser_dagster.broker.simulator.server import SimulatorServer
from alchemiser_dagster.domain.broker import Broker
from alchemiser_dagster.domain.errors import ConfigError
from alchemiser_dagster.domain.execution.market import ExecutionSettings
from alchemiser_dagster.domain.portfolio.models import PlanningSettings
from alchemiser_dagster.domain.strategy.config import AllocationConfig, load_allocation_config

Mode = Literal["embedded", "paper", "live"]
MODES: tuple[Mode, ...] = ("embedded", "paper", "live")
REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_CONFIG = REPO_ROOT / "strategies" / "allocations.prod.json"
DEFAULT_STORAGE = REPO_ROOT / ".alchemiser" / "storage"
DEFAULT_SIM_STATE = REPO_ROOT / ".alchemiser" / "sim"
SIM_KEYS = ("sim-key", "sim-secret")


def mode_from_env() -> Mode:
    value = os.environ.get("ALCHEMISER_MODE", "embedded").strip().lower()
    if value not in MODES:
        raise ConfigError(f"ALCHEMISER_MODE must be one of {', '.join(MODES)}, got {value!r}")
    return value


def config_path_from_env() -> Path:
    return Path(os.environ.get("ALCHEMISER_CONFIG", str(DEFAULT_CONFIG)))


def storage_base_from_env() -> str:
    return os.environ.get("ALCHEMISER_STORAGE", str(DEFAULT_STORAGE))


class BrokerResource(dg.ConfigurableResource):
    """The broker for one run; in embedded mode it also owns the stand-in's lifetime."""

    mode: str = "embedded"
    api_key: str = SIM_KEYS[0]
    secret_key: str = SIM_KEYS[1]
    sim_state_dir: str = str(DEFAULT_SIM_STATE)
    live_confirm: str | None = None
    timeout_seconds: float = 10.0

    _server: SimulatorServer | None = PrivateAttr(default=None)
    _broker: AlpacaBroker | None = PrivateAttr(default=None)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        if self.mode == "embedded":
            self._server = SimulatorServer(Path(self.sim_state_dir)).start()
            self._broker = AlpacaBroker(
                self._server.api_key,
                self._server.secret_key,
                base_url=self._server.base_url,
                timeout_seconds=self.timeout_seconds,
            )
            return
        self._broker = AlpacaBroker(
            self.api_key, self.secret_key, paper=self.mode != "live", timeout_seconds=self.timeout_seconds
        )
        if self.mode == "live":
            reported = self._broker.get_account().account_number
            if self.live_confirm != reported:
                raise ConfigError(
                    "live mode needs ALCHEMISER_LIVE_CONFIRM set to the account number the broker"
                    " reports; it is missing or does not match"
                )

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if self._broker is not None:
            self._broker.close()
        if self._server is not None:
            self._server.stop()

    def client(self) -> Broker:
        if self._broker is None:
            raise ConfigError("the broker resource was used before it was set up")
        return self._broker


class StrategyConfigResource(dg.ConfigurableResource):
    """Where the allocation config lives, and the planning and execution settings."""

    allocation_config: str = str(DEFAULT_CONFIG)
    cash_reserve_pct: str = "0.01"
    min_trade_usd: str = "5"
    drift_band: str = "0"
    poll_seconds: float = 0.5

    def config(self) -> AllocationConfig:
        return load_allocation_config(self.allocation_config)

    def planning(self) -> PlanningSettings:
        try:
            return PlanningSettings(
                cash_reserve_pct=Decimal(self.cash_reserve_pct),
                min_trade_usd=Decimal(self.min_trade_usd),
                drift_band=Decimal(self.drift_band),
            )
        except InvalidOperation as error:
            raise ConfigError(f"planning settings must be decimal numbers: {error}") from error

    def execution(self) -> ExecutionSettings:
        return ExecutionSettings(poll_seconds=self.poll_seconds)


def broker_resource_for(mode: Mode) -> BrokerResource:
    """The table of modes: only the broker's location and keys differ."""
    if mode == "embedded":
        return BrokerResource(
            mode="embedded", sim_state_dir=os.environ.get("ALCHEMISER_SIM_STATE", str(DEFAULT_SIM_STATE))
        )
    return BrokerResource(
        mode=mode,
        api_key=dg.EnvVar("ALPACA_API_KEY"),
        secret_key=dg.EnvVar("ALPACA_SECRET_KEY"),
        live_confirm=dg.EnvVar("ALCHEMISER_LIVE_CONFIRM") if mode == "live" else None,
    )
