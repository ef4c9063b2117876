"""EXT-WEB-LEGAL-NOTICE: the homepage links to the legal notice public websites must publish (LCEN art. 6)."""

from __future__ import annotations

import re
from collections.abc import Iterator

from cyberscan import Check, FactBag, Finding, Status
from cyberscan.collectors.http_facts import HttpFacts

_PATTERN = re.compile(r"mentions[\s-]+l[ée]gales", re.IGNORECASE)


class LegalNoticeLinked(Check):
    """PASS: the homepage mentions « mentions légales ». WARN: it does not. N/A: no page fetched."""

    id = "EXT-WEB-LEGAL-NOTICE"
    requires = (HttpFacts,)

    def evaluate(self, facts: FactBag) -> Iterator[Finding]:
        hosts = [h for h in facts.get(HttpFacts).hosts if h.https or h.http]
        for host in hosts:
            chain = host.https if host.https and host.https.final and host.https.final.ok else host.http
            final = chain.final if chain else None
            if final is None or not final.ok:
                yield self.finding(Status.NOT_APPLICABLE, host.host, "no_page", host=host.host)
            elif _PATTERN.search(final.body):
                yield self.finding(Status.PASS, final.url, "found", url=final.url)
            else:
                yield self.finding(Status.WARN, final.url, "missing", url=final.url)
        if not hosts:
            yield self.finding(Status.NOT_APPLICABLE, self.target.name, "no_page", host=self.target.name)


CHECKS = [LegalNoticeLinked]
