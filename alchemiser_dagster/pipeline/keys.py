"""The account prefix, applied one way: every asset key, check input and stored path.

With an account (one code location per account of an accounts file) every key and every
stored value lives under `<account>/`; without one, keys are bare.
"""

from collections.abc import Sequence

import dagster as dg


def account_path(account: str | None, path: str | Sequence[str] = ()) -> list[str]:
    """`path` under the account's prefix: `("alice", "fill_ledger")` -> `["alice", "fill_ledger"]`."""
    parts = [path] if isinstance(path, str) else list(path)
    return [account, *parts] if account else parts


def account_key(account: str | None, key: str | Sequence[str] | dg.AssetKey) -> dg.AssetKey:
    """The asset key of `key` in the account's code location."""
    return dg.AssetKey(account_path(account, key.path if isinstance(key, dg.AssetKey) else key))


def broker_pool(account: str | None) -> str:
    """The Dagster pool of the account's broker steps: one broker user at a time per account."""
    return f"broker-{account}" if account else "broker"
