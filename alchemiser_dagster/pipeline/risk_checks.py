"""Pre-trade risk: one blocking ERROR check on the plan per rule of `domain.risk.rules`.

A plan that breaks any limit stops the run before `execution_result`: no order leaves.
Each check is its own row in the UI, named after its rule, with the violations listed.
"""

from collections.abc import Sequence

import dagster as dg

from alchemiser_dagster.domain.portfolio.models import AccountSnapshot, RebalancePlan, TargetAllocation
from alchemiser_dagster.domain.risk.rules import RULES, RiskContext
from alchemiser_dagster.pipeline.partitions import nyse_sessions
from alchemiser_dagster.pipeline.resources import SettingsResource


def build_risk_check(rule: str, prefix: Sequence[str] = ()) -> dg.AssetChecksDefinition:
    """The check for one rule; `prefix` is the account's key prefix (its extra inputs are
    keyed here, since Dagster's key replacement drops a check's additional inputs)."""
    check_rule = RULES[rule]

    def key(name: str) -> dg.AssetKey:
        return dg.AssetKey([*prefix, name])

    @dg.asset_check(
        partitions_def=nyse_sessions,
        asset=key("rebalance_plan"),
        name=rule,
        blocking=True,
        description=(check_rule.__doc__ or rule).strip().splitlines()[0],
        additional_ins={
            "account_snapshot": dg.AssetIn(key("account_snapshot")),
            "target_allocation": dg.AssetIn(key("target_allocation")),
        },
    )
    def risk_check(
        rebalance_plan: RebalancePlan,
        account_snapshot: AccountSnapshot,
        target_allocation: TargetAllocation,
        settings: SettingsResource,
    ) -> dg.AssetCheckResult:
        context = RiskContext(
            plan=rebalance_plan,
            snapshot=account_snapshot,
            target=target_allocation,
            limits=settings.settings().risk,
        )
        violations = check_rule(context)
        return dg.AssetCheckResult(
            passed=not violations,
            severity=dg.AssetCheckSeverity.ERROR,
            description="; ".join(violations[:10]) if violations else "ok",
            metadata={"violations": len(violations)},
        )

    return risk_check


def build_risk_checks(prefix: Sequence[str] = ()) -> list[dg.AssetChecksDefinition]:
    return [build_risk_check(rule, prefix) for rule in RULES]
