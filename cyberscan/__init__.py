"""cyberscan: audit the public Internet exposure of French local governments."""

from .metadata import CheckMeta, Localized, Reference
from .models import ErrorInfo, ErrorKind, Finding, Severity, Status
from .plugin import Check, Collector, CollectorContext, CollectorError, FactBag, Facts
from .scope import ProbeLevel

__version__ = "0.1.0"

__all__ = [
    "Check",
    "CheckMeta",
    "Collector",
    "CollectorContext",
    "CollectorError",
    "ErrorInfo",
    "ErrorKind",
    "FactBag",
    "Facts",
    "Finding",
    "Localized",
    "ProbeLevel",
    "Reference",
    "Severity",
    "Status",
    "__version__",
]
