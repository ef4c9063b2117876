"""Reference data files checks rely on (e.g. the known-exploited catalogue): packaged, updatable per user."""

from __future__ import annotations

import json
import os
import tempfile
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any


class DataFileError(ValueError):
    """A data file cannot be read, parsed or installed."""


class DataUnavailable(str):
    """Handed to a check instead of its data when the file could not be loaded: the text says why."""


def user_data_dir() -> Path:
    """Where `cyberscan data update` installs files: $CYBERSCAN_DATA_DIR, else the XDG data directory."""
    explicit = os.environ.get("CYBERSCAN_DATA_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "cyberscan"


def _check_name(name: str) -> None:
    if not name or "/" in name or "\\" in name or name.startswith("."):
        raise DataFileError(f"invalid data file name {name!r}")


@cache
def load_data(name: str) -> tuple[Any, str]:
    """(parsed JSON, where it came from): the user's updated copy when there is one, else the packaged one.

    Read once per process: checks stay pure, the engine hands the content in as a parameter.
    """
    _check_name(name)
    user_copy = user_data_dir() / name
    try:
        if user_copy.is_file():
            return json.loads(user_copy.read_text(encoding="utf-8")), str(user_copy)
        text = resources.files("cyberscan").joinpath(f"data/{name}").read_text(encoding="utf-8")
        return json.loads(text), f"packaged {name}"
    except FileNotFoundError:
        raise DataFileError(f"no data file {name!r} in the package") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataFileError(f"cannot read data file {name}: {exc}") from None


def install_data(name: str, data: Any) -> Path:
    """Write `data` (already validated) as the user's copy of `name`, atomically."""
    _check_name(name)
    directory = user_data_dir()
    directory.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, ensure_ascii=False, indent=2)
            handle.write("\n")
        os.replace(tmp, directory / name)  # readers see the old file or the new one, never half of it
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    load_data.cache_clear()
    return directory / name
