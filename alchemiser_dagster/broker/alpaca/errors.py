"""Every failure of an SDK call, translated into the broker errors of `domain/errors.py`.

``APIError.code``/``.message`` run ``json.loads`` on the body and raise
``KeyError``/``JSONDecodeError`` for bodies without ``code`` or HTML bodies; we never
touch them and parse the body ourselves.

Mapping (`map_api_error`): 401, or 403 without a business code -> `BrokerAuthError`;
404 -> `BrokerNotFound`; 429 -> `RateLimited` (``Retry-After`` / ``X-Ratelimit-Reset``);
408 and 5xx -> `BrokerUnavailable`; 422 ``40010001`` "client_order_id must be unique" on
a submit -> `DuplicateClientOrderId` (the order exists: look it up and adopt it); other
4xx -> `OrderRejected` for order calls (submit, cancel), plain `BrokerError` for reads.
Timeouts, refused or dropped connections and truncated or undecodable bodies ->
`BrokerUnavailable`. For a submit every outcome in which the order may have been stored
(timeout, dropped connection, 408, 5xx, an answer we cannot read) is `AmbiguousSubmit`
carrying the ``client_order_id``. Messages pass through ``scrub`` so no key appears.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import json
import math
import time
from collections.abc import Callable, Mapping
from typing import Final, TypeVar

import requests
from alpaca.common.exceptions import APIError

from alchemiser_dagster.domain.errors import (
    AmbiguousSubmit,
    BrokerAuthError,
    BrokerError,
    BrokerNotFound,
    BrokerUnavailable,
    DuplicateClientOrderId,
    OrderRejected,
    RateLimited,
)

#: Alpaca's code for a malformed request; with this text it means the client id is taken.
MALFORMED_CODE: Final = 40010001
DUPLICATE_ID_TEXT: Final = "client_order_id must be unique"
#: Characters of an error body quoted in an exception message.
BODY_EXCERPT_CHARS: Final = 200

_T = TypeVar("_T")

# requests failures meaning "no usable answer arrived": the request may or may not have
# reached the server. ConnectTimeout/ReadTimeout are Timeout, refused/reset/dropped
# connections (incl. SSL and proxy errors) are ConnectionError, a body cut short is
# ChunkedEncodingError/ContentDecodingError, a 2xx body that is not JSON is InvalidJSONError.
NO_ANSWER: Final = (
    requests.exceptions.Timeout,
    requests.exceptions.ConnectionError,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
    requests.exceptions.InvalidJSONError,
)
# What the SDK raises when a 2xx answer does not fit its models: pydantic's
# ValidationError (a ValueError), ValueError from `_get_marketdata_entries`, TypeError for
# `Model(**None)` on an empty body, KeyError/AttributeError for a list where a dict was due.
BAD_ANSWER: Final = (ValueError, TypeError, KeyError, AttributeError)


def excerpt(text: str, limit: int = BODY_EXCERPT_CHARS) -> str:
    """The text on one line, cut to ``limit`` characters for a message."""
    flat = " ".join(text.split())
    if not flat:
        return "<empty body>"
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def error_body(text: str) -> tuple[int | None, str | None]:
    """Alpaca's ``{"code": int, "message": str}``, tolerating any other body."""
    try:
        data = json.loads(text)
    except ValueError:
        return None, None
    if not isinstance(data, dict):
        return None, None
    raw_code = data.get("code")
    code: int | None = None
    if isinstance(raw_code, int) and not isinstance(raw_code, bool):
        code = raw_code
    elif isinstance(raw_code, str) and raw_code.strip().isdigit():
        code = int(raw_code)
    message = data.get("message")
    return code, message if isinstance(message, str) else None


def is_duplicate_id(code: int | None, text: str | None) -> bool:
    """Alpaca's 40010001 covers every malformed field; only this message means a taken id."""
    return code == MALFORMED_CODE and text is not None and DUPLICATE_ID_TEXT in text.lower()


def _seconds(value: str) -> float | None:
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait from ``Retry-After`` (seconds or HTTP date) or ``X-Ratelimit-Reset``."""
    now = time.time()
    header = headers.get("Retry-After")
    if header:
        seconds = _seconds(header)
        if seconds is not None:
            return max(0.0, seconds)
        try:
            when = email.utils.parsedate_to_datetime(header)
        except (TypeError, ValueError, IndexError):
            when = None
        if when is not None:
            if when.tzinfo is None:
                when = when.replace(tzinfo=dt.UTC)
            return max(0.0, when.timestamp() - now)
    reset = headers.get("X-Ratelimit-Reset")
    if reset:
        seconds = _seconds(reset)
        if seconds is not None:
            # Alpaca sends the Unix time at which the window resets; small values are deltas.
            return max(0.0, seconds - now) if seconds > 1e9 else max(0.0, seconds)
    return None


def translated(
    what: str,
    call: Callable[[], _T],
    *,
    scrub: Callable[[str], str],
    order_call: bool = False,
    submit_id: str | None = None,
) -> _T:
    """Run one SDK call and translate whatever it raises into a `BrokerError`.

    ``order_call``: 4xx business rejects become `OrderRejected` (else plain
    `BrokerError`). ``submit_id``: the call submits that order, so every outcome in
    which it may have been stored becomes `AmbiguousSubmit`.
    """
    try:
        return call()
    except APIError as err:
        raise map_api_error(what, err, scrub=scrub, order_call=order_call, submit_id=submit_id) from err
    except NO_ANSWER as err:
        message = scrub(f"{what}: no usable answer from Alpaca ({type(err).__name__}: {excerpt(str(err))})")
        if submit_id is not None:
            raise AmbiguousSubmit(message, client_order_id=submit_id) from err
        raise BrokerUnavailable(message) from err
    except requests.exceptions.RequestException as err:
        # Raised before anything was sent (bad URL, schema, header): a setup problem.
        raise BrokerError(
            scrub(f"{what}: request not sent ({type(err).__name__}: {excerpt(str(err))})")
        ) from err
    except BAD_ANSWER as err:
        message = scrub(f"{what}: unexpected answer from Alpaca ({type(err).__name__}: {excerpt(str(err))})")
        if submit_id is not None:
            raise AmbiguousSubmit(message, client_order_id=submit_id) from err
        raise BrokerError(message) from err


def map_api_error(
    what: str, err: APIError, *, scrub: Callable[[str], str], order_call: bool, submit_id: str | None
) -> BrokerError:
    """The broker error for an HTTP error answer (see the module docstring for the table)."""
    response = err.response
    status: int | None = response.status_code if response is not None else None
    body = err.args[0] if err.args and isinstance(err.args[0], str) else ""
    code, text = error_body(body)
    detail = f"HTTP {status}" + (f" code {code}" if code is not None else "")
    message = scrub(f"{what}: Alpaca answered {detail}: {excerpt(text if text else body)}")
    if status == 401 or (status == 403 and code is None):
        return BrokerAuthError(message, status=status, code=code)
    if status == 404:
        return BrokerNotFound(message, status=status, code=code)
    if status == 429:
        headers: Mapping[str, str] = response.headers if response is not None else {}
        return RateLimited(message, retry_after=retry_after(headers), status=status, code=code)
    if status is None or status == 408 or status >= 500:
        if submit_id is not None:
            return AmbiguousSubmit(message, client_order_id=submit_id, status=status)
        return BrokerUnavailable(message, status=status, code=code)
    if submit_id is not None and status == 422 and is_duplicate_id(code, text):
        return DuplicateClientOrderId(message, client_order_id=submit_id, status=status, code=code)
    if order_call and 400 <= status < 500:
        return OrderRejected(message, status=status, code=code)
    return BrokerError(message, status=status, code=code)
