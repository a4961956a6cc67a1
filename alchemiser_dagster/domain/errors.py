"""One narrow exception tree for the whole product.

Every class says whether retrying the same call can help (``retryable``), so the
edges that retry (broker adapter, Dagster retry policies) never have to guess.
Errors carry their facts as attributes, not only in the message, so callers and
alerts can report them without parsing text.
"""

from __future__ import annotations

import datetime as dt
from typing import ClassVar


class AlchemiserError(Exception):
    """Root of every error this project raises on purpose."""

    retryable: ClassVar[bool] = False


# --- strategies ---------------------------------------------------------------------------


class StrategyError(AlchemiserError):
    """A symphony cannot be loaded or evaluated.

    ``source`` is the file name, ``line``/``column`` (1-based, code points) point at the
    opening bracket of the offending form; for a score-JSON symphony ``path`` is the JSON
    path of the offending object (``$.children[0].children[2]``) and takes their place.
    ``format_location`` renders the ``FILE:LINE:COL`` (or ``FILE:$.PATH``) prefix the CLI
    prints.
    """

    def __init__(
        self,
        message: str,
        *,
        source: str = "<string>",
        line: int = 0,
        column: int = 0,
        path: str | None = None,
    ) -> None:
        self.message = message
        self.source = source
        self.line = line
        self.column = column
        self.path = path
        super().__init__(self.render())

    def format_location(self) -> str:
        if self.path is not None:
            return f"{self.source}:{self.path}"
        return f"{self.source}:{self.line}:{self.column}"

    def render(self) -> str:
        return f"{self.format_location()}: {self.error_name()}: {self.message}"

    @classmethod
    def error_name(cls) -> str:
        """The class name the strategy spec uses (ParseError, ValidationError, ...)."""
        return cls.spec_name or cls.__name__

    spec_name: ClassVar[str | None] = None


class DslParseError(StrategyError):
    """The text is not a well-formed s-expression (brackets, strings, stray characters)."""

    spec_name = "ParseError"


class DslValidationError(StrategyError):
    """Well-formed text that is not a valid symphony (unknown operator, arity, literal)."""

    spec_name = "ValidationError"


class StrategyDataError(StrategyError):
    """Evaluation needed market data that is absent or unusable for a session.

    Carries the session, symbol, indicator and window so an operator can see exactly
    which input failed.
    """

    def __init__(
        self,
        message: str,
        *,
        source: str = "<string>",
        line: int = 0,
        column: int = 0,
        path: str | None = None,
        session: dt.date | None = None,
        symbol: str | None = None,
        indicator: str | None = None,
        window: int | None = None,
    ) -> None:
        self.session = session
        self.symbol = symbol
        self.indicator = indicator
        self.window = window
        super().__init__(message, source=source, line=line, column=column, path=path)

    def render(self) -> str:
        facts = [
            f"{name}={value}"
            for name, value in (
                ("session", self.session),
                ("symbol", self.symbol),
                ("indicator", self.indicator),
                ("window", self.window),
            )
            if value is not None
        ]
        suffix = f" [{', '.join(facts)}]" if facts else ""
        return f"{super().render()}{suffix}"


class UnknownSymbol(StrategyDataError):
    """The symbol has no bars at all."""


class MissingBar(StrategyDataError):
    """The symbol has no bar dated on the session (stale data)."""


class InsufficientHistory(StrategyDataError):
    """Fewer bars than the indicator needs, or a too-short child return stream."""


class BadIndicatorValue(StrategyDataError):
    """An indicator produced a non-finite value."""


class ZeroVolatility(StrategyDataError):
    """Inverse-volatility weighting met a child whose volatility is zero."""


class EmptyAllocation(StrategyDataError):
    """A node yielded no weights (guard; should be unreachable for valid symphonies)."""


# --- market data --------------------------------------------------------------------------


class MarketDataError(AlchemiserError):
    """Bars are malformed (duplicates, non-positive or NaN closes, missing columns)."""


# --- configuration ------------------------------------------------------------------------


class ConfigError(AlchemiserError):
    """A configuration file or setting is invalid; the message names the file and field."""


# --- broker ---------------------------------------------------------------------------------


class BrokerError(AlchemiserError):
    """A broker call failed. Raised only by the adapter, which translates the SDK's errors.

    ``status`` is the HTTP status (None when no response arrived), ``code`` Alpaca's
    numeric error code when the body had one.
    """

    def __init__(self, message: str, *, status: int | None = None, code: int | None = None) -> None:
        self.status = status
        self.code = code
        super().__init__(message)


class BrokerUnavailable(BrokerError):
    """No usable answer: timeout, dropped connection, 5xx. Safe to retry for reads."""

    retryable = True


class RateLimited(BrokerError):
    """HTTP 429. ``retry_after`` (seconds) is the server's hint when it gave one."""

    retryable = True

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        status: int | None = 429,
        code: int | None = None,
    ) -> None:
        self.retry_after = retry_after
        super().__init__(message, status=status, code=code)


class AmbiguousSubmit(BrokerError):
    """An order submit may or may not have been stored: look it up by client_order_id first."""

    def __init__(self, message: str, *, client_order_id: str, status: int | None = None) -> None:
        self.client_order_id = client_order_id
        super().__init__(message, status=status)


class OrderRejected(BrokerError):
    """A business reject (buying power, not fractionable, duplicate id, ...). Never retried."""


class DuplicateClientOrderId(OrderRejected):
    """Alpaca already holds an order with this client_order_id (422, code 40010001).

    The order exists (an earlier attempt, an interrupted run or a concurrent one placed
    it): look it up by ``client_order_id`` and adopt it, never place it again.
    """

    def __init__(
        self, message: str, *, client_order_id: str, status: int | None = 422, code: int | None = None
    ) -> None:
        self.client_order_id = client_order_id
        super().__init__(message, status=status, code=code)


class BrokerNotFound(BrokerError):
    """The broker says the object (order, position, asset) does not exist (HTTP 404)."""


class BrokerAuthError(BrokerError):
    """Credentials were refused (HTTP 401/403 without a business code)."""


# --- portfolio ------------------------------------------------------------------------------


class PortfolioError(AlchemiserError):
    """The account or the inputs of a portfolio step are unusable (message names the field)."""


class MissingPrice(PortfolioError):
    """No usable quote mid and no last trade for a symbol the plan needs."""

    def __init__(self, symbol: str) -> None:
        self.symbol = symbol
        super().__init__(f"no usable price for {symbol}: no valid bid/ask and no last trade")


# --- storage --------------------------------------------------------------------------------


class StorageError(AlchemiserError):
    """A stored asset is missing, corrupted or of an unexpected type (message names the path)."""


# --- execution control -----------------------------------------------------------------------


class ExecutionLocked(AlchemiserError):
    """Another run holds the execution lock of this (account, session) past the wait bound.

    Carries the holder's facts so the message and alerts can name the run to look at.
    """

    def __init__(
        self,
        message: str,
        *,
        lock: str,
        holder_run_id: str | None,
        holder_host: str | None = None,
        holder_pid: int | None = None,
        waited_seconds: float = 0.0,
    ) -> None:
        self.lock = lock
        self.holder_run_id = holder_run_id
        self.holder_host = holder_host
        self.holder_pid = holder_pid
        self.waited_seconds = waited_seconds
        super().__init__(message)


class ExecutionLockLost(AlchemiserError):
    """The execution lock this run held was taken over (its heartbeat stopped for too long)."""


# --- notifications --------------------------------------------------------------------------


class NotificationError(AlchemiserError):
    """An alert or report could not be delivered on a channel (message names the channel).

    Retryable: the sensor keeps its cursor, so the next tick sends what did not go out.
    """

    retryable = True
