"""A real Mosquitto broker for tests: plain, TLS with client certificates, or passwords
(optionally with an ``acl_file``).

Fixtures ``broker``, ``tls_broker`` and ``password_broker`` start ``/usr/sbin/mosquitto`` on
a free 127.0.0.1 port with persistence in a temporary directory; :meth:`Broker.restart`
brings it back on the same port (retained messages and persistent sessions survive unless
``wipe=True``). Tests are skipped, with the reason, only if mosquitto is not installed.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
MOSQUITTO_PASSWD = shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class TlsFiles:
    """PEM files of a throw-away CA, a server (127.0.0.1/localhost) and a client."""

    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _write_key(key: ec.EllipticCurvePrivateKey, path: Path) -> None:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


def _cert(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: x509.Name | None,
    issuer_key: ec.EllipticCurvePrivateKey,
    *,
    ca: bool,
    server: bool = False,
) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer or name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(
                digital_signature=True, key_cert_sign=True, crl_sign=True,
                content_commitment=False, key_encipherment=False, data_encipherment=False,
                key_agreement=False, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        ).add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
    else:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), False
        )
    if server:
        builder = builder.add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
    return builder.sign(issuer_key, hashes.SHA256())


def make_tls_files(directory: Path) -> TlsFiles:
    """Generate a CA, a server certificate for 127.0.0.1 and a client certificate."""
    directory.mkdir(parents=True, exist_ok=True)
    ca_key = _key()
    ca = _cert("firedetect test CA", ca_key, None, ca_key, ca=True)
    files = TlsFiles(
        ca=directory / "ca.pem",
        server_cert=directory / "server.pem",
        server_key=directory / "server.key",
        client_cert=directory / "client.pem",
        client_key=directory / "client.key",
    )
    files.ca.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    for cert_path, key_path, cn, server in (
        (files.server_cert, files.server_key, "localhost", True),
        (files.client_cert, files.client_key, "firedetect-test-client", False),
    ):
        key = _key()
        cert = _cert(cn, key, ca.subject, ca_key, ca=False, server=server)
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        _write_key(key, key_path)
    return files


class Broker:
    """One mosquitto process on a fixed loopback port, restartable."""

    def __init__(
        self,
        workdir: Path,
        *,
        tls: TlsFiles | None = None,
        passwords: dict[str, str] | None = None,
        acl: str | None = None,
        autosave_s: int | None = None,
    ) -> None:
        """``autosave_s``: also save the persistence file this often (seconds), so that the
        sessions it holds survive a SIGKILL; otherwise only a clean stop saves it."""
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.host = "127.0.0.1"
        self.port = _free_port()
        self.tls = tls
        self.proc: subprocess.Popen[bytes] | None = None
        self.conf = workdir / "mosquitto.conf"
        self.log = workdir / "mosquitto.log"
        lines = [
            f"listener {self.port} {self.host}",
            "user root",
            "persistence true",
            f"persistence_location {workdir}/",
            "persistence_file mosquitto.db",
            *([f"autosave_interval {autosave_s}"] if autosave_s else []),
            f"log_dest file {self.log}",
            "log_type all",
        ]
        if passwords:
            pwfile = workdir / "passwd"
            pwfile.write_text("")
            for user, pw in passwords.items():
                subprocess.run([MOSQUITTO_PASSWD, "-b", str(pwfile), user, pw], check=True,
                               capture_output=True)
            lines += ["allow_anonymous false", f"password_file {pwfile}"]
        else:
            lines.append("allow_anonymous true")
        if acl is not None:
            aclfile = workdir / "acl"
            aclfile.write_text(acl)
            lines.append(f"acl_file {aclfile}")
        if tls:
            lines += [
                f"cafile {tls.ca}",
                f"certfile {tls.server_cert}",
                f"keyfile {tls.server_key}",
                "require_certificate true",
            ]
        self.conf.write_text("\n".join(lines) + "\n")

    @property
    def url(self) -> str:
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}"

    def start(self, timeout: float = 10.0) -> None:
        """Start mosquitto and wait until it accepts TCP connections."""
        if self.proc is not None:
            raise RuntimeError("broker already running")
        self.proc = subprocess.Popen(
            [MOSQUITTO, "-c", str(self.conf)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode() if self.proc.stderr else ""
                log = self.log.read_text() if self.log.exists() else ""
                self.proc = None
                raise RuntimeError(f"mosquitto exited at start: {err}\n{log}")
            try:
                with socket.create_connection((self.host, self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"mosquitto did not listen on {self.host}:{self.port}")

    def stop(self) -> None:
        """Stop mosquitto (SIGTERM: it saves its persistence file) and wait for it."""
        if self.proc is None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self.proc.stderr:
            self.proc.stderr.close()
        self.proc = None

    def restart(self, *, wipe: bool = False, down_s: float = 0.0) -> None:
        """Stop, optionally forget everything retained, wait ``down_s``, start again."""
        self.stop()
        if wipe:
            (self.workdir / "mosquitto.db").unlink(missing_ok=True)
        if down_s:
            time.sleep(down_s)
        self.start()


def _need_mosquitto() -> None:
    if not Path(MOSQUITTO).exists():
        pytest.skip(f"mosquitto is not installed ({MOSQUITTO} missing); apt install mosquitto")


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    """A plain, anonymous Mosquitto on a free loopback port."""
    _need_mosquitto()
    b = Broker(tmp_path / "broker")
    b.start()
    yield b
    b.stop()


@pytest.fixture
def saving_broker(tmp_path: Path) -> Iterator[Broker]:
    """A plain Mosquitto that also saves its sessions to disk every second, so that they
    survive a SIGKILL."""
    _need_mosquitto()
    b = Broker(tmp_path / "saving-broker", autosave_s=1)
    b.start()
    yield b
    b.stop()


@pytest.fixture
def tls_files(tmp_path: Path) -> TlsFiles:
    """A fresh CA, server and client certificate."""
    return make_tls_files(tmp_path / "tls")


@pytest.fixture
def tls_broker(tmp_path: Path, tls_files: TlsFiles) -> Iterator[Broker]:
    """Mosquitto over TLS that requires a client certificate signed by the test CA."""
    _need_mosquitto()
    b = Broker(tmp_path / "tls-broker", tls=tls_files)
    b.start()
    yield b
    b.stop()


BROKER_USER = "firedetect"
BROKER_PASSWORD = "correct horse battery staple"  # a throw-away test password


@pytest.fixture
def password_broker(tmp_path: Path) -> Iterator[Broker]:
    """Mosquitto that admits only ``BROKER_USER`` with ``BROKER_PASSWORD``."""
    _need_mosquitto()
    if not Path(MOSQUITTO_PASSWD).exists():
        pytest.skip(f"{MOSQUITTO_PASSWD} missing; apt install mosquitto")
    b = Broker(tmp_path / "pw-broker", passwords={BROKER_USER: BROKER_PASSWORD})
    b.start()
    yield b
    b.stop()


def wait_until(pred: Callable[[], bool], timeout: float = 10.0) -> bool:
    """Poll ``pred`` every 20 ms for up to ``timeout`` s; its last answer."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.02)
    return pred()
