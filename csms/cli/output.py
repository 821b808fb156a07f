"""What the CLI prints: JSON for machines, aligned tables and ``key: value`` lines for
people, and the small formatters the views share (times, kWh, money)."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from csms.cli.client import CliError

__all__ = [
    "Column",
    "Output",
    "cell",
    "cost",
    "field",
    "kwh",
    "money",
    "so_far",
    "time_field",
    "when",
    "write_private_file",
]

#: A table column: its header and how to get its value out of a row.
Column = tuple[str, Callable[[dict[str, Any]], Any]]


@dataclass
class Output:
    """Where a command writes: ``out`` (stdout) for results, ``err`` for notes."""

    json: bool
    out: TextIO
    err: TextIO

    def data(self, value: Any) -> None:
        """``value`` as indented JSON."""
        self.out.write(json.dumps(value, indent=2, ensure_ascii=False) + "\n")

    def line(self, text: str = "") -> None:
        self.out.write(text + "\n")

    def note(self, text: str) -> None:
        """A line on stderr (``--json`` output on stdout stays clean)."""
        self.err.write(text + "\n")

    def table(self, rows: list[dict[str, Any]], columns: list[Column], empty: str) -> None:
        """``rows`` as an aligned table under the columns' headers; ``empty`` if none."""
        if not rows:
            self.line(empty)
            return
        cells = [[cell(get(row)) for _, get in columns] for row in rows]
        widths = [max(len(h), *(len(r[i]) for r in cells)) for i, (h, _) in enumerate(columns)]
        self.line("  ".join(h.ljust(w) for (h, _), w in zip(columns, widths, strict=True)).rstrip())
        for r in cells:
            self.line("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())

    def fields(self, pairs: list[tuple[str, Any]]) -> None:
        """One ``key: value`` line a pair, the values aligned."""
        width = max(len(k) for k, _ in pairs)
        for key, value in pairs:
            self.line(f"{key + ':':<{width + 1}} {cell(value)}")


def cell(value: Any) -> str:
    """A value as a table shows it: ``-`` for none, ``yes``/``no`` for booleans."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def field(name: str) -> Callable[[dict[str, Any]], Any]:
    """A column's getter: the row's ``name``."""
    return lambda row: row.get(name)


def time_field(name: str) -> Callable[[dict[str, Any]], Any]:
    """A column's getter: the row's timestamp ``name``, shortened by :func:`when`."""
    return lambda row: when(row.get(name))


def when(value: str | None) -> str | None:
    """``2024-05-01T10:00:03.123456Z`` → ``2024-05-01 10:00:03Z``."""
    if not value:
        return None
    text = value.replace("T", " ")
    if "." in text:
        text = text.split(".", 1)[0] + "Z"
    return text


def kwh(wh: int | None) -> str | None:
    """Watt-hours as kWh with three decimals."""
    return None if wh is None else f"{wh / 1000:.3f}"


def cost(value: dict[str, Any] | None) -> str | None:
    """An API amount ``{"amount": "3.12", "currency": "EUR"}`` → ``3.12 EUR``."""
    return f"{value['amount']} {value['currency']}" if value else None


def so_far(text: str | None) -> str | None:
    """A running session's figure (energy, cost until now)."""
    return f"{text} so far" if text else None


def money(row: dict[str, Any], name: str = "total") -> str | None:
    """The row's amount ``name`` in the row's ``currency``."""
    value = row.get(name)
    return None if value is None else f"{value} {row['currency']}"


def write_private_file(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` readable by its owner only (mode 0600), atomically."""
    directory = path.parent if str(path.parent) else Path(".")
    try:
        fd, tmp_name = tempfile.mkstemp(dir=directory, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise CliError(
            f"cannot write {path}: {exc.strerror}; check that the folder exists"
        ) from None
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            os.chmod(tmp, 0o600)  # (mkstemp makes it 0600 already; say so explicitly)
            file.write(text)
        os.replace(tmp, path)
    except OSError as exc:
        raise CliError(f"cannot write {path}: {exc.strerror}") from None
    finally:
        tmp.unlink(missing_ok=True)
