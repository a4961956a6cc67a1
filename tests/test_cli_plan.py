"""`alchemiser plan` end to end: a real process, its stdout, stderr and exit code.

A valid snapshot gives exactly the plan of the domain function `plan_rebalance`; every bad
input exits 2 with one line on stderr naming the field and nothing on stdout. A snapshot whose
equity is not cash + the positions' market value is refused by the daily graph's own rule.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import given, settings

from alchemiser_dagster.cli.plan import plan as plan_command
from alchemiser_dagster.domain.portfolio.models import PlanningSettings, RebalancePlan
from alchemiser_dagster.domain.portfolio.planner import (
    AssetInput,
    PlannerInput,
    QuoteInput,
    plan_rebalance,
    price_of,
)
from alchemiser_dagster.domain.portfolio.snapshot import equity_mismatch
from tests.conftest import ROOT
from tests.domain.portfolio.test_planner_properties import Case, cases

D = Decimal
PROGRAM = "from alchemiser_dagster.cli.plan import main; main()"

SNAPSHOT: dict[str, Any] = {
    "equity": "50000.00",
    # equity = cash + positions at the planner's prices: 25422.18 + 11000 + 13545 + 32.825
    "cash": "25422.18",
    "buying_power": "24000.00",
    "positions": {"SPY": "20", "TLT": "150.5", "OLD": "3.25"},
    "quotes": {
        "SPY": {"bid": "549.98", "ask": "550.02", "last": "549.90"},
        "TLT": {"bid": "89.99", "ask": "90.01"},
        "OLD": {"bid": None, "ask": "10.20", "last": "10.10"},
        "BITX": {"last": "45.30"},
        "EXC": {"bid": "38.45", "ask": "38.40", "last": "38.42"},
    },
    "assets": {
        "SPY": {"tradable": True, "fractionable": True},
        "TLT": {"tradable": True, "fractionable": True},
        "OLD": {"tradable": False, "fractionable": True},
        "BITX": {"tradable": True, "fractionable": False},
        "EXC": {"tradable": True, "fractionable": True},
    },
}
TARGETS: dict[str, Any] = {"SPY": "0.5", "TLT": "0.2", "BITX": "0.1", "EXC": "0.2"}


def run(*args: str | Path, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", PROGRAM, *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        check=False,
        timeout=120,
    )


def write(path: Path, document: Any) -> Path:
    path.write_text(document if isinstance(document, str) else json.dumps(document), encoding="utf-8")
    return path


def domain_plan(
    snapshot: dict[str, Any], targets: dict[str, Any], settings: PlanningSettings, session: dt.date
) -> RebalancePlan:
    """The plan the asset would make from the same documents, built without the CLI's parser."""
    inputs = PlannerInput(
        equity=D(snapshot["equity"]),
        cash=D(snapshot["cash"]),
        buying_power=D(snapshot["buying_power"]),
        positions={s: D(q) for s, q in snapshot["positions"].items()},
        quotes={
            s: QuoteInput(**{k: None if v is None else D(v) for k, v in q.items()})
            for s, q in snapshot["quotes"].items()
        },
        assets={s: AssetInput(**a) for s, a in snapshot["assets"].items()},
    )
    weights = {s: D(str(w)) for s, w in targets.items()}
    return plan_rebalance(inputs, weights, settings, session=session, account_number="cli")


def as_document(plan: RebalancePlan) -> dict[str, Any]:
    return {
        "items": [
            {
                "symbol": i.symbol,
                "side": i.side,
                "qty": str(i.qty),
                "est_price": str(i.est_price),
                "est_value": str(i.est_value),
                "reason": i.reason,
            }
            for i in plan.items
        ],
        "skipped": [{"symbol": s.symbol, "reason": s.reason} for s in plan.skipped],
        "turnover": str(plan.turnover),
    }


# --- valid input ----------------------------------------------------------------------------------


def test_valid_snapshot_gives_the_plan_of_the_domain_function(tmp_path: Path) -> None:
    before = dt.date.today()
    result = run(
        "--snapshot",
        write(tmp_path / "snapshot.json", SNAPSHOT),
        "--targets",
        write(tmp_path / "targets.json", TARGETS),
        "--format",
        "json",
    )
    after = dt.date.today()
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    output = json.loads(result.stdout)
    expected = domain_plan(SNAPSHOT, TARGETS, PlanningSettings(), before)
    assert {k: output[k] for k in ("items", "skipped", "turnover")} == as_document(expected)
    # The plan id is the domain's (session = today, account "cli").
    assert output["plan_id"] in {
        expected.plan_id,
        domain_plan(SNAPSHOT, TARGETS, PlanningSettings(), after).plan_id,
    }
    # Exit, reduce, increase and new orders all came through, as strings.
    assert [(i["symbol"], i["side"], i["reason"]) for i in output["items"]] == [
        ("TLT", "sell", "reduce"),
        ("OLD", "sell", "exit"),
        ("SPY", "buy", "increase"),
        ("EXC", "buy", "new"),
        ("BITX", "buy", "new"),
    ]
    bitx = next(i for i in output["items"] if i["symbol"] == "BITX")
    assert bitx["qty"].isdigit()  # not fractionable: whole shares
    exit_old = next(i for i in output["items"] if i["symbol"] == "OLD")
    assert exit_old == {
        "symbol": "OLD",
        "side": "sell",
        "qty": "3.25",
        "est_price": "10.10",  # no bid -> the last trade
        "est_value": "32.8250",
        "reason": "exit",
    }


def test_table_format_shows_each_order_of_the_domain_plan_for_people(tmp_path: Path) -> None:
    snapshot, targets = write(tmp_path / "snapshot.json", SNAPSHOT), write(tmp_path / "targets.json", TARGETS)
    result = run("--snapshot", snapshot, "--targets", targets, "--format", "table")
    assert result.returncode == 0, result.stderr
    expected = domain_plan(SNAPSHOT, TARGETS, PlanningSettings(), dt.date.today())
    header, columns, *rows = result.stdout.splitlines()
    assert header.endswith(f": 5 items, turnover ${expected.turnover:,.2f}")
    assert columns.split() == ["side", "symbol", "qty", "est", "price", "est", "value", "reason"]
    assert [row.split() for row in rows] == [
        [i.side, i.symbol, str(i.qty), str(i.est_price), f"{i.est_value:,.2f}", i.reason]
        for i in expected.items
    ]
    assert rows[1].split() == ["sell", "OLD", "3.25", "10.10", "32.82", "exit"]
    # Aligned columns: every reason starts at the same place.
    assert len({len(row.split(i.reason)[0]) for row, i in zip(rows, expected.items, strict=True)}) == 1
    # json stays the default.
    default = run("--snapshot", snapshot, "--targets", targets)
    assert json.loads(default.stdout)["turnover"] == str(expected.turnover)


def test_settings_file_and_numeric_weights_are_read_without_float_rounding(tmp_path: Path) -> None:
    # As floats 0.1 + 0.2 + 0.7 != 1 exactly and 1/12-style weights would pick up float noise;
    # the CLI reads JSON numbers as Decimal, so the plan equals the domain's on the exact weights.
    targets_text = '{"SPY": 0.1, "TLT": 0.2, "BITX": 0.0833333333, "EXC": 0.0833333333, "OLD": 0.5333333334}'
    settings = {"cash_reserve_pct": "0.02", "min_trade_usd": 50, "drift_band": "0.001"}
    result = run(
        "--snapshot",
        write(tmp_path / "snapshot.json", SNAPSHOT),
        "--targets",
        write(tmp_path / "targets.json", targets_text),
        "--settings",
        write(tmp_path / "settings.json", settings),
    )
    assert result.returncode == 0, result.stderr
    output = json.loads(result.stdout)
    expected = domain_plan(
        SNAPSHOT,
        json.loads(targets_text, parse_float=D),
        PlanningSettings(cash_reserve_pct=D("0.02"), min_trade_usd=D(50), drift_band=D("0.001")),
        dt.date.today(),
    )
    assert {k: output[k] for k in ("items", "skipped", "turnover")} == as_document(expected)
    assert {i.target_weight for i in expected.items} >= {D("0.0833333333")}


def test_a_settings_file_changes_the_plan(tmp_path: Path) -> None:
    snapshot = write(tmp_path / "snapshot.json", SNAPSHOT)
    targets = write(tmp_path / "targets.json", TARGETS)
    default = json.loads(run("--snapshot", snapshot, "--targets", targets).stdout)
    banded = run(
        "--snapshot",
        snapshot,
        "--targets",
        targets,
        "--settings",
        write(tmp_path / "s.json", {"min_trade_usd": "1000000"}),
    )
    assert banded.returncode == 0, banded.stderr
    output = json.loads(banded.stdout)
    # Only the exit survives a $1,000,000 minimum trade: exits are never suppressed.
    assert [(i["symbol"], i["reason"]) for i in output["items"]] == [("OLD", "exit")]
    assert output["plan_id"] != default["plan_id"]


# --- bad input ------------------------------------------------------------------------------------


def edit(path: str, value: Any) -> dict[str, Any]:
    """SNAPSHOT with the field at dotted `path` set to `value` (or removed when value is DELETE)."""
    snapshot = copy.deepcopy(SNAPSHOT)
    *parents, last = path.split(".")
    node = snapshot
    for key in parents:
        node = node[key]
    if value is DELETE:
        del node[last]
    else:
        node[last] = value
    return snapshot


DELETE = object()

BAD_SNAPSHOTS: list[tuple[str, Any, str]] = [
    ("not_a_decimal", edit("positions.SPY", "abc"), "positions.SPY: not a decimal: 'abc'"),
    ("bool_is_not_a_decimal", edit("cash", True), "cash: not a decimal"),
    ("number_words", edit("buying_power", "1,000"), "buying_power: not a decimal: '1,000'"),
    ("nan_string", edit("equity", "NaN"), "equity: not a finite number: 'NaN'"),
    ("infinity_string", edit("quotes.SPY.bid", "Infinity"), "quotes.SPY.bid: not a finite number"),
    ("minus_inf_string", edit("quotes.TLT.ask", "-inf"), "quotes.TLT.ask: not a finite number"),
    ("snan_string", edit("positions.TLT", "sNaN"), "positions.TLT: not a finite number"),
    ("equity_zero", edit("equity", "0"), "equity: must be > 0"),
    ("equity_negative", edit("equity", "-10"), "equity: must be > 0"),
    ("negative_quantity", edit("positions.SPY", "-1"), "positions.SPY: quantity must be >= 0"),
    ("missing_quote", edit("quotes.EXC", DELETE), "quotes.EXC: missing quote"),
    ("missing_quote_of_held", edit("quotes.OLD", DELETE), "quotes.OLD: missing quote"),
    (
        "missing_price",
        edit("quotes.BITX", {"bid": "0", "ask": "45", "last": None}),
        "quotes.BITX: no usable price",
    ),
    ("missing_field", edit("buying_power", DELETE), "buying_power: missing field"),
    ("missing_positions", edit("positions", DELETE), "positions: missing field"),
    ("unknown_field", edit("margin", "1"), "margin: unknown field"),
    ("missing_asset_entry", edit("assets.EXC", DELETE), "assets.EXC: missing asset entry"),
    (
        "missing_asset_field",
        edit("assets.SPY.fractionable", DELETE),
        "assets.SPY.fractionable: missing field",
    ),
    ("asset_flag_not_bool", edit("assets.SPY.tradable", "yes"), "assets.SPY.tradable: must be true or false"),
    ("quote_not_object", edit("quotes.SPY", "550"), "quotes.SPY: must be a JSON object"),
    ("snapshot_not_object", ["equity", "1"], "snapshot: must be a JSON object"),
    ("out_of_decimal_range", {**edit("equity", "1e40"), "cash": "1e40"}, "snapshot: numbers out of range"),
]


@pytest.mark.parametrize(
    ("snapshot", "message"), [c[1:] for c in BAD_SNAPSHOTS], ids=[c[0] for c in BAD_SNAPSHOTS]
)
def test_bad_snapshot_exits_2_naming_the_field(tmp_path: Path, snapshot: Any, message: str) -> None:
    result = run(
        "--snapshot",
        write(tmp_path / "snapshot.json", snapshot),
        "--targets",
        write(tmp_path / "targets.json", TARGETS),
    )
    assert_bad_input(result, message)


@pytest.mark.parametrize(
    ("changes", "numbers"),
    [
        # The audit's account: a million of equity over $100 of cash and nothing held.
        (
            {"equity": "1000000.00", "cash": "100.00", "positions": {}},
            "equity 1000000.00 is not cash 100.00 + positions' market value 0 = 100.00 (off by 999900.00",
        ),
        # Less cash than the equity says: $251 off, over the $250 tolerance.
        (
            {"cash": "25171.18"},
            "equity 50000.00 is not cash 25171.18 + positions' market value 24577.8250 = 49749.0050"
            " (off by 250.9950, tolerance 250.00000",
        ),
        # A stale equity read: $252 above what the account holds.
        (
            {"equity": "50252.30"},
            "equity 50252.30 is not cash 25422.18 + positions' market value 24577.8250 = 50000.0050"
            " (off by 252.2950, tolerance 251.26150",
        ),
    ],
    ids=["no_positions_behind_the_equity", "equity_above_holdings", "stale_equity"],
)
def test_equity_that_is_not_cash_plus_positions_exits_2(
    tmp_path: Path, changes: dict[str, Any], numbers: str
) -> None:
    snapshot_file = write(tmp_path / "snapshot.json", {**SNAPSHOT, **changes})
    result = run("--snapshot", snapshot_file, "--targets", write(tmp_path / "targets.json", TARGETS))
    assert_bad_input(result, f"snapshot: {snapshot_file}: {numbers}")
    assert "the snapshot is inconsistent" in result.stderr


def test_equity_within_the_tolerance_is_planned(tmp_path: Path) -> None:
    # 0.5 % of equity apart (two reads a moment apart): planned as usual.
    result = run(
        "--snapshot",
        write(tmp_path / "snapshot.json", {**SNAPSHOT, "equity": "50250.00"}),
        "--targets",
        write(tmp_path / "targets.json", TARGETS),
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["items"]


BAD_TARGETS: list[tuple[str, Any, str]] = [
    ("sum_below_one", {"SPY": "0.5", "TLT": "0.4"}, "targets: weights sum to 0.9, not 1"),
    ("sum_above_one", {"SPY": 0.6, "TLT": 0.6}, "targets: weights sum to 1.2, not 1"),
    ("sum_off_by_2e-6", {"SPY": "0.5", "TLT": "0.499998"}, "targets: weights sum to 0.999998, not 1"),
    ("empty", {}, "targets: weights sum to 0, not 1"),
    ("negative", {"TLT": "-0.5", "SPY": "1.5"}, "targets.TLT: weight must be >= 0"),
    ("above_one", {"SPY": "1.5", "TLT": "-0.5"}, "targets.SPY: weight must be <= 1"),
    ("nan", {"SPY": "NaN", "TLT": "1"}, "targets.SPY: not a finite number: 'NaN'"),
    ("infinity", {"SPY": "Infinity"}, "targets.SPY: not a finite number"),
    ("not_a_decimal", {"SPY": "half", "TLT": "0.5"}, "targets.SPY: not a decimal: 'half'"),
    ("null_weight", {"SPY": None, "TLT": "1"}, "targets.SPY: not a decimal"),
    ("missing_quote", {"SPY": "0.5", "QQQ": "0.5"}, "quotes.QQQ: missing quote"),
    ("not_object", ["SPY"], "targets: must be a JSON object"),
]


@pytest.mark.parametrize(
    ("targets", "message"), [c[1:] for c in BAD_TARGETS], ids=[c[0] for c in BAD_TARGETS]
)
def test_bad_targets_exit_2_naming_the_field(tmp_path: Path, targets: Any, message: str) -> None:
    result = run(
        "--snapshot",
        write(tmp_path / "snapshot.json", SNAPSHOT),
        "--targets",
        write(tmp_path / "targets.json", targets),
    )
    assert_bad_input(result, message)


BAD_SETTINGS: list[tuple[str, Any, str]] = [
    ("unknown", {"max_order_usd": "5"}, "settings.max_order_usd: unknown field"),
    ("reserve_too_big", {"cash_reserve_pct": "1.5"}, "settings.cash_reserve_pct:"),
    ("negative_min_trade", {"min_trade_usd": "-1"}, "settings.min_trade_usd:"),
    ("nan_band", {"drift_band": "NaN"}, "settings.drift_band: not a finite number"),
]


@pytest.mark.parametrize(
    ("settings", "message"), [c[1:] for c in BAD_SETTINGS], ids=[c[0] for c in BAD_SETTINGS]
)
def test_bad_settings_exit_2_naming_the_field(tmp_path: Path, settings: Any, message: str) -> None:
    result = run(
        "--snapshot",
        write(tmp_path / "snapshot.json", SNAPSHOT),
        "--targets",
        write(tmp_path / "targets.json", TARGETS),
        "--settings",
        write(tmp_path / "settings.json", settings),
    )
    assert_bad_input(result, message)


@pytest.mark.parametrize(
    ("role", "text"),
    [
        ("snapshot", "equity: 1\n"),
        ("targets", '{"SPY": 1,}'),
        ("settings", ""),
        ("snapshot", '{"equity": NaN}'),  # bare NaN / Infinity are not JSON
        ("targets", '{"SPY": Infinity}'),
        ("targets", '{"SPY": "0.5", "SPY": "0.5"}'),  # a duplicate key is ambiguous
    ],
)
def test_a_file_that_is_not_json_exits_2_naming_the_file(tmp_path: Path, role: str, text: str) -> None:
    files = {
        "snapshot": write(tmp_path / "snapshot.json", SNAPSHOT),
        "targets": write(tmp_path / "targets.json", TARGETS),
        "settings": write(tmp_path / "settings.json", {}),
    }
    bad = write(tmp_path / f"bad-{role}.json", text)
    files[role] = bad
    result = run(*(arg for name, path in files.items() for arg in (f"--{name}", path)))
    assert_bad_input(result, f"{role}: {bad}: not valid JSON")


def test_a_file_that_is_not_utf8_exits_2(tmp_path: Path) -> None:
    bad = tmp_path / "latin1.json"
    bad.write_bytes('{"SPY": "1", "caf\xe9": "0"}'.encode("latin-1"))
    result = run("--snapshot", write(tmp_path / "s.json", SNAPSHOT), "--targets", bad)
    assert_bad_input(result, f"targets: {bad}: not UTF-8")


@pytest.mark.parametrize("role", ["snapshot", "targets", "settings"])
def test_a_missing_file_exits_2_and_says_so(tmp_path: Path, role: str) -> None:
    files = {
        "snapshot": write(tmp_path / "snapshot.json", SNAPSHOT),
        "targets": write(tmp_path / "targets.json", TARGETS),
        "settings": write(tmp_path / "settings.json", {}),
    }
    files[role] = tmp_path / "absent.json"
    result = run(*(arg for name, path in files.items() for arg in (f"--{name}", path)))
    assert_bad_input(result, f"{role}: file not found: {tmp_path / 'absent.json'}")


@pytest.mark.parametrize(
    "args",
    [
        ["--targets", "t.json"],  # --snapshot missing
        ["--snapshot", "s.json"],  # --targets missing
        ["--snapshot", "s.json", "--targets", "t.json", "--format", "csv"],  # not a format
        ["--snapshot", "s.json", "--targets", "t.json", "--bogus"],
    ],
)
def test_usage_errors_exit_2_with_empty_stdout(tmp_path: Path, args: list[str]) -> None:
    write(tmp_path / "s.json", SNAPSHOT)
    write(tmp_path / "t.json", TARGETS)
    result = run(*args, cwd=tmp_path)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert result.stdout == ""
    assert "Usage:" in result.stderr


def assert_bad_input(result: subprocess.CompletedProcess[str], message: str) -> None:
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert message in lines[0], lines[0]
    assert "Traceback" not in result.stderr


# --- the command inside a click group (as `alchemiser plan`) ---------------------------------------


def test_command_keeps_exit_2_when_invoked_by_click(tmp_path: Path) -> None:
    """ctx.exit(2) rather than an exception: the code survives registration in another group."""
    runner = CliRunner()
    bad = runner.invoke(
        plan_command,
        [
            "--snapshot",
            str(write(tmp_path / "s.json", edit("equity", "0"))),
            "--targets",
            str(write(tmp_path / "t.json", TARGETS)),
        ],
    )
    assert bad.exit_code == 2
    assert bad.stdout == ""
    assert bad.stderr.startswith("error: equity: must be > 0")
    good = runner.invoke(
        plan_command,
        [
            "--snapshot",
            str(write(tmp_path / "s.json", SNAPSHOT)),
            "--targets",
            str(tmp_path / "t.json"),
        ],
    )
    assert good.exit_code == 0, good.stderr
    assert json.loads(good.stdout)["items"]


def case_documents(case: Case) -> tuple[dict[str, Any], dict[str, str], dict[str, str]]:
    """A random planner case written as the CLI's three JSON documents (decimals as strings)."""
    inputs = case.inputs
    snapshot = {
        "equity": str(inputs.equity),
        "cash": str(inputs.cash),
        "buying_power": str(inputs.buying_power),
        "positions": {s: str(q) for s, q in inputs.positions.items()},
        "quotes": {
            s: {k: None if v is None else str(v) for k, v in q.model_dump().items()}
            for s, q in inputs.quotes.items()
        },
        "assets": {s: a.model_dump() for s, a in inputs.assets.items()},
    }
    targets = {s: str(w) for s, w in case.targets.items()}
    planning = {k: str(v) for k, v in case.settings.model_dump().items()}
    return snapshot, targets, planning


@settings(max_examples=100, deadline=None)
@given(cases())
def test_random_accounts_give_the_domain_plan_through_the_cli(case: Case) -> None:
    """The domain's plan when equity is cash + positions (the rule's own verdict), else exit 2."""
    snapshot, targets, planning = case_documents(case)
    inputs = case.inputs
    held = sum((q * price_of(s, inputs.quotes[s]) for s, q in inputs.positions.items() if q > 0), D(0))
    mismatch = equity_mismatch(inputs.equity, inputs.cash, held)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        result = CliRunner().invoke(
            plan_command,
            [
                "--snapshot",
                str(write(folder / "s.json", snapshot)),
                "--targets",
                str(write(folder / "t.json", targets)),
                "--settings",
                str(write(folder / "p.json", planning)),
            ],
        )
    if mismatch is not None:
        assert result.exit_code == 2
        assert result.stdout == ""
        assert mismatch in result.stderr
        return
    assert result.exit_code == 0, result.stderr
    expected = plan_rebalance(
        case.inputs, case.targets, case.settings, session=dt.date.today(), account_number="cli"
    )
    output = json.loads(result.stdout)
    assert {k: output[k] for k in ("items", "skipped", "turnover")} == as_document(expected)
