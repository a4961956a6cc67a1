"""Pre-trade risk: one blocking ERROR check on the plan per rule of `domain.risk.rules`.

A plan that breaks any limit stops the run before `execution_result`: no order leaves.
Each check is its own row in the UI, named after its rule, with the violations listed.
"""

import dagster as dg

from alchemiser_dagster.domain.portfolio.models import AccountSnapshot, RebalancePlan, TargetAllocation
from alchemiser_dagster.domain.risk.rules import RULES, RiskContext
from alchemiser_dagster.pipeline.partitions import nyse_sessions
from alchemiser_dagster.pipeline.resources import SettingsResource


def build_risk_check(rule: str) -> dg.AssetChecksDefinition:
    check_rule = RULES[rule]

    @dg.asset_check(
        partitions_def=nyse_sessions,
        asset="rebalance_plan",
        name=rule,
        blocking=True,
        description=(check_rule.__doc__ or rule).strip().splitlines()[0],
        additional_ins={
            "account_snapshot": dg.AssetIn("account_snapshot"),
            "target_allocation": dg.AssetIn("target_allocation"),
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


RISK_CHECKS = [build_risk_check(rule) for rule in RULES]
