"""File modes of what csms keeps on disk (issue 18, item 9).

``$CSMS_HOME`` holds the admin token, the data keys and usually the SQLite database:
nobody but the user csms runs as has anything to read there. So the home directory is
created 0700 and the SQLite file 0600 (SQLite gives its ``-wal`` and ``-shm`` files the
mode of the database file). A home or database file found with looser modes (made by an
earlier version, or by hand) is tightened at start, with a warning saying so.
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat
from pathlib import Path

__all__ = ["secure_directory", "secure_sqlite_file"]

log = logging.getLogger(__name__)

_DIRECTORY_MODE = 0o700
_FILE_MODE = 0o600


def _tighten(path: Path, mode: int) -> None:
    try:
        current = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return
    if current & 0o077:
        try:
            path.chmod(current & ~0o077 & 0o7777 | (mode & 0o700))
        except OSError as exc:
            log.warning(
                "%s can be read by other users (mode %o) and could not be restricted: %s",
                path,
                current,
                exc,
            )
            return
        log.warning(
            "%s could be read by other users (mode %o): restricted to %o",
            path,
            current,
            stat.S_IMODE(path.stat().st_mode),
        )


def secure_directory(path: Path, *, tighten: bool = True) -> None:
    """Create ``path`` (and missing parents) mode 0700; with ``tighten``, take group and
    other permissions away from an existing one (with a warning)."""
    if not path.exists():
        path.mkdir(parents=True, exist_ok=True, mode=_DIRECTORY_MODE)
        with contextlib.suppress(OSError):  # the mode is masked by the umask: set it
            path.chmod(_DIRECTORY_MODE)
    elif tighten:
        _tighten(path, _DIRECTORY_MODE)


def secure_sqlite_file(database: str | Path) -> None:
    """Create the SQLite file ``database`` mode 0600 if it does not exist yet (its
    directory 0700 if that does not exist either); restrict an existing one and its
    ``-wal``/``-shm`` files to 0600 (with a warning)."""
    path = Path(database)
    secure_directory(path.parent, tighten=False)  # (someone else's directory: left alone)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, _FILE_MODE)
    except FileExistsError:
        pass
    else:
        os.close(fd)  # an empty file is an empty SQLite database
    for candidate in (path, Path(f"{path}-wal"), Path(f"{path}-shm"), Path(f"{path}-journal")):
        _tighten(candidate, _FILE_MODE)
