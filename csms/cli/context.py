"""What a command handler gets: its arguments, the settings, the output, and the one way
to call the API and print what it answered."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import httpx

from csms.cli.client import EXIT_OK, ApiClient
from csms.cli.output import Column, Output
from csms.config import Settings

__all__ = ["Context", "Handler"]


@dataclass
class Context:
    """One command's run: parsed arguments, settings, where to print, how to reach the API."""

    args: argparse.Namespace
    settings: Settings
    out: Output
    transport: httpx.BaseTransport | None = None
    #: where confirmations are read from (``customers erase`` on a terminal)
    stdin: TextIO = field(default_factory=lambda: sys.stdin)

    def client(self) -> ApiClient:
        """A client of the configured API with the token from the settings or the file."""
        from csms.domain.security.tokens import read_token_file

        settings = self.settings
        token = settings.api.token or read_token_file(settings.admin_token_path)
        client = ApiClient(
            settings.api.url,
            token,
            timeout=settings.ocpp.call_timeout + 15,
            transport=self.transport,
        )
        if token is None:
            home = settings.home
            relative = "" if home.is_absolute() else f", relative to {Path.cwd()}"
            client.no_token_hint = (
                f"no API token: CSMS_API_TOKEN is not set and there is no token file at "
                f"{settings.admin_token_path.absolute()} (CSMS_HOME={home}{relative}); "
                "set CSMS_HOME to the server's data directory, or set CSMS_API_TOKEN "
                "(`csms token create NAME` makes one)"
            )
        return client

    # -- one request each -----------------------------------------------------------

    def get(self, path: str, **params: Any) -> Any:
        """GET ``path`` (parameters that are None left out); its JSON answer."""
        with self.client() as api:
            return api.get(path, **params)

    def get_page(self, path: str, **params: Any) -> tuple[Any, httpx.Headers]:
        """GET a page of a list; its JSON answer and the headers (the next-page cursor)."""
        with self.client() as api:
            return api.get_page(path, **params)

    def get_text(self, path: str, **params: Any) -> str:
        """GET ``path`` whose answer is text (CSV), not JSON."""
        with self.client() as api:
            return api.get_text(path, **params)

    def post(self, path: str, body: dict[str, Any] | None = None) -> Any:
        """POST ``body`` (default ``{}``) to ``path``; its JSON answer."""
        with self.client() as api:
            return api.post(path, body)

    def delete(self, path: str) -> Any:
        """DELETE ``path``; its JSON answer (None when empty)."""
        with self.client() as api:
            return api.delete(path)

    # -- printing what the API answered ---------------------------------------------

    def result(self, value: Any, human: Callable[[Any], str | None]) -> int:
        """Print ``value``: as JSON with ``--json``; else what ``human(value)`` returns
        (when it prints by itself, it returns None). Exit status 0."""
        if self.out.json:
            self.out.data(value)
        else:
            text = human(value)
            if text is not None:
                self.out.line(text)
        return EXIT_OK

    def rows(self, rows: list[dict[str, Any]], columns: list[Column], empty: str) -> int:
        """A list command's output: the rows as JSON with --json, else an aligned table."""
        return self.result(rows, lambda _: self.out.table(rows, columns, empty))

    def confirm(self, question: str) -> bool:
        """Ask ``question`` on stderr; True when the answer read is y or yes."""
        self.out.err.write(f"{question} [y/N] ")
        self.out.err.flush()
        answer = self.stdin.readline()
        return answer.strip().lower() in ("y", "yes")


#: A command's handler: returns the exit status.
Handler = Callable[[Context], int]
