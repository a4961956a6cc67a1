"""The table of modes: where the broker is and what a run of each mode needs, in one place.

Modes differ only in these facts; code asks the table (`MODES[settings.mode]`) instead of
comparing mode names.
"""

from dataclasses import dataclass
from typing import Final

from alchemiser_dagster.domain.errors import ConfigError
from alchemiser_dagster.settings import Mode


@dataclass(frozen=True)
class ModeProfile:
    """What one mode means for the broker and the run."""

    stand_in: bool  # the local Alpaca stand-in, started per run on loopback, with simulated time
    needs_keys: bool  # Alpaca keys resolved from the settings' secret references
    paper: bool  # Alpaca's paper endpoint (False: the live one)
    live_confirm: bool  # orders need ALCHEMISER_LIVE_CONFIRM equal to the broker's account number
    describe: str  # the broker in words, for messages


MODES: Final[dict[Mode, ModeProfile]] = {
    "embedded": ModeProfile(
        stand_in=True, needs_keys=False, paper=True, live_confirm=False, describe="the embedded stand-in"
    ),
    "paper": ModeProfile(
        stand_in=False, needs_keys=True, paper=True, live_confirm=False, describe="Alpaca paper"
    ),
    "live": ModeProfile(
        stand_in=False, needs_keys=True, paper=False, live_confirm=True, describe="Alpaca live"
    ),
}


def mode_profile(mode: str) -> ModeProfile:
    """The profile of `mode`; a name outside the table is a ConfigError naming the known ones."""
    try:
        return MODES[mode]  # type: ignore[index]
    except KeyError:
        raise ConfigError(f"unknown mode {mode!r}; known: {', '.join(MODES)}") from None
