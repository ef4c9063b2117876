"""Real TLS servers on 127.0.0.1 for the tests and `cyberscan demo`, one configuration profile each.

Three engines, chosen per profile:

- `openssl s_server -www` (the system OpenSSL 3): modern, legacy and certificate-problem profiles;
- `gnutls-serv` (gnutls-bin, optional): the only local server left that still speaks 3DES and RC4,
  both compiled out of Debian's OpenSSL 3;
- a small in-process SMTP server (Python's `ssl`) for STARTTLS on port-25-style endpoints, because
  `openssl s_server` has no server side for STARTTLS.

Every process is tracked by PID, waited for until it accepts connections, and stopped (terminate,
then kill) by `stop()` or the `with` block; an `atexit` hook stops any server a crashed test left.
"""

from __future__ import annotations

import atexit
import contextlib
import datetime
import ipaddress
import os
import shutil
import socket
import socketserver
import ssl
import subprocess
import tempfile
import threading
import time
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

LOOPBACK = "127.0.0.1"
WRONG_NAME = "serveur-mutualise.invalid"

Engine = Literal["openssl", "gnutls", "smtp"]
CertificateKind = Literal["valid", "expired", "wrong_name", "self_signed", "weak"]
KeyKind = Literal["ec", "rsa"]

#: ECDHE with AEAD only: what Mozilla's "intermediate" profile allows for TLS 1.2
_MODERN_OPTIONS = ("-no_ssl3", "-no_tls1", "-no_tls1_1", "-cipher", "ECDHE+AESGCM:ECDHE+CHACHA20")


class TlsServerUnavailable(RuntimeError):
    """The program a profile needs is not installed (tests skip on this)."""


@dataclass(frozen=True)
class TlsProfile:
    """A server configuration as data: which engine, which certificate, which protocol options."""

    name: str
    description: str
    engine: Engine = "openssl"
    certificate: CertificateKind = "valid"
    key: KeyKind = "ec"
    #: extra command-line options of the server program (unused by the "smtp" engine)
    options: tuple[str, ...] = ()
    #: run OpenSSL at security level 0: needed for TLS 1.0/1.1, anonymous suites and 1024-bit keys
    lax: bool = False
    #: "smtp" engine: advertise STARTTLS in the EHLO answer
    starttls: bool = True
    #: the program cannot be told to listen on loopback only (gnutls-serv has no bind option)
    binds_all_interfaces: bool = False


PROFILES: Mapping[str, TlsProfile] = {
    p.name: p
    for p in (
        TlsProfile(
            "modern", "TLS 1.2 + 1.3, ECDHE with AEAD only, P-256 certificate", options=_MODERN_OPTIONS
        ),
        TlsProfile(
            "legacy",
            "TLS 1.0 to 1.2, every suite OpenSSL 3 still has (static RSA, CBC, anonymous, DHE 1024)",
            key="rsa",
            # RSA key: static-RSA suites need one. TLS 1.3 off so that the profile is plainly legacy.
            # Not `-client_renegotiation`: s_server -www then answers each renegotiation about a second
            # late, and sslyze makes ten (measured: 9 s). The 3des profile (gnutls-serv) accepts them.
            options=("-no_tls1_3", "-cipher", "ALL:@SECLEVEL=0"),
            lax=True,
        ),
        TlsProfile(
            "expired", "modern, leaf expired 30 days ago", certificate="expired", options=_MODERN_OPTIONS
        ),
        TlsProfile(
            "wrong_name",
            f"modern, leaf issued for {WRONG_NAME}",
            certificate="wrong_name",
            options=_MODERN_OPTIONS,
        ),
        TlsProfile(
            "self_signed", "modern, self-signed leaf", certificate="self_signed", options=_MODERN_OPTIONS
        ),
        TlsProfile(
            "weak_key",
            "TLS 1.2, RSA-1024 leaf signed with SHA-1 by the CA (ecdsa-with-SHA1 under an EC CA)",
            certificate="weak",
            key="rsa",
            options=("-no_tls1_3", "-no_tls1", "-no_tls1_1", "-cipher", "ECDHE+AESGCM:@SECLEVEL=0"),
            lax=True,
        ),
        TlsProfile(
            "3des",
            "gnutls-serv: TLS 1.0 + 1.2 with 3DES and RC4 suites (static RSA and ECDHE)",
            engine="gnutls",
            key="rsa",
            options=(
                "--priority",
                "NONE:+VERS-TLS1.2:+VERS-TLS1.0:+3DES-CBC:+ARCFOUR-128:+AES-128-GCM:+RSA:+ECDHE-RSA"
                ":+SHA1:+AEAD:+COMP-NULL:+SIGN-ALL:+GROUP-ALL:+CTYPE-X509",
            ),
            binds_all_interfaces=True,
        ),
        TlsProfile("smtp_starttls", "SMTP greeting, EHLO offers STARTTLS, then modern TLS", engine="smtp"),
        TlsProfile(
            "smtp_no_starttls", "SMTP without STARTTLS (clear text only)", engine="smtp", starttls=False
        ),
    )
}


def openssl_available() -> bool:
    return shutil.which("openssl") is not None


def gnutls_available() -> bool:
    return shutil.which("gnutls-serv") is not None


def free_port() -> int:
    """A loopback TCP port with nothing listening on it (closed right after being chosen)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def _openssl_conf(directory: Path, lax: bool) -> Path:
    """An OPENSSL_CONF of our own, so that a distribution's defaults (SECLEVEL=2, MinProtocol) never apply.

    `-cipher …:@SECLEVEL=0` alone lowers the level of the handshake; the system default section also
    covers loading a 1024-bit / SHA-1 certificate, which OpenSSL 3 checks against the level in force.
    """
    path = directory / ("openssl-lax.cnf" if lax else "openssl.cnf")
    lines = ["openssl_conf = openssl_init", "[openssl_init]"]
    if lax:
        lines += [
            "ssl_conf = ssl_sect",
            "[ssl_sect]",
            "system_default = system_default_sect",
            "[system_default_sect]",
            "CipherString = ALL:@SECLEVEL=0",
        ]
    path.write_text("\n".join(lines) + "\n")
    return path


# --- certificates -------------------------------------------------------------------------------


def _new_key(key: KeyKind) -> ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey:
    if key == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return ec.generate_private_key(ec.SECP256R1())


def _write_key_and_chain(
    key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey, chain: Sequence[x509.Certificate], directory: Path
) -> tuple[Path, Path]:
    key_path, cert_path = directory / "leaf.key", directory / "leaf.pem"
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    cert_path.write_bytes(b"".join(c.public_bytes(serialization.Encoding.PEM) for c in chain))
    return key_path, cert_path


def _issue(
    ca: trustme.CA,
    names: Sequence[str],
    key: KeyKind,
    not_before: datetime.datetime,
    not_after: datetime.datetime,
    directory: Path,
) -> tuple[Path, Path]:
    """A leaf for `names` signed by `ca`, shaped like a public CA's (Web PKI profile).

    Not trustme's `issue_cert`: its leaves mark subjectAltName critical next to a non-empty subject,
    which RFC 5280 forbids and the path validation of sslyze (cryptography) rejects, so they never
    show as trusted.
    """
    ca_cert = x509.load_pem_x509_certificate(ca.cert_pem.bytes())
    ca_key = serialization.load_pem_private_key(ca.private_key_pem.bytes(), password=None)
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey)
    leaf_key = _new_key(key)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
        .issuer_name(ca_cert.subject)
        .public_key(leaf_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.SubjectAlternativeName([_general_name(n) for n in names]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_encipherment=key == "rsa",  # static-RSA key transport
                content_commitment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(leaf_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return _write_key_and_chain(leaf_key, [cert], directory)


def _general_name(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def _self_signed(hosts: Sequence[str], directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0])])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=365))
        .add_extension(x509.SubjectAlternativeName([_general_name(h) for h in hosts]), critical=False)
        .sign(key, hashes.SHA256())
    )
    return _write_key_and_chain(key, [cert], directory)


def _weak_leaf(ca: trustme.CA, hosts: Sequence[str], directory: Path, conf: Path) -> tuple[Path, Path]:
    """An RSA-1024 leaf signed with SHA-1 by `ca`.

    cryptography 46 refuses to *sign* with SHA-1 or MD5 (it still parses such certificates), and
    trustme has no key-size option: the system `openssl` does the signing.
    """
    ca_cert, ca_key = directory / "weak-ca.pem", directory / "weak-ca.key"
    ca.cert_pem.write_to_path(str(ca_cert))
    ca.private_key_pem.write_to_path(str(ca_key))
    key_path, cert_path = directory / "leaf.key", directory / "leaf.pem"
    env = {**os.environ, "OPENSSL_CONF": str(conf)}
    sans = ",".join(f"{'IP' if isinstance(_general_name(h), x509.IPAddress) else 'DNS'}:{h}" for h in hosts)
    commands = (
        ["openssl", "genrsa", "-out", str(key_path), "1024"],
        # `req -x509 -CA` (OpenSSL 3) issues the certificate directly, without a CSR round trip.
        ["openssl", "req", "-x509", "-new", "-key", str(key_path), "-CA", str(ca_cert), "-CAkey", str(ca_key)]
        + ["-sha1", "-days", "90", "-subj", f"/CN={hosts[0]}", "-addext", f"subjectAltName={sans}"]
        + ["-addext", "basicConstraints=critical,CA:FALSE", "-out", str(cert_path)],
    )
    for command in commands:
        subprocess.run(command, check=True, capture_output=True, env=env, timeout=30)
    ca_key.unlink()
    return key_path, cert_path


def mint_certificate(
    kind: CertificateKind, key: KeyKind, ca: trustme.CA, hosts: Sequence[str], directory: Path
) -> tuple[Path, Path]:
    """Write the leaf key and certificate chain (PEM) of `kind` for `hosts` into `directory`."""
    now = datetime.datetime.now(datetime.timezone.utc)
    if kind == "self_signed":
        return _self_signed(hosts, directory)
    if kind == "weak":
        return _weak_leaf(ca, hosts, directory, _openssl_conf(directory, lax=True))
    if kind == "expired":
        before, after = now - datetime.timedelta(days=120), now - datetime.timedelta(days=30)
    else:
        before, after = now - datetime.timedelta(days=1), now + datetime.timedelta(days=90)
    names = [WRONG_NAME] if kind == "wrong_name" else list(hosts)
    return _issue(ca, names, key, before, after, directory)


# --- the in-process SMTP server -----------------------------------------------------------------


class _SmtpServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, tls: ssl.SSLContext, starttls: bool) -> None:
        super().__init__((LOOPBACK, 0), _SmtpHandler)
        self.tls = tls
        self.starttls = starttls


class _SmtpHandler(socketserver.StreamRequestHandler):
    """Just enough SMTP for a STARTTLS client: greeting, EHLO/HELO, STARTTLS, NOOP, QUIT."""

    server: _SmtpServer
    timeout = 10
    _tls: ssl.SSLSocket | None = None

    def handle(self) -> None:
        # Scanners abort handshakes and sessions on purpose.
        with contextlib.suppress(OSError, ValueError):
            self._session()

    def _send(self, text: str) -> None:
        self.wfile.write(text.encode("ascii") + b"\r\n")
        self.wfile.flush()

    def _session(self) -> None:
        secured = False
        self._send("220 smtp.test ESMTP cyberscan-demo")
        while True:
            line = self.rfile.readline(1024)
            if not line:
                return
            verb = line.strip().split(b" ", 1)[0].upper()
            if verb == b"EHLO":
                offer = self.server.starttls and not secured
                self._send(
                    "250-smtp.test\r\n250-8BITMIME\r\n" + ("250-STARTTLS\r\n" if offer else "") + "250 OK"
                )
            elif verb == b"HELO":
                self._send("250 smtp.test")
            elif verb == b"STARTTLS" and self.server.starttls and not secured:
                self._send("220 2.0.0 Ready to start TLS")
                self._switch_to_tls()
                secured = True
            elif verb == b"NOOP":
                self._send("250 OK")
            elif verb == b"QUIT":
                self._send("221 Bye")
                return
            else:
                self._send("502 5.5.2 Command not recognised")

    def _switch_to_tls(self) -> None:
        # wrap_socket detaches the plain socket: from here on the TLS socket is the connection, and
        # socketserver (which only knows the plain one) would never close it: finish() does.
        self._tls = self.server.tls.wrap_socket(self.connection, server_side=True)
        self.rfile = self._tls.makefile("rb")
        self.wfile = self._tls.makefile("wb")

    def finish(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            super().finish()
        if self._tls is not None:
            self._tls.close()


def _smtp_tls_context(cert: Path, key: Path) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers("ECDHE+AESGCM:ECDHE+CHACHA20")
    context.load_cert_chain(str(cert), str(key))
    return context


# --- the server -----------------------------------------------------------------------------------

_LIVE: weakref.WeakSet[LocalTlsServer] = weakref.WeakSet()


@atexit.register
def _stop_leftovers() -> None:
    for server in list(_LIVE):
        server.stop()


class LocalTlsServer:
    """One TLS server of `profile` on 127.0.0.1:<ephemeral port>, certificates for `hosts` from `ca`.

    Use as a context manager, or call `stop()`. `ca_pem_path` is the CA to pass as `--ca-bundle`.
    A profile whose program listens on every interface (`3des`) needs `allow_all_interfaces=True`.
    """

    def __init__(
        self,
        profile: str | TlsProfile,
        hosts: Sequence[str] = ("localhost",),
        ca: trustme.CA | None = None,
        *,
        allow_all_interfaces: bool = False,
        startup_timeout: float = 10.0,
    ) -> None:
        self.profile = PROFILES[profile] if isinstance(profile, str) else profile
        self.hosts = tuple(h.lower() for h in hosts)
        self._check_can_start(allow_all_interfaces)
        self.ca = ca or trustme.CA()
        self._process: subprocess.Popen[bytes] | None = None
        self._certificate_pem = b""
        self._smtp: _SmtpServer | None = None
        self._thread: threading.Thread | None = None
        self._stopped = False
        self._tmp = Path(tempfile.mkdtemp(prefix="cyberscan-tls-"))
        self._ca_pem = self._tmp / "ca.pem"
        self.port = 0
        try:
            self.ca.cert_pem.write_to_path(str(self._ca_pem))
            key, cert = mint_certificate(
                self.profile.certificate, self.profile.key, self.ca, self.hosts, self._tmp
            )
            self._certificate_pem = cert.read_bytes()
            self._start(key, cert, startup_timeout)
        except BaseException:
            self.stop()
            raise
        _LIVE.add(self)

    def _check_can_start(self, allow_all_interfaces: bool) -> None:
        engine = self.profile.engine
        needs_openssl = engine == "openssl" or self.profile.certificate == "weak"  # weak: openssl signs
        if needs_openssl and not openssl_available():
            raise TlsServerUnavailable("the openssl program is not installed")
        if engine == "gnutls" and not gnutls_available():
            raise TlsServerUnavailable("gnutls-serv is not installed (apt-get install gnutls-bin)")
        if self.profile.binds_all_interfaces and not allow_all_interfaces:
            raise TlsServerUnavailable(
                f"profile {self.profile.name!r} listens on every interface; pass allow_all_interfaces=True"
            )

    def _start(self, key: Path, cert: Path, startup_timeout: float) -> None:
        deadline = time.monotonic() + startup_timeout
        if self.profile.engine == "smtp":
            self._smtp = _SmtpServer(_smtp_tls_context(cert, key), self.profile.starttls)
            self.port = int(self._smtp.server_address[1])
            self._thread = threading.Thread(
                target=self._smtp.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
            )
            self._thread.start()
        elif self.profile.engine == "gnutls":
            # gnutls-serv cannot be asked for an ephemeral port it would report: pick one (tiny race).
            self.port = free_port()
            self._spawn(
                ["gnutls-serv", "--port", str(self.port), "--http", "--quiet"]
                + ["--x509certfile", str(cert), "--x509keyfile", str(key), *self.profile.options]
            )
        else:
            command = ["openssl", "s_server", "-accept", f"{LOOPBACK}:0", "-www"]
            command += ["-cert", str(cert), "-key", str(key), *self.profile.options]
            self._spawn(command, _openssl_conf(self._tmp, self.profile.lax))
            self.port = self._announced_port(deadline)
        self._wait_accepting(deadline)

    def _spawn(self, command: list[str], conf: Path | None = None) -> None:
        env = {**os.environ, **({"OPENSSL_CONF": str(conf)} if conf else {})}
        with (self._tmp / "server.log").open("wb") as log:
            self._process = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env
            )
        (self._tmp / "server.pid").write_text(f"{self._process.pid}\n")

    def _announced_port(self, deadline: float) -> int:
        # s_server prints "ACCEPT 127.0.0.1:<port>" once listening on the port the kernel chose.
        while time.monotonic() < deadline:
            for line in self.log().splitlines():
                if line.startswith(f"ACCEPT {LOOPBACK}:"):
                    return int(line.rsplit(":", 1)[1])
            self._check_alive()
            time.sleep(0.02)
        raise RuntimeError(f"{self.profile.name}: the server did not announce its port:\n{self.log()}")

    def _wait_accepting(self, deadline: float) -> None:
        while time.monotonic() < deadline:
            self._check_alive()
            try:
                with socket.create_connection((LOOPBACK, self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.02)
        raise RuntimeError(f"{self.profile.name}: nothing accepts connections on port {self.port}")

    def _check_alive(self) -> None:
        if self._process is not None and self._process.poll() is not None:
            raise RuntimeError(f"{self.profile.name}: the server exited at start:\n{self.log()}")

    def log(self) -> str:
        """What the server program printed so far (empty for the in-process SMTP server)."""
        try:
            return (self._tmp / "server.log").read_text(errors="replace")
        except OSError:
            return ""

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def address(self) -> str:
        return LOOPBACK

    @property
    def ca_pem_path(self) -> Path:
        return self._ca_pem

    @property
    def certificate_pem(self) -> bytes:
        """The certificate chain the server presents (PEM, leaf first): what a demo TLSA record hashes."""
        return self._certificate_pem

    def hosts_map(self) -> dict[str, str]:
        """Every certificate name → 127.0.0.1, for a static-hosts resolver."""
        return dict.fromkeys(self.hosts, LOOPBACK)

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(timeout=5)
        if self._smtp is not None:
            self._smtp.shutdown()
            self._smtp.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        shutil.rmtree(self._tmp, ignore_errors=True)
        _LIVE.discard(self)

    def __enter__(self) -> LocalTlsServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
