"""Engine-level messages (shared by every check) and the fr/en text of findings."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .metadata import CheckMeta, Localized

#: Message IDs every check can emit without declaring them in its metadata.
ENGINE_MESSAGES: Mapping[str, Localized] = {
    "error": Localized(
        fr="Le scanner n'a pas pu conclure : {detail}",
        en="The scanner could not decide: {detail}",
    ),
    "no_address": Localized(
        fr="{host} n'a aucune adresse IP dans le DNS : il n'y a rien à évaluer sous ce nom.",
        en="{host} has no IP address in DNS: there is nothing to assess under this name.",
    ),
    "no_service": Localized(
        fr="Aucun service n'écoute sur {endpoint} (port fermé ou filtré) : rien à évaluer sur cette adresse.",
        en="No service listens on {endpoint} (port closed or filtered): nothing to assess on this address.",
    ),
    "starttls_refused": Localized(
        fr="{endpoint} refuse STARTTLS : ce service ne parle pas TLS, il n'y a pas de TLS à évaluer ici "
        "(c'est MAIL-STARTTLS qui le signale).",
        en="{endpoint} refuses STARTTLS: this service speaks no TLS, there is no TLS to assess here "
        "(MAIL-STARTTLS reports it).",
    ),
    "out_of_scope": Localized(
        fr="Non testé : {host} est hors du périmètre déclaré (--scope), seules les vérifications "
        "passives sont permises.",
        en="Not tested: {host} is outside the declared scope (--scope); only passive checks are allowed.",
    ),
}


def message_template(meta: CheckMeta | None, message_id: str) -> Localized | None:
    """The template of `message_id`: the check's own, else an engine message."""
    if meta is not None and message_id in meta.messages:
        return meta.messages[message_id]
    return ENGINE_MESSAGES.get(message_id)


def render_message(meta: CheckMeta | None, message_id: str, params: Mapping[str, Any], lang: str) -> str:
    """Fill a message template; a missing template or parameter never raises at report time."""
    template = message_template(meta, message_id)
    if template is None:
        return f"[{message_id}] " + ", ".join(f"{k}={v}" for k, v in sorted(params.items()))
    text = template.get(lang)
    try:
        return text.format_map(dict(params))
    except (KeyError, IndexError, ValueError):
        return text


STATUS_LABELS: Mapping[str, Localized] = {
    "pass": Localized("conforme", "pass"),
    "warn": Localized("à améliorer", "warn"),
    "fail": Localized("non conforme", "fail"),
    "info": Localized("information", "info"),
    "not_applicable": Localized("sans objet", "not applicable"),
    "not_tested": Localized("non testé", "not tested"),
    "error": Localized("erreur du scanner", "scanner error"),
}

SEVERITY_LABELS: Mapping[str, Localized] = {
    "critical": Localized("critique", "critical"),
    "high": Localized("élevée", "high"),
    "medium": Localized("moyenne", "medium"),
    "low": Localized("faible", "low"),
    "info": Localized("info", "info"),
}


#: why an address was not probed (`NotProbed.reason`, a code in the JSON report)
NOT_PROBED_REASONS: Mapping[str, Localized] = {
    "out_of_scope": Localized(
        "hors du périmètre déclaré (--scope) : vérifications passives seulement",
        "outside the declared scope (--scope): passive checks only",
    ),
}


def label(table: Mapping[str, Localized], key: str, lang: str) -> str:
    """Localised label of a status or severity value."""
    entry = table.get(key)
    return entry.get(lang) if entry else key
