"""Real servers on loopback for the notification tests: an SMTP server (aiosmtpd, optional
STARTTLS / implicit TLS and AUTH) and an HTTP webhook receiver. Both record what arrived."""

from __future__ import annotations

import email
import email.policy
import json
import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class SmtpSink:
    host: str
    port: int
    messages: list[EmailMessage] = field(default_factory=list)
    envelopes: list[tuple[str, list[str]]] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 (aiosmtpd's hook name)
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        self.messages.append(parsed)
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 OK"


@dataclass
class Tls:
    """A throwaway CA and a certificate for 127.0.0.1; `ca_file` is what the client trusts."""

    server_context: ssl.SSLContext
    ca_file: Path


def make_tls(folder: Path) -> Tls:
    authority = trustme.CA()
    cert = authority.issue_cert("127.0.0.1", "localhost")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)
    ca_file = folder / "ca.pem"
    authority.cert_pem.write_to_path(str(ca_file))
    return Tls(context, ca_file)


@contextmanager
def smtp_server(
    *, starttls: Tls | None = None, implicit_tls: Tls | None = None, password: str | None = None
) -> Iterator[SmtpSink]:
    """An SMTP server; with `password`, AUTH LOGIN/PLAIN for user 'ops' is required."""
    port = free_port()
    sink = SmtpSink("127.0.0.1", port)

    def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        ok = (
            isinstance(data, LoginPassword)
            and data.login == b"ops"
            and data.password == (password or "").encode()
        )
        if ok:
            sink.logins.append(data.login.decode())
        return AuthResult(success=ok, handled=False)

    options: dict[str, Any] = {}
    if starttls is not None:
        options.update(tls_context=starttls.server_context, require_starttls=True)
    if implicit_tls is not None:
        options.update(ssl_context=implicit_tls.server_context)
    if password is not None:
        options.update(authenticator=authenticate, auth_required=True, auth_require_tls=starttls is not None)
    controller = Controller(sink, hostname="127.0.0.1", port=port, server_hostname="127.0.0.1", **options)
    controller.start()
    try:
        yield sink
    finally:
        controller.stop()


@dataclass
class WebhookSink:
    url: str
    bodies: list[dict[str, Any]] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)  # answers to give, in order; then 200


@contextmanager
def webhook_server() -> Iterator[WebhookSink]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    sink = WebhookSink(url=f"http://127.0.0.1:{server.server_address[1]}/hooks/T000/B000/secret-token")
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with lock:
                status = sink.statuses.pop(0) if sink.statuses else 200
                if status == 200:
                    sink.bodies.append(json.loads(body))
            self.send_response(status)
            payload = b"ok" if status == 200 else b"invalid_token"
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            return

    server.RequestHandlerClass = Handler
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield sink
    finally:
        server.shutdown()
        server.server_close()
