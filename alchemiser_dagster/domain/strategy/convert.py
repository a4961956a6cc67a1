"""Convert a loaded symphony to canonical text or score JSON, checked by reading it back.

A conversion that silently changed a strategy would trade real money on something the
user never wrote. So the written text is read again by the same reader that will load
it later, and its strategy (structure, weights, windows, options; not locations) must
equal the source's before the text is handed out.
"""

from __future__ import annotations

from typing import Literal

from alchemiser_dagster.domain.errors import DslValidationError
from alchemiser_dagster.domain.strategy.ast import Symphony
from alchemiser_dagster.domain.strategy.compiler import parse_symphony
from alchemiser_dagster.domain.strategy.score_json import parse_score_json
from alchemiser_dagster.domain.strategy.score_writer import to_score_json_text
from alchemiser_dagster.domain.strategy.writer import strategy_key, to_clj

ConvertForm = Literal["clj", "json"]


def convert_symphony(symphony: Symphony, form: ConvertForm) -> str:
    """`symphony` as canonical `.clj` text or score JSON text; raises if it would not read back."""
    if form == "clj":
        text = to_clj(symphony)
        again = parse_symphony(text, source=f"{symphony.source} (as .clj)")
    else:
        text = to_score_json_text(symphony)
        again = parse_score_json(text, source=f"{symphony.source} (as .json)")
    if strategy_key(again) != strategy_key(symphony):
        loc = symphony.body.loc
        raise DslValidationError(
            f"converting to {form} would change the strategy; nothing was written"
            " (please report this symphony)",
            source=loc.source,
            line=loc.line,
            column=loc.column,
            path=loc.path,
        )
    return text
