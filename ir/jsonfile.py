"""JSON documents qsel writes beside the IR (result.json, manifest.json, target files).

``write_json`` writes indented JSON atomically and refuses NaN/Inf;
``read_document`` reads one back and checks its ``"format"`` and ``"version"``
fields, so every reader fails the same clear way on a missing, unreadable,
malformed or foreign file.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from .errors import QselError
from .io import atomic_write


def write_json(path: str | os.PathLike, data: Any) -> None:
    """Indented JSON, atomically (temporary file then rename); NaN or Inf is an error."""
    text = json.dumps(data, indent=1, allow_nan=False)
    with atomic_write(path, "w") as fh:
        fh.write(text + "\n")


def read_document(path: str | os.PathLike, fmt: str, version: int, what: str) -> dict:
    """The JSON object in ``path``, checked to say ``"format": fmt`` and ``"version": version``."""
    where = str(path)
    try:
        d = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise QselError(f"{where}: no such file") from None
    except IsADirectoryError:
        raise QselError(f"{where}: is a folder, expected a {what} file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise QselError(f"{where}: cannot read: {exc}") from None
    except json.JSONDecodeError as exc:
        raise QselError(f"{where}:{exc.lineno}:{exc.colno}: not valid JSON ({exc.msg})") from None
    if not isinstance(d, dict) or d.get("format") != fmt:
        raise QselError(f"{where}: not a {what} (expected \"format\": \"{fmt}\")")
    if d.get("version") != version:
        raise QselError(f"{where}: {what} version {d.get('version')} is not supported (expected {version})")
    return d
