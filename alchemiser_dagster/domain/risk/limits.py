"""Pre-trade risk limits: the numbers (defaults from the portfolio-execution spec).

The rules that apply them live in `domain/risk/rules.py`; each returns the violations
of one limit, so each can be its own blocking check in the daily graph.
"""

from __future__ import annotations

from decimal import Decimal

from pydantic import ConfigDict, Field, field_validator

from alchemiser_dagster.domain.model import FrozenModel


class RiskLimits(FrozenModel):
    """Every limit is a setting; a plan that breaks one places nothing."""

    model_config = ConfigDict(strict=False)  # parsed from user text: coercion wanted

    max_order_usd: Decimal = Field(default=Decimal("1000000"), gt=0)
    max_order_pct_equity: Decimal = Field(default=Decimal("1.0"), gt=0)
    max_turnover_pct_equity: Decimal = Field(default=Decimal("2.0"), gt=0)
    max_position_weight: Decimal = Field(default=Decimal("1.0"), gt=0, le=1)
    restricted_symbols: tuple[str, ...] = ()

    @field_validator("restricted_symbols")
    @classmethod
    def _upper(cls, symbols: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(sorted({s.strip().upper() for s in symbols if s.strip()}))
