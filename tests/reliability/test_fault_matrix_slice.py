"""The fast slice of the fault matrix (the whole matrix runs in `make reliability`)."""

from pathlib import Path

import pytest

from reliability.fault_matrix import QUICK, run_case, table
from reliability.invariants import check


@pytest.mark.parametrize(("fault", "site"), QUICK, ids=[f"{f} at {' '.join(s)}" for f, s in QUICK])
def test_fault_then_rerun_keeps_every_invariant(tmp_path: Path, fault: str, site: tuple[str, str]) -> None:
    result = run_case(tmp_path, fault, site)
    assert result.rerun_ok, f"the rerun after {fault} at {site} failed"
    assert result.verdict.duplicates == []
    assert result.verdict.lost_fills == []
    assert result.verdict.off_target == []
    ((name, runs, survived, duplicates, lost),) = table([result])
    assert (name, runs, survived, duplicates, lost) == (f"fault: {fault}", 1, 1, 0, 0)


def test_the_invariants_can_fail(tmp_path: Path) -> None:
    # A session that never reached execution has no journal and no ledger: reported, not passed.
    (tmp_path / "sim").mkdir()
    verdict = check(tmp_path, "2024-06-28")
    assert not verdict.holds and verdict.lost_fills
