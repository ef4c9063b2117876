"""Test mail servers on loopback: a real SMTP server (aiosmtpd) and small scripted SMTP/IMAP/POP3 peers.

Every server records what its clients sent (`journal`), so tests can assert what was *not* sent: no
DATA ever, no RCPT without the open-relay opt-in, no LOGIN/USER/PASS. They bind 127.0.0.x only.

aiosmtpd is the real thing for well-behaved servers (STARTTLS, AUTH before or after TLS, a relay
that accepts or refuses). The scripted peers play what no real server library does on purpose: a
greeting that never comes, an EHLO reply cut into TCP segments, an endless reply, a STARTTLS
followed by garbage, a hostile banner, and the IMAP/POP3 greetings the collector reads.
"""

from __future__ import annotations

import contextlib
import socket
import socketserver
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, Session


@dataclass
class Journal:
    """Commands received, in order, as (client address, command, argument)."""

    entries: list[tuple[str, str, str]] = field(default_factory=list)
    connections: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, peer: str, command: str, arg: str) -> None:
        with self.lock:
            self.entries.append((peer, command, arg))

    def connected(self) -> None:
        with self.lock:
            self.connections += 1

    def commands(self) -> list[str]:
        with self.lock:
            return [command for _, command, _ in self.entries]

    def args(self, command: str) -> list[str]:
        with self.lock:
            return [arg for _, c, arg in self.entries if c == command]


def free_port(address: str = "127.0.0.1") -> int:
    """A TCP port with nothing listening on `address` (closed right after being chosen)."""
    with socket.socket() as sock:
        sock.bind((address, 0))
        return int(sock.getsockname()[1])


# --- aiosmtpd -------------------------------------------------------------------------------------


def _logged(command: str) -> Any:
    async def method(self: _JournalSMTP, arg: str | None) -> None:
        peer = self.session.peer[0] if self.session and self.session.peer else "?"
        self.journal.add(peer, command, arg or "")
        await getattr(super(_JournalSMTP, self), f"smtp_{command}")(arg)

    return method


class _JournalSMTP(SMTP):
    """aiosmtpd's SMTP session, writing every command it handles into the journal first."""

    def __init__(self, handler: Any, journal: Journal, **kwargs: Any) -> None:
        self.journal = journal
        super().__init__(handler, **kwargs)

    smtp_EHLO = _logged("EHLO")
    smtp_HELO = _logged("HELO")
    smtp_STARTTLS = _logged("STARTTLS")
    smtp_AUTH = _logged("AUTH")
    smtp_MAIL = _logged("MAIL")
    smtp_RCPT = _logged("RCPT")
    smtp_RSET = _logged("RSET")
    smtp_DATA = _logged("DATA")
    smtp_VRFY = _logged("VRFY")
    smtp_NOOP = _logged("NOOP")
    smtp_QUIT = _logged("QUIT")


class _RelayHandler:
    """Accepts every recipient (an open relay) or refuses all of them, as a closed MX refuses relaying."""

    def __init__(self, relay: bool) -> None:
        self.relay = relay

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        if not self.relay:
            return f"554 5.7.1 <{address}>: Relay access denied"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 Ok"


def _refuse_all(*args: Any) -> AuthResult:
    return AuthResult(success=False, handled=False)


class _Controller(Controller):
    def __init__(self, journal: Journal, **kwargs: Any) -> None:
        self.journal = journal
        super().__init__(**kwargs)

    def factory(self) -> SMTP:
        return _JournalSMTP(self.handler, self.journal, **self.SMTP_kwargs)

    def _trigger_server(self) -> None:
        # Controller's start-up probe connects to self.port: with port 0 that is the bound one.
        assert self.server is not None
        self.port = int(self.server.sockets[0].getsockname()[1])
        super()._trigger_server()


class SmtpServer:
    """A real SMTP server (aiosmtpd) on `address`:`port`: STARTTLS when given a certificate."""

    def __init__(
        self,
        address: str = "127.0.0.1",
        port: int = 0,
        *,
        hostname: str = "mx.test",
        cert: trustme.LeafCert | None = None,
        auth_before_tls: bool = False,
        relay: bool = False,
    ) -> None:
        self.journal = Journal()
        tls: ssl.SSLContext | None = None
        if cert is not None:
            tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            cert.configure_cert(tls)
        self._controller = _Controller(
            self.journal,
            handler=_RelayHandler(relay),
            hostname=address,
            port=port,
            server_hostname=hostname,
            tls_context=tls,
            require_starttls=False,
            auth_require_tls=not auth_before_tls,
            authenticator=_refuse_all,
            ready_timeout=5.0,
        )
        # A scanner hangs up without ceremony; asyncio would print every reset it sees.
        self._controller.loop.set_exception_handler(lambda loop, context: None)
        self._controller.start()
        self.address = address
        self.port = self._controller.port

    def commands(self) -> list[str]:
        return self.journal.commands()

    def stop(self) -> None:
        self._controller.stop()


# --- scripted peers -------------------------------------------------------------------------------


class Peer:
    """One accepted connection of a scripted server: line I/O with a journal."""

    def __init__(self, sock: socket.socket, journal: Journal) -> None:
        self.sock = sock
        self.journal = journal
        self.peer = str(sock.getpeername()[0])
        self._buffer = b""
        sock.settimeout(5)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def send(self, text: str | bytes) -> None:
        self.sock.sendall(text.encode() if isinstance(text, str) else text)

    def line(self) -> str | None:
        """The next line the client sent (journaled), or None when it closed."""
        while b"\n" not in self._buffer:
            try:
                chunk = self.sock.recv(4096)
            except OSError:
                return None
            if not chunk:
                return None
            self._buffer += chunk
        raw, _, self._buffer = self._buffer.partition(b"\n")
        text = raw.decode("utf-8", "replace").rstrip("\r")
        command, _, arg = text.partition(" ")
        self.journal.add(self.peer, command.upper(), arg)
        return text


Script = Callable[[Peer], None]


class _ScriptServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], script: Script, journal: Journal) -> None:
        self.script = script
        self.journal = journal
        super().__init__(address, _ScriptHandler)


class _ScriptHandler(socketserver.BaseRequestHandler):
    server: _ScriptServer

    def handle(self) -> None:
        self.server.journal.connected()
        with contextlib.suppress(OSError):
            self.server.script(Peer(self.request, self.server.journal))


class ScriptedServer:
    """A threaded TCP server on `address`:`port` running `script` for every connection."""

    def __init__(self, script: Script, address: str = "127.0.0.1", port: int = 0) -> None:
        self.journal = Journal()
        self._server = _ScriptServer((address, port), script, self.journal)
        self.address = address
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def commands(self) -> list[str]:
        return self.journal.commands()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def silent(peer: Peer) -> None:
    """Accept the connection and never say a word (until the client gives up)."""
    peer.sock.settimeout(10)
    with contextlib.suppress(OSError):
        peer.sock.recv(1)


def dribbling(peer: Peer) -> None:
    """A tarpit: one byte of a greeting that never ends every 0.2 s, for at most 10 s."""
    with contextlib.suppress(OSError):
        for _ in range(50):
            peer.send(b"2")
            time.sleep(0.2)


def _smtp_loop(
    peer: Peer, ehlo: Callable[[Peer], None], starttls: Callable[[Peer], bool] | None = None
) -> None:
    while (line := peer.line()) is not None:
        verb = line.split(" ", 1)[0].upper()
        if verb == "EHLO":
            ehlo(peer)
        elif verb == "STARTTLS" and starttls is not None:
            if not starttls(peer):
                return
        elif verb == "QUIT":
            peer.send("221 2.0.0 Bye\r\n")
            return
        else:
            peer.send("502 5.5.2 Error: command not recognized\r\n")


def segmented_smtp(peer: Peer) -> None:
    """Greeting and EHLO reply in one TCP segment per line, with pauses: the NSE pitfall."""
    peer.send("220-mx.segmented.test ESMTP\r\n")
    time.sleep(0.05)
    peer.send("220 welcome\r\n")

    def ehlo(p: Peer) -> None:
        for line in ("250-mx.segmented.test", "250-PIPELINING", "250-SIZE 10240000", "250-8BITMIME"):
            p.send(line + "\r\n")
            time.sleep(0.05)
        p.send("250 SMTPUTF8\r\n")

    _smtp_loop(peer, ehlo)


def endless_smtp(peer: Peer) -> None:
    """An EHLO reply that never ends (until the client hangs up, or 100 000 lines)."""
    peer.send("220 mx.endless.test ESMTP\r\n")

    def ehlo(p: Peer) -> None:
        with contextlib.suppress(OSError):
            for n in range(100_000):
                p.send(f"250-KEYWORD{n}\r\n")

    _smtp_loop(peer, ehlo)


def broken_tls_smtp(peer: Peer) -> None:
    """Offers STARTTLS, says "go ahead", then answers the ClientHello with clear text."""
    peer.send("220 mx.broken.test ESMTP\r\n")

    def ehlo(p: Peer) -> None:
        p.send("250-mx.broken.test\r\n250-STARTTLS\r\n250 8BITMIME\r\n")

    def starttls(p: Peer) -> bool:
        p.send("220 2.0.0 Ready to start TLS\r\n")
        with contextlib.suppress(OSError):
            p.sock.recv(4096)  # the ClientHello
            p.send("this is not a TLS record\r\n")
        return False

    _smtp_loop(peer, ehlo, starttls)


#: a greeting with escape sequences, NULs and far too much text
HOSTILE_BANNER = "mx.hostile.test \x1b[31mESMTP\x00\x07 " + "A" * 2000


def hostile_banner_smtp(peer: Peer) -> None:
    peer.send(f"220 {HOSTILE_BANNER}\r\n")

    def ehlo(p: Peer) -> None:
        p.send("250-mx.hostile.test\r\n250-" + "\x1b]0;owned\x07" + "B" * 500 + "\r\n250 8BITMIME\r\n")

    _smtp_loop(peer, ehlo)


def imap_greeter(capabilities: str) -> Script:
    """An IMAP server that greets, answers CAPABILITY with `capabilities` and LOGOUT; nothing else."""

    def script(peer: Peer) -> None:
        peer.send("* OK [CAPABILITY IMAP4rev1] Dovecot (Debian) ready.\r\n")
        while (line := peer.line()) is not None:
            tag, _, command = line.partition(" ")
            if command.upper() == "CAPABILITY":
                peer.send(f"* CAPABILITY {capabilities}\r\n{tag} OK Capability completed.\r\n")
            elif command.upper() == "LOGOUT":
                peer.send(f"* BYE Logging out\r\n{tag} OK Logout completed.\r\n")
                return
            else:
                peer.send(f"{tag} BAD Error in IMAP command\r\n")

    return script


def pop3_greeter(capa: list[str] | None) -> Script:
    """A POP3 server answering CAPA with `capa` (None: "-ERR", a pre-RFC 2449 server) and QUIT."""

    def script(peer: Peer) -> None:
        peer.send("+OK Dovecot (Debian) ready.\r\n")
        while (line := peer.line()) is not None:
            command = line.split(" ", 1)[0].upper()
            if command == "CAPA" and capa is not None:
                peer.send("+OK\r\n" + "".join(f"{c}\r\n" for c in capa) + ".\r\n")
            elif command == "QUIT":
                peer.send("+OK Logging out.\r\n")
                return
            else:
                peer.send("-ERR Unknown command.\r\n")

    return script


@contextlib.contextmanager
def running(*servers: SmtpServer | ScriptedServer) -> Iterator[None]:
    """Stop `servers` on exit."""
    try:
        yield
    finally:
        for server in servers:
            server.stop()


def relay_dropping_on_rset(peer: Peer) -> None:
    """An open relay (250 to an external RCPT) that hangs up when the client sends RSET."""
    peer.send("220 relay.test ESMTP\r\n")
    while (line := peer.line()) is not None:
        verb = line.split(" ", 1)[0].upper()
        if verb == "EHLO":
            peer.send("250-relay.test\r\n250 8BITMIME\r\n")
        elif verb in ("MAIL", "RCPT"):
            peer.send("250 2.1.0 Ok, relaying\r\n")
        else:  # RSET (or anything else): the connection just ends
            return


def submission_offering(auth: str) -> Script:
    """A submission server advertising `auth` (e.g. "AUTH GSSAPI NTLM") and STARTTLS before TLS."""

    def script(peer: Peer) -> None:
        peer.send("220 submission.test ESMTP\r\n")

        def ehlo(p: Peer) -> None:
            p.send(f"250-submission.test\r\n250-{auth}\r\n250 STARTTLS\r\n")

        _smtp_loop(peer, ehlo)

    return script
