"""What `[report]` configures: who the report is for, who writes it, and how it grades."""

from __future__ import annotations

from dataclasses import dataclass, field

from .grading import Weights


@dataclass(frozen=True)
class ReportSettings:
    """What `[report]` adds to the report: the commune, the branding and the grading weights."""

    commune: str | None = None
    insee: str | None = None
    organisation: str | None = None
    #: the logo read at load time, as a data: URI (PNG, JPEG or a script-free SVG, at most 200 KB)
    logo_data_uri: str | None = None
    weights: Weights = field(default_factory=Weights)
