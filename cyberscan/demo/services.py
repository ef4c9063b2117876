"""Emulated service greetings (RDP, SMB, FTP, SSH, Redis, HTTP admin page, Telnet, VNC) for tests and demo.

Each emulation answers just enough of its protocol for `nmap -sV`, its safe NSE scripts and the ports
collector's own greeting probes to recognise it, and nothing more: no login ever succeeds (except
the anonymous one of "ftp_anon", the opt-in probe's positive case), no data
is served. One thread per listener (`socketserver.ThreadingTCPServer`), every connection bounded by
a short socket timeout.

In-process use::

    with ServiceSet.start("127.0.0.1", {"ftp": 2121, "redis": 6380}) as services:
        ...  # services.ports["ftp"] is the bound port (0 asks for a free one)

As a process (e.g. inside a network namespace: ``ip netns exec NS python -m cyberscan.demo.services
--bind 0.0.0.0 --service ftp=21 --service redis=6379``): prints ``READY name=port …`` on stdout once
every listener is bound, and stops on SIGTERM/SIGINT. ``--record FILE`` appends one line per accepted
connection ("address port service"), used to prove that an address was never probed, and one line per
command the FTP emulations receive ("address port service VERB", never the argument).

"ftp_anon" is the FTP emulation that accepts an anonymous login (230), for the opt-in probe's tests.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import json
import os
import select
import shutil
import signal
import socket
import socketserver
import struct
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from email.utils import formatdate
from types import TracebackType

#: the default port of each emulation (the port a real server uses)
DEFAULT_PORTS: Mapping[str, int] = {
    "ftp": 21,
    "ssh": 22,
    "telnet": 23,
    "smb": 445,
    "rdp": 3389,
    "synology": 5000,
    "vnc": 5900,
    "redis": 6379,
    "proxmox": 8006,
}
#: a read never waits longer than this (seconds): a silent client cannot pin a thread
IO_TIMEOUT = 10.0
MAX_LINE = 4096

Handler = Callable[[socket.socket], None]


def _read_line(sock: socket.socket) -> bytes:
    """One CRLF/LF-terminated line (without it), at most MAX_LINE bytes; b"" at EOF."""
    data = bytearray()
    while len(data) < MAX_LINE:
        chunk = sock.recv(1)
        if not chunk:
            break
        data += chunk
        if chunk == b"\n":
            break
    return bytes(data).rstrip(b"\r\n")


def _read_exact(sock: socket.socket, size: int) -> bytes:
    data = bytearray()
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            break
        data += chunk
    return bytes(data)


# --- FTP: vsftpd 2.3.4 banner, FEAT without AUTH TLS --------------------------------------------

FTP_BANNER = b"220 (vsFTPd 2.3.4)\r\n"
FTP_FEAT = (
    b"211-Features:\r\n EPRT\r\n EPSV\r\n MDTM\r\n PASV\r\n REST STREAM\r\n SIZE\r\n TVFS\r\n211 End\r\n"
)


def serve_ftp(
    sock: socket.socket, log: Callable[[str], None] = lambda _: None, anonymous: bool = False
) -> None:
    """vsftpd-like dialogue; `log` gets each command verb (never its argument: PASS carries a secret).

    With `anonymous` (the "ftp_anon" service), USER anonymous/ftp + any PASS is accepted (230), so a
    test can prove the opt-in anonymous-login probe sees both outcomes. Nothing is ever served.
    """
    sock.sendall(FTP_BANNER)
    user = b""
    for _ in range(20):
        line = _read_line(sock)
        if not line:
            return
        command, _, argument = line.partition(b" ")
        command = command.upper()
        log(command.decode("ascii", "replace")[:16])
        if command == b"FEAT":
            sock.sendall(FTP_FEAT)
        elif command == b"SYST":
            sock.sendall(b"215 UNIX Type: L8\r\n")
        elif command == b"QUIT":
            sock.sendall(b"221 Goodbye.\r\n")
            return
        elif command == b"USER":
            user = argument.strip().lower()
            sock.sendall(b"331 Please specify the password.\r\n")
        elif command == b"PASS" and anonymous and user in (b"anonymous", b"ftp"):
            sock.sendall(b"230 Login successful.\r\n")
        elif command == b"PASS":
            sock.sendall(b"530 Login incorrect.\r\n")
        else:
            sock.sendall(b"530 Please login with USER and PASS.\r\n")


# --- SSH: an old OpenSSH banner and a KEXINIT with legacy algorithms ---------------------------

SSH_BANNER = b"SSH-2.0-OpenSSH_5.3\r\n"
SSH_ALGORITHMS = (
    "diffie-hellman-group-exchange-sha256,diffie-hellman-group-exchange-sha1,diffie-hellman-group14-sha1,"
    "diffie-hellman-group1-sha1",
    "ssh-rsa,ssh-dss",
    "aes128-ctr,aes256-ctr,aes128-cbc,3des-cbc,blowfish-cbc",
    "aes128-ctr,aes256-ctr,aes128-cbc,3des-cbc,blowfish-cbc",
    "hmac-md5,hmac-sha1,hmac-sha1-96",
    "hmac-md5,hmac-sha1,hmac-sha1-96",
    "none,zlib@openssh.com",
    "none,zlib@openssh.com",
    "",
    "",
)


def ssh_kexinit() -> bytes:
    """An unencrypted SSH binary packet holding SSH_MSG_KEXINIT (RFC 4253 §7.1)."""
    payload = bytes([20]) + bytes(16)  # message code, cookie
    for name_list in SSH_ALGORITHMS:
        encoded = name_list.encode()
        payload += struct.pack(">I", len(encoded)) + encoded
    payload += b"\x00" + bytes(4)  # first_kex_packet_follows, reserved
    padding = 8 - (len(payload) + 5) % 8
    padding += 8 if padding < 4 else 0
    return struct.pack(">IB", len(payload) + padding + 1, padding) + payload + bytes(padding)


def serve_ssh(sock: socket.socket) -> None:
    sock.sendall(SSH_BANNER)
    if not _read_line(sock).startswith(b"SSH-"):
        return
    sock.sendall(ssh_kexinit())
    sock.recv(4096)  # the client's KEXINIT; no key exchange follows: the connection closes


# --- Telnet: option negotiation then a login prompt --------------------------------------------

TELNET_GREETING = b"\xff\xfd\x18\xff\xfd\x20\xff\xfd\x23\xff\xfd\x27"


def serve_telnet(sock: socket.socket) -> None:
    sock.sendall(TELNET_GREETING)
    sock.settimeout(1.0)
    with contextlib.suppress(OSError):
        sock.recv(512)
    sock.settimeout(IO_TIMEOUT)
    sock.sendall(b"\r\nDebian GNU/Linux 5.0\r\nmairie-routeur login: ")
    _read_line(sock)
    sock.sendall(b"Password: ")
    _read_line(sock)
    sock.sendall(b"\r\nLogin incorrect\r\n")


# --- SMB: an SMB1 "NT LM 0.12" negotiate response, Windows 7-10 style ---------------------------


def smb1_negotiate_response() -> bytes:
    """SMB_COM_NEGOTIATE response selecting dialect 7 ("NT LM 0.12") without extended security."""
    header = b"\xffSMBr" + bytes(4) + b"\x88\x01\x40" + bytes(14) + b"\x40\x06\x00\x00\x01\x00"
    words = (
        b"\x11"  # word count 17
        + b"\x07\x00"  # dialect index 7
        + b"\x03"  # security mode: user level, challenge/response
        + b"\x0a\x00"  # max mpx 10
        + b"\x01\x00"  # max VCs
        + b"\x04\x11\x00\x00"  # max buffer size
        + b"\x00\x00\x01\x00"  # max raw size
        + bytes(4)  # session key
        + b"\xfc\xe3\x01\x00"  # capabilities (no extended security)
        + bytes(8)  # system time
        + b"\x00\x00"  # time zone
        + b"\x08"  # challenge length
    )
    data = bytes(8) + "MAIRIE\0".encode("utf-16-le") + "MAIRIE-PC\0".encode("utf-16-le")
    body = header + words + struct.pack("<H", len(data)) + data
    return b"\x00" + struct.pack(">I", len(body))[1:] + body


def serve_smb(sock: socket.socket) -> None:
    for _ in range(4):
        head = _read_exact(sock, 4)
        if len(head) < 4:
            return
        size = int.from_bytes(head[1:], "big")
        packet = _read_exact(sock, min(size, 65536))
        if packet[:4] == b"\xffSMB" and packet[4:5] == b"r":
            sock.sendall(smb1_negotiate_response())
        else:
            return  # SMB2 and everything else: the emulation speaks SMB1 only


# --- RDP: X.224 Connection Confirm with RDP_NEG_RSP / RDP_NEG_FAILURE ----------------------------

PROTOCOL_RDP, PROTOCOL_SSL, PROTOCOL_HYBRID = 0, 1, 2
HYBRID_REQUIRED_BY_SERVER = 5


def rdp_confirm(requested: int | None) -> bytes:
    """What a Windows server requiring NLA answers to an X.224 Connection Request."""
    if requested is None:  # a bare X.224 request without RDP_NEG_REQ
        return b"\x03\x00\x00\x0b\x06\xd0\x00\x00\x12\x34\x00"
    if requested & PROTOCOL_HYBRID:
        neg = struct.pack("<BBHI", 2, 0x1F, 8, PROTOCOL_HYBRID)  # RDP_NEG_RSP selecting CredSSP (NLA)
    else:
        neg = struct.pack("<BBHI", 3, 0, 8, HYBRID_REQUIRED_BY_SERVER)  # RDP_NEG_FAILURE
    x224 = b"\x0e\xd0\x00\x00\x12\x34\x00" + neg
    return b"\x03\x00" + struct.pack(">H", 4 + len(x224)) + x224


def serve_rdp(sock: socket.socket) -> None:
    head = _read_exact(sock, 4)
    if len(head) < 4 or head[0] != 3:
        return
    size = struct.unpack(">H", head[2:4])[0]
    body = _read_exact(sock, max(0, min(size, 1024) - 4))
    requested: int | None = None
    # RDP_NEG_REQ (type 1, length 8) closes the Connection Request when present
    if len(body) >= 8 and body[-8] == 1 and body[-6:-4] == b"\x08\x00":
        requested = struct.unpack("<I", body[-4:])[0]
    sock.sendall(rdp_confirm(requested))
    _read_exact(sock, 1)


# --- Redis without authentication ---------------------------------------------------------------

REDIS_INFO = b"# Server\r\nredis_version:6.0.16\r\nredis_mode:standalone\r\nos:Linux\r\n"


def _redis_command(sock: socket.socket, first: bytes) -> list[bytes]:
    if not first.startswith(b"*"):
        return first.split()  # inline command
    count = int(first[1:] or b"0") if first[1:].isdigit() else 0
    words: list[bytes] = []
    for _ in range(min(count, 16)):
        _read_line(sock)  # $<len>
        words.append(_read_line(sock))
    return words


def serve_redis(sock: socket.socket) -> None:
    for _ in range(20):
        line = _read_line(sock)
        if not line:
            return
        words = _redis_command(sock, line)
        name = words[0].upper() if words else b""
        if name == b"PING":
            sock.sendall(b"+PONG\r\n")
        elif name == b"INFO":
            sock.sendall(b"$%d\r\n%s\r\n" % (len(REDIS_INFO), REDIS_INFO))
        elif name == b"GET" and len(words) != 2:
            sock.sendall(b"-ERR wrong number of arguments for 'get' command\r\n")
        elif name == b"QUIT":
            sock.sendall(b"+OK\r\n")
            return
        else:
            sock.sendall(b"-ERR unknown command '%s'\r\n" % name[:64])


# --- HTTP admin login pages ---------------------------------------------------------------------


def _http_page(title: str, server: str) -> Handler:
    body = (
        f"<!DOCTYPE html><html><head><title>{title}</title></head><body>"
        f'<form method="post" action="/login"><input name="username"><input type="password" name="passwd">'
        f"</form></body></html>"
    ).encode()

    def serve(sock: socket.socket) -> None:
        request = _read_line(sock)
        if not request:
            return
        for _ in range(100):  # headers
            if not _read_line(sock):
                break
        head = (
            f"HTTP/1.1 200 OK\r\nDate: {formatdate(usegmt=True)}\r\nServer: {server}\r\n"
            "Content-Type: text/html; charset=utf-8\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        ).encode()
        sock.sendall(head + (b"" if request.startswith(b"HEAD ") else body))

    return serve


# --- VNC without authentication (security type None) --------------------------------------------


def serve_vnc(sock: socket.socket) -> None:
    sock.sendall(b"RFB 003.008\n")
    if not _read_exact(sock, 12).startswith(b"RFB "):
        return
    sock.sendall(b"\x01\x01")  # one security type: None
    if _read_exact(sock, 1) != b"\x01":
        return
    sock.sendall(b"\x00\x00\x00\x00")  # SecurityResult OK
    if not _read_exact(sock, 1):  # ClientInit
        return
    name = b"mairie-accueil"
    pixel = bytes([32, 24, 0, 1, 0, 255, 0, 255, 0, 255, 16, 8, 0, 0, 0, 0])
    sock.sendall(struct.pack(">HH", 800, 600) + pixel + struct.pack(">I", len(name)) + name)
    _read_exact(sock, 1)


def serve_record_only(sock: socket.socket) -> None:
    """Accept and say nothing (the `sink` service: only the connection record matters)."""
    _read_exact(sock, 1)


#: emulations that report each command verb they receive (ServiceSet.commands, the --record file)
LOGGING_HANDLERS: Mapping[str, Callable[[socket.socket, Callable[[str], None]], None]] = {
    "ftp": serve_ftp,
    "ftp_anon": lambda sock, log: serve_ftp(sock, log, anonymous=True),
}

HANDLERS: Mapping[str, Handler] = {
    "ftp": serve_ftp,
    "ftp_anon": lambda sock: serve_ftp(sock, anonymous=True),
    "ssh": serve_ssh,
    "telnet": serve_telnet,
    "smb": serve_smb,
    "rdp": serve_rdp,
    "redis": serve_redis,
    "vnc": serve_vnc,
    "synology": _http_page("Synology DiskStation - MAIRIE-NAS", "nginx"),
    # nmap cannot name an HTTP server whose Server header it does not know ("pve-api-daemon"): it then
    # runs every probe to the end (~50 s). The emulation says "nginx", a common reverse proxy there.
    "proxmox": _http_page("Proxmox Virtual Environment", "nginx"),
    "sink": serve_record_only,
}


# --- listeners ----------------------------------------------------------------------------------


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(
        self, address: tuple[str, int], service: str, record: Callable[[str, int, str], None]
    ) -> None:
        # `record` is also called with "service VERB" for each command of a logging emulation
        self.service = service
        self.record = record
        super().__init__(address, _Handler)


class _Handler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        server = self.server
        assert isinstance(server, _Server)
        sock: socket.socket = self.request
        peer = self.client_address[0] if isinstance(self.client_address, tuple) else "?"
        server.record(str(peer), int(server.server_address[1]), server.service)
        sock.settimeout(IO_TIMEOUT)
        port = int(server.server_address[1])
        with contextlib.suppress(OSError, ValueError):  # a scanner hanging up mid-greeting is normal
            logging = LOGGING_HANDLERS.get(server.service)
            if logging is not None:
                logging(sock, lambda verb: server.record(str(peer), port, f"{server.service} {verb}"))
            else:
                HANDLERS[server.service](sock)


class ServiceSet:
    """A set of emulated services bound on one address, each in its own thread; `stop()` closes all."""

    def __init__(self, address: str, record_path: str | None = None) -> None:
        self.address = address
        self.ports: dict[str, int] = {}
        self.connections: list[tuple[str, int, str]] = []
        #: (peer, port, "service VERB") for each command an FTP emulation received
        self.commands: list[tuple[str, int, str]] = []
        self._servers: list[_Server] = []
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._record_path = record_path

    @classmethod
    def start(cls, address: str, services: Mapping[str, int], record_path: str | None = None) -> ServiceSet:
        """Bind every `name: port` (0 = any free port) on `address`, or raise OSError having bound none."""
        unknown = set(services) - set(HANDLERS)
        if unknown:
            raise ValueError(f"unknown services: {sorted(unknown)} (known: {sorted(HANDLERS)})")
        self = cls(address, record_path)
        try:
            for name, port in services.items():
                server = _Server((address, port), name, self._record)
                self._servers.append(server)
                self.ports[name] = int(server.server_address[1])
        except BaseException:
            self.stop()
            raise
        for server in self._servers:
            thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def _record(self, peer: str, port: int, service: str) -> None:
        with self._lock:
            (self.commands if " " in service else self.connections).append((peer, port, service))
            if self._record_path:
                with open(self._record_path, "a", encoding="utf-8") as log:
                    log.write(f"{peer} {port} {service}\n")

    def stop(self) -> None:
        for server in self._servers:
            if self._threads:
                server.shutdown()
            server.server_close()
        for thread in self._threads:
            thread.join(timeout=5)
        self._servers.clear()
        self._threads.clear()

    def __enter__(self) -> ServiceSet:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


class NetnsHost:
    """A network namespace joined to the root namespace by a veth pair, for tests and benchmarks.

    `root_cidr` goes on the root side, `ns_cidr` on the namespace side; `extra` addresses (/32) go on
    the namespace's loopback and are routed from the root namespace through the pair. IPv6 is off on
    both ends so that nothing but our own traffic crosses the link. Needs root and `ip`; every
    namespace, link and process created here is removed by `close()` (also on partial setup).
    """

    def __init__(self, name: str, root_cidr: str, ns_cidr: str, extra: Sequence[str] = ()) -> None:
        self.name = name
        self.link = f"v{name}"[:15]
        self.address = ns_cidr.split("/")[0]
        self.extra = list(extra)
        self._processes: list[subprocess.Popen[str]] = []
        self._routes: list[str] = []
        peer = f"{self.link[:13]}p"
        atexit.register(self.close)  # a crashed test or benchmark still removes what it created
        try:
            _ip("netns", "add", name)
            _ip("link", "add", self.link, "type", "veth", "peer", "name", peer, "netns", name)
            _sysctl(None, f"net.ipv6.conf.{self.link}.disable_ipv6=1")
            _ip("addr", "add", root_cidr, "dev", self.link)
            _ip("link", "set", self.link, "up")
            _sysctl(name, "net.ipv6.conf.all.disable_ipv6=1")
            _ip("-n", name, "addr", "add", ns_cidr, "dev", peer)
            _ip("-n", name, "link", "set", peer, "up")
            _ip("-n", name, "link", "set", "lo", "up")
            for address in self.extra:
                _ip("-n", name, "addr", "add", f"{address}/32", "dev", "lo")
                _ip("route", "add", f"{address}/32", "via", self.address)
                self._routes.append(address)
            self.peer = peer
        except BaseException:
            self.close()
            raise

    def serve(self, services: Mapping[str, int], bind: str = "0.0.0.0", record: str | None = None) -> None:
        """Run `python -m cyberscan.demo.services` inside the namespace; return once it is listening."""
        command = ["ip", "netns", "exec", self.name, sys.executable, "-m", "cyberscan.demo.services"]
        command += ["--bind", bind] + [f"--service={n}={p}" for n, p in services.items()]
        command += ["--record", record] if record else []
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self._processes.append(process)
        assert process.stdout is not None
        ready = select.select([process.stdout], [], [], 15)[0]
        line = process.stdout.readline() if ready else ""
        if not line.startswith("READY"):
            process.kill()
            _, err = process.communicate(timeout=5)
            raise RuntimeError(f"services did not start in {self.name}: {err.strip()[-500:]}")

    def rx_packets(self) -> int:
        """Packets received by the namespace side of the veth pair."""
        out = subprocess.run(
            ["ip", "-n", self.name, "-s", "-j", "link", "show", self.peer],
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout
        return int(json.loads(out)[0]["stats64"]["rx"]["packets"])

    def close(self) -> None:
        for process in self._processes:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(timeout=5)
            for stream in (process.stdout, process.stderr):
                if stream is not None:
                    stream.close()
        self._processes.clear()
        for address in self._routes:
            _ip("route", "del", f"{address}/32", check=False)
        self._routes.clear()
        _ip("link", "del", self.link, check=False)  # deleting one end removes the pair
        _ip("netns", "del", self.name, check=False)

    def __enter__(self) -> NetnsHost:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def netns_unavailable() -> str | None:
    """Why NetnsHost cannot work here (None when it can)."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return "network namespaces need root"
    if shutil.which("ip") is None:
        return "the `ip` command (iproute2) is missing"
    return None


def _ip(*args: str, check: bool = True) -> None:
    result = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=10)
    if check and result.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {result.stderr.strip()}")


def _sysctl(namespace: str | None, setting: str) -> None:
    prefix = ["ip", "netns", "exec", namespace] if namespace else []
    subprocess.run([*prefix, "sysctl", "-q", "-w", setting], capture_output=True, timeout=10)


def parse_service_specs(specs: list[str]) -> dict[str, int]:
    """`name` or `name=port` items -> {name: port}; `all` expands to every emulation on its default port."""
    chosen: dict[str, int] = {}
    for spec in specs:
        name, _, port = spec.partition("=")
        if name == "all":
            chosen.update(DEFAULT_PORTS)
            continue
        chosen[name] = int(port) if port else DEFAULT_PORTS.get(name, 0)
    return chosen


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m cyberscan.demo.services", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--bind", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument(
        "--service", action="append", default=[], help="name[=port], repeatable; 'all' = every emulation"
    )
    parser.add_argument(
        "--record", help="append 'peer port service' per accepted connection (and FTP command) to this file"
    )
    args = parser.parse_args(argv)
    services = parse_service_specs(args.service or ["all"])
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    with ServiceSet.start(args.bind, services, args.record) as running:
        print("READY " + " ".join(f"{n}={p}" for n, p in running.ports.items()), flush=True)
        while not stop.wait(0.5):
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
