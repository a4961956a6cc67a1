"""A symphony's own `:rebalance-threshold` corridor, applied to its sleeve.

Composer's rule: a symphony with a threshold is left alone while every holding stays
within the threshold (absolute weight, e.g. 0.1 = 10 percentage points) of its target;
once any one drifts outside, the whole sleeve goes back to target. A change of the
target (the logic picks another asset) moves that asset by its full weight and so always
rebalances. Without a threshold the sleeve goes back to target every session.
"""

from __future__ import annotations

from collections.abc import Mapping

Weights = Mapping[str, float]


def drifted(
    weights: Weights, price_before: Mapping[str, float], price_now: Mapping[str, float]
) -> dict[str, float]:
    """Yesterday's sleeve weights after today's price moves (the sleeve traded nothing)."""
    values = {s: w * price_now[s] / price_before[s] for s, w in weights.items() if w}
    total = sum(values.values())
    return {s: v / total for s, v in values.items()} if total > 0 else {}


def largest_drift(current: Weights, target: Weights) -> float:
    return max(
        (abs(current.get(s, 0.0) - target.get(s, 0.0)) for s in set(current) | set(target)), default=0.0
    )


def corridor_weights(
    previous: Weights | None,
    price_before: Mapping[str, float] | None,
    price_now: Mapping[str, float],
    target: Weights,
    threshold: float | None,
) -> tuple[dict[str, float], bool]:
    """The sleeve's weights for today and whether it rebalanced to target."""
    if threshold is None or previous is None or price_before is None:
        return dict(target), True
    current = drifted(previous, price_before, price_now)
    if not current or largest_drift(current, target) > threshold:
        return dict(target), True
    return current, False
