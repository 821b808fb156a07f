"""The CLI's one way to the csms HTTP API, its exit statuses and its one kind of error.

Every failure a command can meet (the server unreachable, an answer that is not JSON, an
HTTP error status) becomes a :class:`CliError` whose message says what to do;
:func:`csms.cli.main` prints it on stderr and exits with its status.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx

__all__ = ["EXIT_FAILED", "EXIT_OK", "EXIT_USAGE", "ApiClient", "CliError", "segment"]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


class CliError(Exception):
    """A failure to report on stderr; the message says what to do."""

    def __init__(self, message: str, *, exit_code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def segment(value: object) -> str:
    """One URL path segment (``/`` and the like percent-encoded)."""
    return quote(str(value), safe="")


class ApiClient:
    """A thin synchronous client of the csms HTTP API that turns failures into CliErrors."""

    def __init__(
        self,
        base_url: str,
        token: str | None,
        *,
        timeout: float = 45.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._client = httpx.Client(
            base_url=self.base_url,
            headers=headers,
            timeout=httpx.Timeout(timeout, connect=5.0),
            transport=transport,
        )
        self._has_token = token is not None
        #: What a 401 without a token says (where the CLI looked for one).
        self.no_token_hint: str | None = None

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        body: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
    ) -> Any:
        """Send one request; its JSON answer, or None for an empty one."""
        response = self._send(method, path, body=body, params=params)
        if not response.content:
            return None
        return self._json(response)

    def get(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params=params)

    def get_page(self, path: str, **params: Any) -> tuple[Any, httpx.Headers]:
        """A GET whose answer's headers matter too (a page and its next-page cursor)."""
        response = self._send("GET", path, params=params)
        return self._json(response), response.headers

    def get_text(self, path: str, **params: Any) -> str:
        """A GET whose answer is text (a CSV report), not JSON."""
        return self._send("GET", path, params=params).text

    def post(self, path: str, body: dict[str, Any] | None = None) -> Any:
        return self.request("POST", path, body=body if body is not None else {})

    def delete(self, path: str) -> Any:
        return self.request("DELETE", path)

    def _send(
        self,
        method: str,
        path: str,
        *,
        body: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
    ) -> httpx.Response:
        """Send a request (parameters that are None left out); an error status raises."""
        clean = {k: v for k, v in (params or {}).items() if v is not None}
        try:
            response = self._client.request(method, path, json=body, params=clean)
        except httpx.TimeoutException:
            raise CliError(
                f"the csms API at {self.base_url} did not answer in time: "
                "check the server log and try again"
            ) from None
        except httpx.HTTPError as exc:
            raise CliError(
                f"cannot reach the csms API at {self.base_url}: is `csms serve` running? "
                f"(set CSMS_API_URL) [{type(exc).__name__}]"
            ) from None
        if response.status_code >= 400:
            raise CliError(self._error_message(response))
        return response

    def _json(self, response: httpx.Response) -> Any:
        try:
            return response.json()
        except ValueError:
            raise CliError(
                f"{self.base_url} answered with something that is not JSON: "
                "is CSMS_API_URL pointing at the csms API?"
            ) from None

    def _error_message(self, response: httpx.Response) -> str:
        try:
            data = response.json()
            message = str(data.get("error") or data.get("detail") or data)
        except (ValueError, AttributeError):
            message = response.text.strip()[:200] or response.reason_phrase
        if response.status_code == 401 and not self._has_token:
            if self.no_token_hint is not None:
                return self.no_token_hint
            return (
                "no API token: set CSMS_API_TOKEN, or run `csms serve` once so that it "
                "writes $CSMS_HOME/admin.token"
            )
        return message
