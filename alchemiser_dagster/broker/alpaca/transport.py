"""HTTP under alpaca-py: every request bounded by a timeout, none retried by the SDK.

How the SDK (alpaca-py 0.44) is tamed, see ``alpaca/common/rest.py``:

* **Timeout.** ``RESTClient._one_request`` calls ``self._session.request(method, url,
  **opts)`` with no ``timeout`` (rest.py, ``_one_request``), so a hung server blocks
  forever. Each client's own ``requests.Session`` (created in ``RESTClient.__init__`` as
  ``self._session``) gets a transport adapter mounted for ``http://`` and ``https://``
  that passes ``(timeout_seconds, timeout_seconds)`` as connect/read timeout to every
  send whose caller did not give one. The adapter also has ``max_retries=0``.
* **Retries.** ``RESTClient.__init__`` sets ``_retry = 3`` (``DEFAULT_RETRY_ATTEMPTS``),
  ``_retry_wait = 3`` and ``_retry_codes = [429, 504]`` and ignores
  ``retry_attempts=0`` (``if retry_attempts and retry_attempts > 0``); ``_request`` loops
  ``while retry >= 0`` and ``_one_request`` raises its internal ``RetryException`` only
  when ``status in _retry_codes and retry > 0``. We set ``_retry = 0``,
  ``_retry_wait = 0`` and ``_retry_codes = []`` on every client after building it: one
  HTTP request per call, including ``POST /v2/orders``. The retry policy belongs to the
  callers (they know whether a call is idempotent).
"""

from __future__ import annotations

import requests
from alpaca.data.historical.stock import StockHistoricalDataClient
from alpaca.trading.client import TradingClient
from requests.adapters import HTTPAdapter

from alchemiser_dagster.domain.errors import ConfigError


class TimeoutAdapter(HTTPAdapter):
    """A transport adapter that gives every request a default (connect, read) timeout."""

    def __init__(self, timeout_seconds: float) -> None:
        super().__init__(max_retries=0)
        self._timeout: tuple[float, float] = (timeout_seconds, timeout_seconds)

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: float | tuple[float | None, float | None] | None = None,
        verify: bool | str = True,
        cert: str | tuple[str, str] | None = None,
        proxies: dict[str, str] | None = None,
    ) -> requests.Response:
        return super().send(
            request,
            stream=stream,
            timeout=self._timeout if timeout is None else timeout,
            verify=verify,
            cert=cert,
            proxies=proxies,
        )


def harden(client: TradingClient | StockHistoricalDataClient, timeout_seconds: float) -> None:
    """Bound every HTTP call of an SDK client and switch its built-in retries off."""
    # Assigning a renamed attribute would silently succeed and leave retries on: check first.
    missing = [a for a in ("_session", "_retry", "_retry_wait", "_retry_codes") if not hasattr(client, a)]
    if missing:
        raise ConfigError(
            f"unsupported alpaca-py version: {type(client).__name__} has no {', '.join(missing)}"
        )
    adapter = TimeoutAdapter(timeout_seconds)
    client._session.mount("http://", adapter)
    client._session.mount("https://", adapter)
    client._retry = 0
    client._retry_wait = 0
    client._retry_codes = []


def normalize_url(url: str | None, name: str) -> str | None:
    """An http(s) base URL without its trailing slash (None stays None)."""
    if url is None:
        return None
    stripped = url.strip().rstrip("/")
    if not stripped.startswith(("http://", "https://")):
        raise ConfigError(f"{name} must be an http(s) URL, got {url!r}")
    return stripped
