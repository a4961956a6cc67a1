"""The kill switch: three states and the log of every flip (pure; no I/O).

After NautilusTrader's risk engine: ACTIVE trades, REDUCING only lets positions shrink
(sells), HALTED places nothing (and execution cancels our open orders). The switch lives
outside any run; `control/killswitch_store.py` persists the log, the CLI flips it. The
log only grows: the current state is its last flip, ACTIVE when nothing was ever flipped.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal, get_args

from pydantic import ConfigDict, field_validator

from alchemiser_dagster.domain.broker import Side
from alchemiser_dagster.domain.errors import ConfigError
from alchemiser_dagster.domain.model import FrozenModel, Record

KillState = Literal["ACTIVE", "REDUCING", "HALTED"]
KILL_STATES: tuple[KillState, ...] = get_args(KillState)

_ALLOWED_SIDES: dict[KillState, frozenset[Side]] = {
    "ACTIVE": frozenset({"buy", "sell"}),
    "REDUCING": frozenset({"sell"}),
    "HALTED": frozenset(),
}


class KillSwitchFlip(FrozenModel):
    """One decision to change (or re-affirm) the state: when, by whom and why."""

    state: KillState
    at: dt.datetime
    who: str
    why: str

    @field_validator("at")
    @classmethod
    def _aware(cls, at: dt.datetime) -> dt.datetime:
        if at.tzinfo is None or at.utcoffset() is None:
            raise ValueError("the flip time must be timezone-aware")
        return at

    @field_validator("who", "why")
    @classmethod
    def _not_blank(cls, text: str) -> str:
        if not text.strip():
            raise ValueError("must not be empty")
        return text.strip()


class KillSwitchLog(Record):
    """Every flip in the order it was made; the persisted document."""

    model_config = ConfigDict(strict=False)  # read back from its JSON file

    flips: tuple[KillSwitchFlip, ...] = ()

    @property
    def current(self) -> KillState:
        """The state of the last flip; ACTIVE when the switch was never flipped."""
        return self.flips[-1].state if self.flips else "ACTIVE"

    def with_flip(self, flip: KillSwitchFlip) -> KillSwitchLog:
        """A new log with `flip` appended (this one is unchanged)."""
        return self.model_copy(update={"flips": (*self.flips, flip)})


def allows(state: KillState, side: Side) -> bool:
    """Whether an order of `side` may be placed: ACTIVE both, REDUCING sells only, HALTED nothing.

    Fails closed: a state or side this module does not know allows nothing.
    """
    return side in _ALLOWED_SIDES.get(state, frozenset())


def parse_state(text: str) -> KillState:
    """A state from user text, case-insensitively; anything else is a ConfigError."""
    wanted = text.strip().upper()
    for state in KILL_STATES:
        if state == wanted:
            return state
    raise ConfigError(f"unknown kill-switch state {text!r}: choose one of {', '.join(KILL_STATES)}")
