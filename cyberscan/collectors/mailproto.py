"""SMTP, IMAP and POP3 client dialogues for the mail collector: greetings, capabilities, STARTTLS.

Hand-written rather than smtplib, imaplib and poplib, because a mail host is hostile input and the
standard clients do not bound what they read: smtplib's getreply() and poplib's long responses
accumulate continuation lines without any count limit, and none of them has a wall-clock budget per
reply (a server dribbling one byte per socket timeout holds them indefinitely). imaplib also sends
CAPABILITY on its own, and none of them gives the raw greeting of all three protocols the same way.
The dialogues are tiny (greeting, one capability command, STARTTLS, QUIT), so one bounded line
reader (`LineChannel`) serves all three; the TLS itself is Python's ssl module.

What is sent, and never more: EHLO, STARTTLS, EHLO again and QUIT (SMTP); CAPABILITY and LOGOUT
(IMAP); CAPA and QUIT (POP3); for the opt-in open-relay test MAIL FROM, RCPT TO and RSET. Never
DATA, never a credential.
"""

from __future__ import annotations

import _ssl
import contextlib
import errno
import hashlib
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from ..bounds import clip
from ..plugin import CollectorError
from .mail_facts import MailboxProbe, PresentedCertificate, SmtpProbe

#: greetings and replies kept in the facts, in characters
MAX_BANNER = 300
#: keywords / capabilities kept, and the length of each
MAX_KEYWORDS = 50
MAX_KEYWORD = 100
#: certificates of a presented chain kept
MAX_CHAIN = 10
#: bytes of one protocol line; RFC 5321 allows 512 per reply line, IMAP capability lines run longer
MAX_LINE = 8192
#: lines of one multi-line reply (an EHLO answer has a dozen)
MAX_REPLY_LINES = 100
_RECV = 4096
_UNREACHABLE_ERRNOS = frozenset({errno.ENETUNREACH, errno.EHOSTUNREACH, errno.EADDRNOTAVAIL, errno.ENETDOWN})

#: the engine's per-operation timeout (CollectorContext.op_timeout: raises CollectorError at the deadline)
Timeout = Callable[[], float]


class DialogueError(Exception):
    """The server broke the protocol or closed the connection; `kind` goes into the facts."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(detail)
        self.kind = kind
        self.detail = detail


def error_of(exc: BaseException) -> tuple[str, str]:
    """(error_kind, bounded detail) of a dialogue failure, in the facts' vocabulary."""
    if isinstance(exc, DialogueError):
        return exc.kind, clip(exc.detail, MAX_BANNER)
    if isinstance(exc, CollectorError):
        return "deadline", clip(exc.detail, MAX_BANNER)
    # socket.timeout is TimeoutError since 3.10; ssl raises it too for a handshake that stalls.
    if isinstance(exc, TimeoutError):
        return "timeout", clip(str(exc) or "timed out", MAX_BANNER)
    if isinstance(exc, ssl.SSLError):
        return "tls", clip(str(exc.reason or exc), MAX_BANNER)
    if isinstance(exc, ConnectionRefusedError):
        return "refused", "connection refused"
    if isinstance(exc, ConnectionResetError | BrokenPipeError | ConnectionAbortedError):
        return "protocol", "connection closed by the server"
    if isinstance(exc, OSError) and exc.errno in _UNREACHABLE_ERRNOS:
        return "unreachable", clip(exc.strerror or str(exc), MAX_BANNER)
    if isinstance(exc, OSError):
        return "unreachable", clip(str(exc) or type(exc).__name__, MAX_BANNER)
    return "protocol", clip(f"{type(exc).__name__}: {exc}", MAX_BANNER)


def _text(raw: bytes) -> str:
    """A protocol line as bounded, printable text."""
    return clip(raw.decode("utf-8", "replace").strip(), MAX_BANNER)


class LineChannel:
    """A TCP (then TLS) connection read line by line: bounded lines, a wall-clock budget per reply."""

    def __init__(self, sock: socket.socket, timeout: Timeout) -> None:
        self.sock = sock
        self._timeout = timeout
        self._buffer = bytearray()

    @classmethod
    def connect(cls, address: str, port: int, timeout: Timeout) -> LineChannel:
        sock = socket.create_connection((address, port), timeout=timeout())
        return cls(sock, timeout)

    def reply_deadline(self) -> float:
        """The instant by which the reply about to be read must be complete."""
        return time.monotonic() + self._timeout()

    def read_line(self, deadline: float) -> bytes:
        """One line without its CRLF; the whole of it must arrive before `deadline`."""
        while True:
            end = self._buffer.find(b"\n")
            if end >= 0:
                line = bytes(self._buffer[:end])
                del self._buffer[: end + 1]
                return line.rstrip(b"\r")
            if len(self._buffer) > MAX_LINE:
                raise DialogueError("protocol", f"a reply line longer than {MAX_LINE} bytes")
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("the reply did not complete in time")
            self.sock.settimeout(left)
            chunk = self.sock.recv(_RECV)
            if not chunk:
                raise DialogueError("protocol", "connection closed by the server")
            self._buffer.extend(chunk)

    def send(self, line: str) -> None:
        self.sock.settimeout(self._timeout())
        self.sock.sendall(line.encode("ascii") + b"\r\n")

    def start_tls(self, context: ssl.SSLContext, server_hostname: str) -> None:
        """Replace the socket by a TLS one (handshake within one operation timeout)."""
        # Bytes that arrived after the server's "ready" line were sent in clear text before the
        # handshake: honouring them would let a man in the middle inject replies (the client side
        # of CVE-2011-0411). RFC 3207 §4.2: discard everything learnt before TLS.
        self._buffer.clear()
        self.sock.settimeout(self._timeout())
        self.sock = context.wrap_socket(self.sock, server_hostname=server_hostname)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()


# --- SMTP ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SmtpReply:
    """A complete (possibly multi-line) SMTP reply."""

    code: int
    lines: tuple[str, ...]

    @property
    def text(self) -> str:
        return clip(f"{self.code} " + " ".join(self.lines), MAX_BANNER)


def read_smtp_reply(channel: LineChannel) -> SmtpReply:
    """Read lines until the last one ("250 ", not "250-"): a multi-line EHLO reply may arrive in
    several TCP segments, so lines are read until the terminating one, never one recv per reply."""
    deadline = channel.reply_deadline()
    lines: list[str] = []
    code: int | None = None
    while True:
        raw = channel.read_line(deadline)
        head = raw[:3]
        if len(raw) < 3 or not head.isdigit() or (len(raw) > 3 and raw[3:4] not in (b" ", b"-")):
            raise DialogueError("protocol", f"not an SMTP reply: {_text(raw[:80])!r}")
        if code is None:
            code = int(head)
        elif int(head) != code:
            raise DialogueError("protocol", "a multi-line reply changed its code midway")
        lines.append(_text(raw[4:]))
        if raw[3:4] != b"-":
            return SmtpReply(code, tuple(lines))
        if len(lines) >= MAX_REPLY_LINES:
            raise DialogueError("protocol", f"a reply of more than {MAX_REPLY_LINES} lines")


def smtp_command(channel: LineChannel, line: str) -> SmtpReply:
    channel.send(line)
    return read_smtp_reply(channel)


def ehlo_keywords(reply: SmtpReply) -> tuple[str, ...]:
    """EHLO keywords, upper case; the first line is the server's name, not a keyword."""
    words = [clip(" ".join(line.split()).upper(), MAX_KEYWORD) for line in reply.lines[1:]]
    return tuple(w for w in words if w)[:MAX_KEYWORDS]


def _has_keyword(keywords: tuple[str, ...], name: str) -> bool:
    return any(k.split(" ", 1)[0] == name for k in keywords)


def _quit(channel: LineChannel, command: str, read: Callable[[LineChannel], object]) -> None:
    """Say goodbye politely; a server that hangs up first is no failure of the probe."""
    with contextlib.suppress(Exception):
        channel.send(command)
        read(channel)


@dataclass(frozen=True)
class RelayPlan:
    """The opt-in open-relay test: an external sender to an external recipient (RFC 2606 names)."""

    sender: str
    recipient: str


def relay_test(channel: LineChannel, plan: RelayPlan) -> tuple[str, str]:
    """(relay outcome, reply) after a successful EHLO: MAIL FROM, RCPT TO, RSET. Never DATA.

    "accepted" when RCPT gets 250/251; "refused" on a permanent (5xx) rejection of the sender or of
    the recipient; "error" on anything else (a temporary 4xx proves nothing either way).
    """
    mail = smtp_command(channel, f"MAIL FROM:<{plan.sender}>")
    if mail.code != 250:
        return ("refused" if 500 <= mail.code < 600 else "error"), clip(f"MAIL FROM: {mail.text}", MAX_BANNER)
    rcpt = smtp_command(channel, f"RCPT TO:<{plan.recipient}>")
    if rcpt.code in (250, 251):
        outcome = "accepted"
    elif 500 <= rcpt.code < 600:
        outcome = "refused"
    else:
        outcome = "error"
    # The verdict is the RCPT reply: a server that hangs up or stalls on RSET afterwards is still an
    # open relay (or not), so RSET is best effort and cannot turn the answer into an error.
    with contextlib.suppress(OSError, DialogueError, CollectorError):
        smtp_command(channel, "RSET")
    return outcome, rcpt.text


def peer_chain(sock: ssl.SSLSocket) -> list[bytes]:
    """The DER certificates the server presented, leaf first, unverified."""
    # Python 3.13 has SSLSocket.get_unverified_chain() (DER bytes); 3.10–3.12 only the same method on
    # the private _sslobj, returning _ssl.Certificate objects. getpeercert() alone gives the leaf.
    getter = getattr(sock, "get_unverified_chain", None)
    if getter is None:
        getter = getattr(getattr(sock, "_sslobj", None), "get_unverified_chain", None)
    if getter is not None:
        chain = getter() or []
        return [c if isinstance(c, bytes) else c.public_bytes(_ssl.ENCODING_DER) for c in chain]
    leaf = sock.getpeercert(binary_form=True)
    return [leaf] if leaf else []


def presented_certificate(position: int, der: bytes) -> PresentedCertificate:
    """Hashes of the whole certificate and of its SubjectPublicKeyInfo, as DANE TLSA records compare."""
    subject, spki = "(unparseable certificate)", b""
    try:
        cert = x509.load_der_x509_certificate(der)
        subject = clip(cert.subject.rfc4514_string(), MAX_BANNER)
        spki = cert.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    except Exception:  # a malformed or exotic certificate is data; its DER hashes still count
        pass
    return PresentedCertificate(
        position=position,
        subject=subject,
        cert_sha256=hashlib.sha256(der).hexdigest(),
        cert_sha512=hashlib.sha512(der).hexdigest(),
        spki_sha256=hashlib.sha256(spki).hexdigest() if spki else "",
        spki_sha512=hashlib.sha512(spki).hexdigest() if spki else "",
    )


@dataclass
class _SmtpState:
    """What one SMTP dialogue learnt so far (turned into an SmtpProbe however it ends)."""

    connected: bool = False
    banner: str | None = None
    ehlo: tuple[str, ...] = ()
    starttls_offered: bool = False
    starttls_ok: bool | None = None
    starttls_error: str | None = None
    tls_version: str | None = None
    chain: tuple[PresentedCertificate, ...] = ()
    relay: str | None = None
    relay_reply: str | None = None
    error_kind: str | None = None
    error: str | None = None


def smtp_probe(
    host: str,
    address: str,
    port: int,
    helo: str,
    timeout: Timeout,
    tls_context: ssl.SSLContext,
    relay: RelayPlan | None = None,
) -> SmtpProbe:
    """Greeting, EHLO, STARTTLS with the chain recorded, EHLO, (opt-in relay test), QUIT.

    Never raises. A STARTTLS the server refuses (4xx/5xx) is an answer: starttls_ok False and
    error_kind None. A failed handshake gives starttls_ok False with error_kind "tls" (the server
    broke TLS) or "timeout" (inconclusive). Whatever was learnt before a failure is kept.
    """
    state = _SmtpState()
    channel: LineChannel | None = None
    handshake_failed = False
    try:
        channel = LineChannel.connect(address, port, timeout)
        handshake_failed = _smtp_session(channel, host, helo, tls_context, relay, state)
    except Exception as exc:
        state.error_kind, state.error = error_of(exc)
    finally:
        if channel is not None:
            channel.close()
    if handshake_failed and relay is not None:
        # The connection died with the handshake; an attacker would simply relay in clear text.
        _relay_in_clear(address, port, helo, timeout, relay, state)
    return _smtp_facts(host, address, port, state)


def _smtp_session(
    channel: LineChannel,
    host: str,
    helo: str,
    tls_context: ssl.SSLContext,
    relay: RelayPlan | None,
    state: _SmtpState,
) -> bool:
    """The dialogue proper; True when the TLS handshake failed on a responsive server."""
    greeting = read_smtp_reply(channel)
    state.connected, state.banner = greeting.code == 220, clip(" ".join(greeting.lines), MAX_BANNER)
    if greeting.code != 220:
        state.error_kind, state.error = "protocol", clip(f"no 220 greeting: {greeting.text}", MAX_BANNER)
        _quit(channel, "QUIT", read_smtp_reply)
        return False
    ehlo = smtp_command(channel, f"EHLO {helo}")
    if ehlo.code != 250:
        state.error_kind, state.error = "protocol", clip(f"EHLO refused: {ehlo.text}", MAX_BANNER)
        if relay is not None:
            state.relay, state.relay_reply = "error", clip(f"EHLO: {ehlo.text}", MAX_BANNER)
        _quit(channel, "QUIT", read_smtp_reply)
        return False
    state.ehlo = ehlo_keywords(ehlo)
    state.starttls_offered = _has_keyword(state.ehlo, "STARTTLS")
    if state.starttls_offered:
        ready = smtp_command(channel, "STARTTLS")
        if ready.code != 220:
            state.starttls_ok = False
            state.starttls_error = clip(f"STARTTLS refused: {ready.text}", MAX_BANNER)
        else:
            try:
                channel.start_tls(tls_context, host)
            except OSError as exc:  # ssl.SSLError, TimeoutError, a reset: the connection is dead
                kind, detail = error_of(exc)
                state.starttls_ok, state.starttls_error = False, detail
                state.error_kind, state.error = kind, detail
                return kind == "tls"
            assert isinstance(channel.sock, ssl.SSLSocket)
            state.starttls_ok, state.tls_version = True, channel.sock.version()
            der_chain = peer_chain(channel.sock)[:MAX_CHAIN]
            state.chain = tuple(presented_certificate(i, der) for i, der in enumerate(der_chain))
            # RFC 3207 §4.2: the client must forget what it knew and say EHLO again.
            ehlo = smtp_command(channel, f"EHLO {helo}")
    if relay is not None:
        if ehlo.code == 250:
            state.relay, state.relay_reply = relay_test(channel, relay)
        else:
            state.relay, state.relay_reply = "error", clip(f"EHLO: {ehlo.text}", MAX_BANNER)
    _quit(channel, "QUIT", read_smtp_reply)
    return False


def _relay_in_clear(
    address: str, port: int, helo: str, timeout: Timeout, relay: RelayPlan, state: _SmtpState
) -> None:
    """The relay test on a new clear-text connection (STARTTLS failed on the first one)."""
    channel: LineChannel | None = None
    try:
        channel = LineChannel.connect(address, port, timeout)
        greeting = read_smtp_reply(channel)
        ehlo = smtp_command(channel, f"EHLO {helo}") if greeting.code == 220 else greeting
        if ehlo.code == 250:
            state.relay, state.relay_reply = relay_test(channel, relay)
        else:
            state.relay, state.relay_reply = "error", clip(ehlo.text, MAX_BANNER)
        _quit(channel, "QUIT", read_smtp_reply)
    except Exception as exc:
        state.relay, state.relay_reply = "error", error_of(exc)[1]
    finally:
        if channel is not None:
            channel.close()


def _smtp_facts(host: str, address: str, port: int, state: _SmtpState) -> SmtpProbe:
    return SmtpProbe(
        host=host,
        address=address,
        port=port,
        connected=state.connected,
        banner=state.banner,
        ehlo=state.ehlo,
        starttls_offered=state.starttls_offered,
        starttls_ok=state.starttls_ok,
        starttls_error=state.starttls_error,
        tls_version=state.tls_version,
        chain=state.chain,
        relay=state.relay,
        relay_reply=state.relay_reply,
        error_kind=state.error_kind,
        error=state.error,
    )


# --- mailbox ports: IMAP, POP3, submission --------------------------------------------------------


@dataclass
class _Mailbox:
    """What one mailbox-port dialogue learnt so far (kept when it fails midway)."""

    connected: bool = False
    banner: str | None = None
    capabilities: tuple[str, ...] = ()
    starttls_offered: bool = False
    cleartext_auth: bool = False


def _imap(channel: LineChannel, helo: str, state: _Mailbox) -> None:
    greeting = channel.read_line(channel.reply_deadline())
    if not greeting.upper().startswith((b"* OK", b"* PREAUTH")):
        raise DialogueError("protocol", f"not an IMAP greeting: {_text(greeting[:80])!r}")
    state.banner = _text(greeting[2:])
    channel.send("a1 CAPABILITY")
    deadline = channel.reply_deadline()
    words: list[str] = []
    for _ in range(MAX_REPLY_LINES):
        line = channel.read_line(deadline)
        upper = line.upper()
        if upper.startswith(b"* CAPABILITY"):
            words += [clip(w, MAX_KEYWORD) for w in _text(upper[len(b"* CAPABILITY") :]).split()]
        elif upper.startswith(b"A1 "):
            break
    else:
        raise DialogueError("protocol", f"no end to the CAPABILITY reply after {MAX_REPLY_LINES} lines")
    state.capabilities = tuple(dict.fromkeys(words))[:MAX_KEYWORDS]
    state.starttls_offered = "STARTTLS" in state.capabilities
    # RFC 3501 §6.2.3: LOGINDISABLED forbids LOGIN before TLS; AUTHENTICATE PLAIN/LOGIN, if offered,
    # still carries the password in clear.
    state.cleartext_auth = "LOGINDISABLED" not in state.capabilities or bool(
        {"AUTH=PLAIN", "AUTH=LOGIN"} & set(state.capabilities)
    )
    _quit(channel, "a2 LOGOUT", _until_tag(b"A2 "))


def _until_tag(tag: bytes) -> Callable[[LineChannel], object]:
    def read(channel: LineChannel) -> None:
        deadline = channel.reply_deadline()
        for _ in range(MAX_REPLY_LINES):
            if channel.read_line(deadline).upper().startswith(tag):
                return

    return read


def _pop3(channel: LineChannel, helo: str, state: _Mailbox) -> None:
    greeting = channel.read_line(channel.reply_deadline())
    if not greeting.startswith(b"+OK"):
        raise DialogueError("protocol", f"not a POP3 greeting: {_text(greeting[:80])!r}")
    state.banner = _text(greeting[3:])
    channel.send("CAPA")
    deadline = channel.reply_deadline()
    words: list[str] = []
    capa = channel.read_line(deadline).startswith(b"+OK")
    if capa:
        for _ in range(MAX_REPLY_LINES):
            line = channel.read_line(deadline)
            if line == b".":
                break
            # RFC 1939 §3 byte-stuffing of multi-line responses
            words.append(clip(" ".join(_text(line.removeprefix(b".")).upper().split()), MAX_KEYWORD))
        else:
            raise DialogueError("protocol", f"no end to the CAPA reply after {MAX_REPLY_LINES} lines")
    state.capabilities = tuple(w for w in dict.fromkeys(words) if w)[:MAX_KEYWORDS]
    state.starttls_offered = "STLS" in state.capabilities
    sasl = next((w.split()[1:] for w in state.capabilities if w.split()[0] == "SASL"), [])
    # A server without CAPA (RFC 2449) cannot announce STLS (RFC 2595 §4 advertises it through CAPA):
    # whatever login it accepts, USER/PASS as RFC 1939 servers do, travels without TLS.
    state.cleartext_auth = not capa or "USER" in state.capabilities or bool({"PLAIN", "LOGIN"} & set(sasl))
    _quit(channel, "QUIT", lambda c: c.read_line(c.reply_deadline()))


def _submission(channel: LineChannel, helo: str, state: _Mailbox) -> None:
    greeting = read_smtp_reply(channel)
    state.banner = clip(" ".join(greeting.lines), MAX_BANNER)
    if greeting.code != 220:
        raise DialogueError("protocol", f"no 220 greeting: {greeting.text}")
    ehlo = smtp_command(channel, f"EHLO {helo}")
    if ehlo.code != 250:
        raise DialogueError("protocol", f"EHLO refused: {ehlo.text}")
    state.capabilities = ehlo_keywords(ehlo)
    state.starttls_offered = _has_keyword(state.capabilities, "STARTTLS")
    # "AUTH PLAIN LOGIN", or the pre-standard "AUTH=PLAIN" some old Exchange servers still send. Only
    # PLAIN and LOGIN carry the password itself; NTLM, GSSAPI or CRAM-MD5 alone do not (the same rule
    # as MAIL-CLEARTEXT-AUTH applies to port 25).
    mechanisms = {
        word
        for keyword in state.capabilities
        if keyword.startswith(("AUTH ", "AUTH="))
        for word in keyword[5:].split()
    }
    state.cleartext_auth = bool({"PLAIN", "LOGIN"} & mechanisms)
    _quit(channel, "QUIT", read_smtp_reply)


_DIALOGUES: dict[str, Callable[[LineChannel, str, _Mailbox], None]] = {
    "imap": _imap,
    "pop3": _pop3,
    "submission": _submission,
}
PROTOCOLS = tuple(_DIALOGUES)


def mailbox_probe(
    host: str, address: str, port: int, protocol: str, helo: str, timeout: Timeout
) -> MailboxProbe:
    """Greeting and pre-TLS capabilities of an IMAP, POP3 or submission port, then LOGOUT/QUIT.

    Never raises; never logs in. What arrived before a failure (the greeting) is kept.
    """
    state = _Mailbox()
    error_kind: str | None = None
    error: str | None = None
    channel: LineChannel | None = None
    try:
        channel = LineChannel.connect(address, port, timeout)
        state.connected = True
        _DIALOGUES[protocol](channel, helo, state)
    except Exception as exc:
        error_kind, error = error_of(exc)
    finally:
        if channel is not None:
            channel.close()
    return MailboxProbe(
        host=host,
        address=address,
        port=port,
        protocol=protocol,
        connected=state.connected,
        banner=state.banner,
        capabilities=state.capabilities,
        starttls_offered=state.starttls_offered,
        cleartext_auth=state.cleartext_auth,
        error_kind=error_kind,
        error=error,
    )
