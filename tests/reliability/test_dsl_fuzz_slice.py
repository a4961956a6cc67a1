"""The fast slice of the DSL parser fuzzer (100,000 inputs run in `make reliability`)."""

from __future__ import annotations

import pytest

from alchemiser_dagster.domain.errors import DslParseError, DslValidationError
from alchemiser_dagster.domain.strategy import compiler
from reliability.dsl_fuzz import (
    Corpus,
    as_python,
    check,
    fuzz,
    generate_input,
    load_corpus,
    location_problem,
    minimize,
)

SLICE_INPUTS = 3_000
SLICE_SEED = 0
MARKER = "\x00"  # one of the tokens the mutator inserts


@pytest.fixture(scope="module")
def corpus() -> Corpus:
    return load_corpus()


def test_slice_keeps_the_parser_invariant(corpus: Corpus) -> None:
    report = fuzz(SLICE_INPUTS, seed=SLICE_SEED, corpus=corpus)
    assert report.inputs == SLICE_INPUTS
    details = "\n".join(f"{c.exc_type}: {c.message}\n  in {as_python(c.excerpt)}" for c in report.crashes[:5])
    assert report.crashes == [], f"{len(report.crashes)} crashes, first:\n{details}"
    # The mutator exercises both paths: inputs that still parse and inputs that fail typed.
    assert report.parsed_ok >= SLICE_INPUTS // 20
    assert report.typed_errors >= SLICE_INPUTS // 2
    assert report.row() == f"dsl fuzz | {SLICE_INPUTS} | {SLICE_INPUTS} | 0"


def test_inputs_are_reproducible(corpus: Corpus) -> None:
    first = [generate_input(corpus, 7, i) for i in range(50)]
    assert first == [generate_input(corpus, 7, i) for i in range(50)]
    assert first != [generate_input(corpus, 8, i) for i in range(50)]


def test_the_fuzzer_detects_a_crash(corpus: Corpus, monkeypatch: pytest.MonkeyPatch) -> None:
    real = compiler.parse_symphony

    def broken(text: str, source: str = "<string>") -> object:
        if MARKER in text:
            raise IndexError("planted: tuple index out of range")
        return real(text, source=source)

    monkeypatch.setattr(compiler, "parse_symphony", broken)
    n = 1_500
    expected = sum(MARKER in generate_input(corpus, SLICE_SEED, i) for i in range(n))
    assert expected > 0, "the mutator never inserted the marker; pick another"

    report = fuzz(n, seed=SLICE_SEED, corpus=corpus)

    assert len(report.crashes) == expected
    assert {(c.exc_type, c.message) for c in report.crashes} == {
        ("IndexError", "planted: tuple index out of range")
    }
    assert report.survived == n - expected
    ((signature, sample),) = report.samples.items()
    assert signature.startswith("IndexError at test_dsl_fuzz_slice.py:")
    assert MARKER in sample.text and "planted" in sample.traceback
    # and the minimiser shrinks it to the marker alone
    assert minimize(sample.text, lambda t: isinstance(check(t)[1], IndexError)) == MARKER


@pytest.mark.parametrize(
    ("text", "line", "column", "problem"),
    [
        ("(a)", 1, 2, None),
        ("(a)\n", 2, 1, None),  # the end of the text
        ("(a)", 0, 1, "not 1-based"),
        ("(a)", 1, 0, "not 1-based"),
        ("(a)\n(b)", 4, 1, "past the end of a text"),
        ("(a)\n(b)", 2, 9, "past the end of line 2"),
    ],
)
def test_the_location_check(text: str, line: int, column: int, problem: str | None) -> None:
    error = DslParseError("boom", source="fuzz.clj", line=line, column=column)
    found = location_problem(text, error)
    assert (found is None) if problem is None else (found is not None and problem in found)


def test_a_typed_error_with_a_bad_location_is_a_crash(monkeypatch: pytest.MonkeyPatch) -> None:
    def misplaced(text: str, source: str = "<string>") -> object:
        raise DslValidationError("somewhere", source=source, line=99, column=1)

    monkeypatch.setattr(compiler, "parse_symphony", misplaced)
    parsed, crash = check('(defsymphony "x" {} (asset "SPY"))')
    assert not parsed and crash is not None and "line 99" in str(crash)


def test_known_crash_enormous_integer_literal() -> None:
    text = '(defsymphony "" {} (if (< (rsi "" {:window ' + "1" * 4301 + "}) 1) [] []))"
    _, crash = check(text)
    assert crash is None, f"{type(crash).__name__}: {crash}"
