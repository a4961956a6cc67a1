"""A throwaway PostgreSQL server and an S3 stand-in for the production-instance tests.

`postgres_server` (one per test session) runs the machine's own PostgreSQL binaries:
`initdb` a cluster in a fresh temporary directory, then `pg_ctl start` it on a free port
listening on 127.0.0.1 only (no unix socket outside that directory), with password
(scram-sha-256) authentication over TCP. initdb refuses to run as root, so as root the
cluster belongs to the `postgres` OS user and both commands run through `runuser`
(or `setpriv`). `pg_ctl stop -m fast` and the removal of the directory end it.

`postgres_db` gives each test its own database owned by an unprivileged login role, so the
Dagster tables are created exactly as on a fresh production database. `s3_server` is
moto's threaded server on a free loopback port with the compute-log bucket.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import re
import secrets
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pytest

ROOT = Path(__file__).resolve().parents[2]
PROD_YAML = ROOT / "deploy" / "prod" / "dagster.yaml"

SUPERUSER = "postgres"
ROLE = "alchemiser_dagster"
BUCKET = "alchemiser-compute-logs"
REGION = "us-east-1"
NO_POSTGRES = (
    "no PostgreSQL server binaries (initdb, pg_ctl) on PATH or in /usr/lib/postgresql/*/bin: "
    "install the Debian package `postgresql` (.ci/run does)"
)


@dataclass(frozen=True)
class PostgresServer:
    bindir: Path
    host: str
    port: int
    password: str  # of both the superuser and `role`
    os_user: str | None  # the OS user running the cluster when the tests run as root
    role: str = ROLE  # the unprivileged login role that owns each test's database

    def connect(self, dbname: str = "postgres", user: str = SUPERUSER):  # -> psycopg2 connection
        import psycopg2

        return psycopg2.connect(
            host=self.host, port=self.port, user=user, password=self.password, dbname=dbname
        )


@dataclass(frozen=True)
class S3Server:
    endpoint_url: str
    bucket: str

    def client(self):  # -> boto3 S3 client
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name=REGION,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )


def _version(bindir: Path) -> tuple[int, ...]:
    match = re.search(r"/(\d+(?:\.\d+)*)/bin$", str(bindir))
    return tuple(int(p) for p in match.group(1).split(".")) if match else (0,)


def find_postgres_bindir() -> Path | None:
    """The directory holding a matching initdb and pg_ctl: PATH first, then Debian's layout."""
    candidates: list[Path] = []
    on_path = shutil.which("initdb")
    if on_path:
        # Debian's /usr/bin wrappers (or /usr/local/bin symlinks) lead to the versioned dir.
        candidates.append(Path(os.path.realpath(on_path)).parent)
    debian = [Path(p).parent for p in glob.glob("/usr/lib/postgresql/*/bin/initdb")]
    candidates += sorted(debian, key=_version, reverse=True)
    for bindir in candidates:
        if all(os.access(bindir / tool, os.X_OK) for tool in ("initdb", "pg_ctl", "postgres")):
            return bindir
    return None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _as_user(os_user: str | None) -> list[str]:
    """The command prefix that runs a program as `os_user` (nothing when not root)."""
    if os_user is None:
        return []
    if shutil.which("runuser"):
        return ["runuser", "-u", os_user, "--"]
    if shutil.which("setpriv"):
        return ["setpriv", "--reuid", os_user, "--regid", os_user, "--init-groups", "--"]
    pytest.skip("running as root and neither runuser nor setpriv is available to drop to `postgres`")


def _run(cmd: list[str], cwd: Path) -> None:
    env = {**os.environ, "LC_ALL": "C", "LANG": "C"}
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{cmd[0:6]} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    bindir = find_postgres_bindir()
    if bindir is None:
        pytest.skip(NO_POSTGRES)
    os_user: str | None = None
    if os.geteuid() == 0:
        try:
            account = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip(
                "running as root and there is no `postgres` OS user for initdb (package `postgresql`)"
            )
        os_user = account.pw_name
    prefix = _as_user(os_user)
    # Not under pytest's tmp dir: /tmp/pytest-of-root is 0700, the `postgres` user must get in.
    base = Path(tempfile.mkdtemp(prefix="alchemiser-pg-"))
    data = base / "data"
    started = False
    try:
        password = secrets.token_hex(16)
        pwfile = base / "pwfile"
        pwfile.write_text(password + "\n")
        if os_user is not None:
            for path in (base, pwfile):
                os.chown(path, account.pw_uid, account.pw_gid)
        _run(
            [
                *prefix, str(bindir / "initdb"), "-D", str(data), "-U", SUPERUSER, f"--pwfile={pwfile}",
                "--auth-host=scram-sha-256", "--auth-local=peer", "-E", "UTF8", "--no-locale", "--no-sync",
            ],
            cwd=base,
        )  # fmt: skip
        pwfile.unlink()
        host = "127.0.0.1"
        for _attempt in range(3):  # the free port may be taken between probe and bind
            port = free_port()
            options = (
                f"-c listen_addresses={host} -p {port} -c unix_socket_directories={base} "
                "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=50"
            )
            try:
                _run(
                    [*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-l", str(base / "server.log"),
                     "-o", options, "-w", "-t", "60", "start"],
                    cwd=base,
                )  # fmt: skip
            except RuntimeError as error:
                log_path = base / "server.log"
                server_log = log_path.read_text(errors="replace") if log_path.exists() else ""
                if "already in use" in server_log:
                    continue
                raise RuntimeError(f"{error}\nserver.log:\n{server_log}") from None
            started = True
            break
        else:
            raise RuntimeError("could not find a free port for PostgreSQL")
        server = PostgresServer(bindir=bindir, host=host, port=port, password=password, os_user=os_user)
        with contextlib.closing(server.connect()) as conn:
            conn.autocommit = True
            with conn.cursor() as cur:
                # A login role that owns its database and nothing else, like a production setup.
                cur.execute(f"CREATE ROLE {ROLE} LOGIN PASSWORD %s", (password,))
        yield server
    finally:
        if started:
            _run([*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"], cwd=base)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def postgres_db(postgres_server: PostgresServer, request: pytest.FixtureRequest) -> Iterator[str]:
    """A new, empty database owned by ROLE for one test; dropped afterwards."""
    name = "dagster_" + re.sub(r"\W", "_", request.node.name.lower())[:40] + "_" + secrets.token_hex(3)
    with contextlib.closing(postgres_server.connect()) as conn:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{name}" OWNER {ROLE}')
    yield name
    with contextlib.closing(postgres_server.connect()) as conn:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        s3 = S3Server(endpoint_url=f"http://127.0.0.1:{port}", bucket=BUCKET)
        s3.client().create_bucket(Bucket=BUCKET)
        yield s3
    finally:
        server.stop()


@pytest.fixture
def prod_home(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    postgres_server: PostgresServer,
    postgres_db: str,
    s3_server: S3Server,
) -> Path:
    """A DAGSTER_HOME holding the production dagster.yaml, with its environment set."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(PROD_YAML, home / "dagster.yaml")
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_CONFIG_FILE"):
        monkeypatch.delenv(name, raising=False)
    env = {
        "DAGSTER_HOME": str(home),
        "DAGSTER_PG_HOST": postgres_server.host,
        "DAGSTER_PG_PORT": str(postgres_server.port),
        "DAGSTER_PG_USER": postgres_server.role,
        "DAGSTER_PG_PASSWORD": postgres_server.password,
        "DAGSTER_PG_DB": postgres_db,
        "DAGSTER_COMPUTE_LOGS_BUCKET": s3_server.bucket,
        "DAGSTER_COMPUTE_LOGS_PREFIX": f"compute-logs/{postgres_db}",
        # Only S3 goes to the stand-in; boto3 reads this itself (no endpoint in the yaml).
        "AWS_ENDPOINT_URL_S3": s3_server.endpoint_url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-aws-credentials"),
        # The structured run log handler of python_logs writes here, not into the checkout.
        "ALCHEMISER_LOG_DIR": str(tmp_path / "logs"),
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return home


@contextlib.contextmanager
def loaded(home: Path) -> Iterator[dg.DagsterInstance]:
    """A fresh instance object from the file, disposed (connection pools closed) after."""
    with dg.DagsterInstance.from_config(str(home)) as instance:
        yield instance
