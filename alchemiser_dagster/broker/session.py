"""Open the broker a mode points at: the local stand-in or Alpaca, for as long as it is needed.

One place for "where is the broker and which keys reach it", shared by the Dagster broker
resource (one run) and the CLI commands that talk to the broker outside a run
(``alchemiser data fetch``):

- ``embedded``: the local Alpaca stand-in, started on a free loopback port with its
  persistent state in ``sim_state_dir``; its clock is ``sim_time`` New York on
  ``sim_date`` (default: the latest session on or before today), or the state's own
  clock when an earlier run's execution waits moved it on by at most
  :data:`STAND_IN_SLACK`. The stand-in's own placeholder keys are used.
- ``paper`` / ``live``: Alpaca's paper / live API, or ``broker_url`` when set, with the
  given keys. :func:`open_broker` resolves them from the settings' references
  ``api_key_secret`` / ``secret_key_secret`` (default ``env:ALPACA_API_KEY`` /
  ``env:ALPACA_SECRET_KEY``; ``aws-sm:`` for AWS Secrets Manager).

Leaving the context closes the adapter's connections and stops the stand-in (its state on
disk is complete). Keys are never formatted into a message.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from alchemiser_dagster.broker.alpaca import AlpacaBroker
from alchemiser_dagster.broker.simulator.server import (
    DEMO_TIME,
    SimulatorServer,
    default_now,
    session_time,
    stored_now,
)
from alchemiser_dagster.domain import calendar
from alchemiser_dagster.domain.errors import ConfigError
from alchemiser_dagster.modes import mode_profile
from alchemiser_dagster.secrets import check_reference, env_name, resolve_secret
from alchemiser_dagster.settings import Settings

__all__ = [
    "STAND_IN_SLACK",
    "BrokerSession",
    "broker_keys",
    "check_live_confirm",
    "open_broker",
    "open_broker_session",
    "start_stand_in",
]

#: How far earlier runs' execution waits may have moved the stand-in past the run time.
STAND_IN_SLACK: Final = dt.timedelta(hours=2)


@dataclass(frozen=True)
class BrokerSession:
    """An open broker; ``server`` is the stand-in serving it in embedded mode, else None."""

    broker: AlpacaBroker
    server: SimulatorServer | None


def start_stand_in(sim_state_dir: str | Path, sim_date: dt.date | None, sim_time: dt.time) -> SimulatorServer:
    """The stand-in at ``sim_time`` New York on ``sim_date``, or on today's latest session.

    ``ValueError`` when ``sim_date`` is not an NYSE session; :class:`ConfigError` when the
    state's clock is already later than that (beyond :data:`STAND_IN_SLACK`).
    """
    day = sim_date if sim_date is not None else default_now().date()
    now = session_time(day, sim_time)
    stored = stored_now(Path(sim_state_dir))
    if stored is not None and now < stored <= now + STAND_IN_SLACK:
        now = stored  # an earlier run's execution moved the clock on by its waits
    try:
        return SimulatorServer(Path(sim_state_dir), now=now).start()
    except ValueError as error:
        raise ConfigError(
            f"cannot start the stand-in in {sim_state_dir} at {now.isoformat()}: {error}"
            " (its clock never moves backwards; use another ALCHEMISER_SIM_STATE)"
        ) from error


@contextmanager
def open_broker_session(
    mode: str,
    *,
    api_key: str = "",
    secret_key: str = "",
    broker_url: str | None = None,
    sim_state_dir: str | Path = "",
    sim_date: dt.date | None = None,
    sim_time: dt.time = DEMO_TIME,
    timeout_seconds: float = 10.0,
) -> Iterator[BrokerSession]:
    """The broker for ``mode`` (see the module docstring) until the context ends.

    Embedded mode ignores the keys and ``broker_url``; any other mode is Alpaca's paper
    API unless it is ``live``.
    """
    profile = mode_profile(mode)
    server = start_stand_in(sim_state_dir, sim_date, sim_time) if profile.stand_in else None
    try:
        if server is not None:
            broker = AlpacaBroker(
                server.api_key,
                server.secret_key,
                base_url=server.base_url,
                timeout_seconds=timeout_seconds,
            )
        else:
            broker = AlpacaBroker(
                api_key,
                secret_key,
                paper=profile.paper,
                base_url=broker_url,
                timeout_seconds=timeout_seconds,
            )
        try:
            yield BrokerSession(broker, server)
        finally:
            broker.close()
    finally:
        if server is not None:
            server.stop()


def check_live_confirm(broker: AlpacaBroker, live_confirm: str | None) -> None:
    """Live orders need ``ALCHEMISER_LIVE_CONFIRM`` equal to the account number Alpaca reports."""
    reported = broker.get_account().account_number
    if not live_confirm or live_confirm != reported:
        raise ConfigError(
            "live mode needs ALCHEMISER_LIVE_CONFIRM set to the account number the broker"
            " reports; it is missing or does not match, so nothing was placed"
        )


def broker_keys(settings: Settings, environ: Mapping[str, str] | None = None) -> tuple[str, str]:
    """The Alpaca keys the settings' references point at (env: or aws-sm:), resolved now.

    A missing environment variable is a ConfigError naming every one that is missing.
    """
    refs = (("api_key_secret", settings.api_key_secret), ("secret_key_secret", settings.secret_key_secret))
    for setting, ref in refs:  # settings copied without validation must not reach a message
        check_reference(ref, setting)
    source = os.environ if environ is None else environ
    missing = [name for _, ref in refs if (name := env_name(ref)) and not source.get(name, "").strip()]
    if missing:
        raise ConfigError(
            f"{settings.mode} mode needs {' and '.join(missing)} set in the environment"
            " (the settings api_key_secret / secret_key_secret name where the Alpaca keys are)"
        )
    key, secret = (resolve_secret(ref, setting, source) for setting, ref in refs)
    return key, secret


@contextmanager
def open_broker(settings: Settings, environ: Mapping[str, str] | None = None) -> Iterator[AlpacaBroker]:
    """The broker the settings point at, keys from ``environ`` (default ``os.environ``).

    For commands outside a Dagster run. It reads only: the live confirmation, which
    guards orders, is the caller's to check (:func:`check_live_confirm`).
    """
    keys = ("", "")
    profile = mode_profile(settings.mode)
    if profile.needs_keys:
        keys = broker_keys(settings, environ)
    elif profile.stand_in and settings.sim_date is not None:
        _require_session(settings.sim_date)
    with open_broker_session(
        settings.mode,
        api_key=keys[0],
        secret_key=keys[1],
        broker_url=settings.broker_url,
        sim_state_dir=settings.sim_state,
        sim_date=settings.sim_date,
        sim_time=settings.sim_time,
        timeout_seconds=settings.broker_timeout_seconds,
    ) as session:
        yield session.broker


def _require_session(day: dt.date) -> None:
    try:
        ok = calendar.is_session(day)
    except ValueError as error:
        raise ConfigError(f"ALCHEMISER_SIM_DATE: {error}") from error
    if not ok:
        raise ConfigError(f"ALCHEMISER_SIM_DATE {day.isoformat()} is not an NYSE session")
