"""Fault injection by rule: what the socket layer does instead of (or around) a normal answer.

A rule names the requests it applies to (``method`` - ``GET``/``POST``/``DELETE``/``PATCH``
or ``*`` - and ``path`` - an exact API path such as ``/v2/orders``, or a prefix ending in
``*`` such as ``/v2/orders*``; the query string is never part of the match), a ``kind``, and
how often: it lets the first ``skip`` matching requests through, then applies to the next
``times`` ones (``None``: every one after that); with ``probability`` p < 1 each of those
requests is hit with chance p, drawn from the rule's content and request count, so a replay
of the same requests meets the same faults. Kinds and their parameters:

* ``status`` - answer ``status`` (400-599) with an Alpaca error body ``{"code", "message"}``
  without handling the request. ``code`` defaults to ``status * 100000 + 10000`` (429 ->
  ``42910000``); a 429 also sends ``Retry-After: retry_after`` (default 1 s) and
  ``X-Ratelimit-Remaining: 0``.
* ``html`` - a gateway error page (``status`` 500-599, default 502), ``text/html``, unhandled.
* ``delay`` - sleep ``seconds`` (0-30) of real time, then go on (other rules may still apply
  to the same request: delays add up, capped at 30 s, before at most one other fault).
* ``drop`` - close the connection without a response, unhandled. With ``after_headers``
  it first sends a 200 status line and headers promising a body, and a fragment of it.
* ``commit_then_fail`` - handle the request normally (an order IS stored and committed),
  then answer a 504 (``then: "504"``, the default) or drop the connection (``then: "drop"``)
  instead of the real response: the case that proves idempotency.
* ``garbage`` - a 200 whose body is not JSON (``body`` to choose it), unhandled.

Rules live in the state database (table ``fault_rules``) with their ``seen`` / ``applied``
counters, so a rule added through one :class:`~.server.SimulatorServer` applies to the
requests another process serves from the same state dir, and ``times`` / ``skip`` count
across processes. The control plane (``/_sim/...``) is never faulted.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from decimal import Decimal
from http import HTTPStatus
from typing import Any

from alchemiser_dagster.broker.simulator.rules import MALFORMED, SimError

__all__ = ["FAULT_KINDS", "MAX_DELAY_SECONDS", "REWRITE_KINDS", "FaultBook", "FaultRule", "parse_fault"]

FAULT_KINDS = (
    "status", "html", "delay", "drop", "commit_then_fail", "garbage", "market_closed", "stale_quotes",
)  # fmt: skip
# Kinds that let the request through and alter its successful answer instead of replacing it.
REWRITE_KINDS = frozenset({"market_closed", "stale_quotes"})
FAULT_METHODS = ("GET", "POST", "DELETE", "PATCH", "*")
MAX_DELAY_SECONDS = 30.0
RATE_LIMITED = 42910000
_PARAMS: dict[str, tuple[str, ...]] = {
    "status": ("status", "code", "message", "retry_after"),
    "html": ("status",),
    "delay": ("seconds",),
    "drop": ("after_headers",),
    "commit_then_fail": ("then",),
    "garbage": ("body",),
    "market_closed": (),
    "stale_quotes": (),
}
_RULE_KEYS = ("method", "path", "kind", "times", "skip", "probability", "params")


def _bad(message: str) -> SimError:
    return SimError(422, MALFORMED, message)


def _int(value: object, name: str, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise _bad(f"{name} must be an integer between {lo} and {hi}, got {value!r}")
    return value


def _params(kind: str, raw: dict[str, Any]) -> dict[str, Any]:
    """Validated kind parameters with their defaults filled in."""
    unknown = sorted(set(raw) - set(_PARAMS[kind]))
    if unknown:
        raise _bad(f"unknown parameter(s) for a {kind!r} fault: {', '.join(unknown)}")
    out: dict[str, Any] = {}
    if kind == "status":
        status = _int(raw.get("status"), "status", 400, 599)
        out["status"] = status
        default_code = RATE_LIMITED if status == 429 else status * 100000 + 10000
        out["code"] = _int(raw.get("code", default_code), "code", 0, 2**31 - 1)
        message = raw.get("message", "rate limit exceeded" if status == 429 else HTTPStatus(status).phrase)
        if not isinstance(message, str):
            raise _bad("message must be a string")
        out["message"] = message.lower() if "message" not in raw else message
        if status == 429 or "retry_after" in raw:
            out["retry_after"] = _int(raw.get("retry_after", 1), "retry_after", 0, 3600)
    elif kind == "html":
        out["status"] = _int(raw.get("status", 502), "status", 500, 599)
    elif kind == "delay":
        seconds = raw.get("seconds")
        if isinstance(seconds, bool) or not isinstance(seconds, int | float | Decimal):
            raise _bad(f"a delay fault needs seconds (a number), got {seconds!r}")
        if not 0 <= seconds <= MAX_DELAY_SECONDS:
            raise _bad(f"delay seconds must be between 0 and {MAX_DELAY_SECONDS:g}, got {seconds}")
        out["seconds"] = seconds if isinstance(seconds, int) else float(seconds)
    elif kind == "drop":
        after_headers = raw.get("after_headers", False)
        if not isinstance(after_headers, bool):
            raise _bad("after_headers must be a boolean")
        out["after_headers"] = after_headers
    elif kind == "commit_then_fail":
        then = str(raw.get("then", "504"))
        if then not in ("504", "drop"):
            raise _bad(f'commit_then_fail needs then: "504" or "drop", got {raw.get("then")!r}')
        out["then"] = then
    elif kind == "garbage":
        body = raw.get("body", '{"id": "9f1c", "status": <<not json>>')
        if not isinstance(body, str):
            raise _bad("body must be a string")
        try:
            json.loads(body)
        except ValueError:
            pass
        else:
            raise _bad("a garbage body must not be valid JSON")
        out["body"] = body
    return out


@dataclass(frozen=True, slots=True)
class FaultRule:
    """One stored rule (``id`` is None before it is stored)."""

    method: str
    path: str
    kind: str
    params: dict[str, Any] = field(default_factory=dict)
    times: int | None = 1
    skip: int = 0
    id: int | None = None
    seen: int = 0
    applied: int = 0
    probability: float = 1.0

    def matches(self, method: str, path: str) -> bool:
        if self.method not in ("*", method.upper()):
            return False
        if self.path.endswith("*"):
            return path.startswith(self.path[:-1])
        return path == (self.path.rstrip("/") or "/")

    def exhausted(self) -> bool:
        return self.times is not None and self.applied >= self.times

    def draws(self, request_number: int) -> bool:
        """Whether the ``request_number``-th matching request is hit (always when p = 1)."""
        if self.probability >= 1:
            return True
        # Seeded by what the rule is, not its id (ids are never reused): the same rule added
        # again, on this state or another, hits the same requests.
        rule = [self.method, self.path, self.kind, self.params, self.skip, self.times]
        what = json.dumps(rule, sort_keys=True)
        digest = hashlib.sha256(f"{what}:{request_number}".encode()).digest()
        return int.from_bytes(digest[:8], "big") / 2**64 < self.probability

    def to_json(self) -> dict[str, Any]:
        """The control-plane shape: the rule's fields, its parameters flattened in, counters."""
        return {
            "id": self.id,
            "method": self.method,
            "path": self.path,
            "kind": self.kind,
            "times": self.times,
            "skip": self.skip,
            "probability": self.probability,
            **self.params,
            "seen": self.seen,
            "applied": self.applied,
        }


def parse_fault(body: object) -> FaultRule:
    """A rule from its JSON shape: ``{method, path, kind, times?, skip?, <kind parameters>}``.

    Kind parameters may also be nested under ``"params"``. Raises :class:`SimError` (422).
    """
    if not isinstance(body, dict):
        raise _bad("a fault rule must be a JSON object")
    method = str(body.get("method", "*")).upper()
    if method not in FAULT_METHODS:
        raise _bad(f"method must be one of {', '.join(FAULT_METHODS)}, got {body.get('method')!r}")
    path = body.get("path")
    if not isinstance(path, str) or not (path.startswith("/") or path == "*"):
        raise _bad(f'path must be an API path like "/v2/orders" or a prefix like "/v2/orders*", got {path!r}')
    if path.startswith("/_sim"):
        raise _bad("the control plane (/_sim) cannot be faulted")
    kind = body.get("kind")
    if kind not in FAULT_KINDS:
        raise _bad(f"kind must be one of {', '.join(FAULT_KINDS)}, got {kind!r}")
    raw_times = body.get("times", 1)
    times = None if raw_times is None else _int(raw_times, "times", 1, 10**9)
    skip = _int(body.get("skip", 0), "skip", 0, 10**9)
    probability = body.get("probability", 1)
    if isinstance(probability, bool) or not isinstance(probability, int | float) or not 0 < probability <= 1:
        raise _bad(f"probability must be a number in (0, 1], got {probability!r}")
    nested = body.get("params") or {}
    if not isinstance(nested, dict):
        raise _bad("params must be a JSON object")
    raw = {**nested, **{k: v for k, v in body.items() if k not in _RULE_KEYS}}
    return FaultRule(
        method, path, str(kind), _params(str(kind), raw), times, skip, probability=float(probability)
    )


def _from_row(row: sqlite3.Row) -> FaultRule:
    return FaultRule(
        method=row["method"],
        path=row["path"],
        kind=row["kind"],
        params=json.loads(row["params"]),
        times=row["times"],
        skip=row["skip"],
        id=row["id"],
        seen=row["seen"],
        applied=row["applied"],
        probability=row["probability"],
    )


class FaultBook:
    """The persisted fault rules of one state database, used under the engine's lock.

    ``transaction`` is the engine's (lock + IMMEDIATE transaction); ``conn`` its connection.
    """

    def __init__(
        self,
        conn: sqlite3.Connection,
        transaction: Callable[[], contextlib.AbstractContextManager[sqlite3.Connection]],
        lock: contextlib.AbstractContextManager[Any],
    ) -> None:
        self._conn = conn
        self._transaction = transaction
        self._lock = lock

    def _rules(self) -> list[FaultRule]:
        return [_from_row(r) for r in self._conn.execute("SELECT * FROM fault_rules ORDER BY id")]

    def rules(self) -> list[FaultRule]:
        with self._lock:
            return self._rules()

    def add(self, rule: FaultRule) -> FaultRule:
        with self._transaction() as conn:
            cur = conn.execute(
                "INSERT INTO fault_rules (method, path, kind, times, skip, params, probability) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    rule.method,
                    rule.path,
                    rule.kind,
                    rule.times,
                    rule.skip,
                    json.dumps(rule.params),
                    rule.probability,
                ),
            )
            return replace(rule, id=cur.lastrowid, seen=0, applied=0)

    def remove(self, rule_id: int) -> bool:
        with self._transaction() as conn:
            return conn.execute("DELETE FROM fault_rules WHERE id = ?", (rule_id,)).rowcount > 0

    def clear(self) -> int:
        with self._transaction() as conn:
            return conn.execute("DELETE FROM fault_rules").rowcount

    def take(self, method: str, path: str) -> list[FaultRule]:
        """Count one request against the matching rules; the rules that apply to it, in id order.

        Every matching rule not yet exhausted counts the request (``seen``); a rule applies
        when it has seen more than ``skip`` requests, applied fewer than ``times`` times and
        its probability draw for this request hits.
        Delays always apply; of the other kinds only the first applicable rule does (the
        rest wait for the next matching request: their ``applied`` does not move).
        """
        with self._lock:
            if not any(r.matches(method, path) and not r.exhausted() for r in self._rules()):
                return []  # the common case, without a write transaction
        chosen: list[FaultRule] = []
        with self._transaction() as conn:
            terminal = False
            for rule in self._rules():  # re-read inside the transaction: other processes count too
                if not rule.matches(method, path) or rule.exhausted():
                    continue
                eligible = rule.seen + 1 > rule.skip and rule.draws(rule.seen + 1)
                fire = eligible and (rule.kind == "delay" or not terminal)
                conn.execute(
                    "UPDATE fault_rules SET seen = seen + 1, applied = applied + ? WHERE id = ?",
                    (int(fire), rule.id),
                )
                if fire:
                    chosen.append(replace(rule, seen=rule.seen + 1, applied=rule.applied + 1))
                    terminal = terminal or rule.kind != "delay"
        return chosen
