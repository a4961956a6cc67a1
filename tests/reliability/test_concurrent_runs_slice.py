"""The fast slice of the concurrent-run cases (every case runs in `make reliability`)."""

from pathlib import Path

import pytest

from reliability.concurrent_runs import QUICK, Case, run_case


@pytest.mark.parametrize("case", QUICK, ids=[c.name for c in QUICK])
def test_concurrent_runs_of_one_session_execute_once_and_lose_no_fill(tmp_path: Path, case: Case) -> None:
    result = run_case(tmp_path, case)
    assert result.exit_codes == [0] * case.runs, result.problems
    assert result.placing_runs == 1, result.problems
    assert result.problems == []
    assert result.verdict.duplicates == []
    assert result.verdict.lost_fills == []
    assert result.verdict.off_target == []
