"""A real S3 API on loopback: moto's standalone server, and a fresh bucket for every test.

The product finds the endpoint the way any AWS client does, from `AWS_ENDPOINT_URL`
(or `AWS_ENDPOINT_URL_S3`): botocore reads it for boto3, and s3fs builds its client
through aiobotocore, which reads the same variable. Nothing here patches the product.
The server lives for the test session (it starts in well under a second, but one is
enough); each test gets its own bucket, its own environment and an empty fsspec
instance cache, so no filesystem object or client survives from one test to the next.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import fsspec
import pytest
import s3fs
from moto.server import ThreadedMotoServer

# Variables that would send requests elsewhere or pick up a developer's own AWS setup.
FOREIGN_AWS_VARIABLES = (
    "AWS_ENDPOINT_URL_S3",
    "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_REGION",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
)


@dataclass(frozen=True)
class S3:
    """The bucket of one test, seen through boto3 (independently of the product's s3fs)."""

    endpoint: str
    bucket: str
    client: Any

    def url(self, *parts: str) -> str:
        return "s3://" + "/".join((self.bucket, *parts))

    def keys(self, prefix: str = "") -> list[str]:
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix)
        return sorted(item["Key"] for page in pages for item in page.get("Contents", []))

    def get(self, key: str) -> bytes:
        body: bytes = self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        return body

    def put(self, key: str, body: bytes) -> None:
        self.client.put_object(Bucket=self.bucket, Key=key, Body=body)


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """moto's standalone S3 server on a free loopback port (the OS picks it: no race)."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one access-log line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def clear_s3fs_caches() -> None:
    """Forget every cached S3FileSystem (each holds a client bound to the endpoint it saw)."""
    s3fs.S3FileSystem.clear_instance_cache()


@pytest.fixture
def s3(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[S3]:
    for name in FOREIGN_AWS_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    # fsspec's own configuration (FSSPEC_S3_* variables read at import) would override ours.
    monkeypatch.delitem(fsspec.config.conf, "s3", raising=False)
    clear_s3fs_caches()
    client = boto3.client("s3")
    assert client.meta.endpoint_url == moto_endpoint  # boto3 honours AWS_ENDPOINT_URL
    bucket = f"alchemiser-{uuid.uuid4().hex[:12]}"
    client.create_bucket(Bucket=bucket)
    try:
        yield S3(endpoint=moto_endpoint, bucket=bucket, client=client)
    finally:
        clear_s3fs_caches()
