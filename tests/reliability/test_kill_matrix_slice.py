"""The fast slice of the kill matrix (every boundary runs in `make reliability`)."""

from pathlib import Path

from reliability.kill_matrix import run_case


def test_sigkill_after_the_plan_is_stored_then_rerun_keeps_every_invariant(tmp_path: Path) -> None:
    result = run_case(tmp_path, "rebalance_plan")
    assert result.killed, "the run finished before it could be killed"
    assert result.rerun_ok
    assert (
        result.verdict.duplicates == []
        and result.verdict.lost_fills == []
        and result.verdict.off_target == []
    )
