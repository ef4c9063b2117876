"""Shared pieces of the fleet tests: a loopback web server whose sites can be switched, and inventories."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from pathlib import Path

from cyberscan.demo.webserver import LocalWebServer, Route, Site

HSTS = ("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
REDIRECT = Route(301, (("Location", "{https_origin}{path}"),), b"")


def site(domain: str, hsts: bool = True, delay: float = 0.0) -> Site:
    """A commune web site on apex and www: HTTPS with or without HSTS, HTTP redirecting to HTTPS."""
    headers = (HSTS,) if hsts else ()
    return Site(
        hosts=(domain, f"www.{domain}"),
        routes={"/": Route(200, (("Content-Type", "text/html"), *headers), b"<p>mairie</p>", delay=delay)},
        http_routes={},
        http_default=REDIRECT,
    )


class SwitchableServer(LocalWebServer):
    """A LocalWebServer whose sites can be replaced between runs, timing every request it answers."""

    def __init__(self, sites: Sequence[Site], **kwargs: object) -> None:
        super().__init__(sites, **kwargs)  # type: ignore[arg-type]
        self.overrides: dict[str, Site] = {}
        self.times: list[tuple[str, float]] = []
        self._times_lock = threading.Lock()

    def switch(self, new: Site) -> None:
        for host in new.hosts:
            self.overrides[host] = new

    def site_for(self, host: str) -> Site | None:
        with self._times_lock:
            self.times.append((host, time.monotonic()))
        return self.overrides.get(host) or super().site_for(host)

    def count(self, host: str) -> int:
        return sum(1 for r in self.requests if r.host == host)


def write_config(directory: Path, server: LocalWebServer, resolver_port: int, names: Sequence[str]) -> Path:
    """The syndicat's shared cyberscan configuration: every name pinned to loopback, short timeouts."""
    hosts = "\n".join(f'"{n}" = "127.0.0.1"\n"www.{n}" = "127.0.0.1"' for n in names)
    path = directory / "cyberscan.toml"
    path.write_text(
        f'[scan]\ntimeout = 1.0\ndeadline = 20\njobs = 2\nresolver = "127.0.0.1:{resolver_port}"\n'
        f'ca_bundle = "{server.ca_pem_path}"\n\n[hosts]\n{hosts}\n\n'
        f"[collectors.http]\nmax_rps = 0.0\nhttp_port = {server.http_port}\n"
        f"https_port = {server.https_port}\n",
        encoding="utf-8",
    )
    return path


def write_inventory(
    directory: Path, communes: Sequence[tuple[str, str, Sequence[str]]], extra: str = ""
) -> Path:
    """An inventory of (name, insee, domains) communes using ./cyberscan.toml."""
    lines = ['[syndicat]\nname = "Syndicat de test"\nconfig = "cyberscan.toml"\n']
    for name, insee, domains in communes:
        quoted = ", ".join(f'"{d}"' for d in domains)
        lines.append(
            f'[[communes]]\nname = "{name}"\ninsee = "{insee}"\npopulation = 900\n'
            f'domains = [{quoted}]\ncontacts = ["mairie@{domains[0]}"]\npublish = true\n{extra}'
        )
    path = directory / "inventaire.toml"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path
