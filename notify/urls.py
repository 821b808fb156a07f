"""The checks ``CSMS_SMTP_URL`` and ``CSMS_SMS_URL`` share.

Both URLs carry a password (the SMTP login, the gateway's auth token), so an error names the
setting and what it allows, and never repeats the URL. ``UrlRules`` holds one setting's key,
its allowed forms and schemes; each adapter adds the checks of its own (path, credentials,
query options) on top of what ``split`` returns.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import SplitResult, parse_qsl, urlsplit

__all__ = ["CheckedUrl", "UrlRules"]

#: The longest timeout a URL may ask for, in seconds.
_MAX_TIMEOUT = 3600


@dataclass(frozen=True, slots=True)
class CheckedUrl:
    """A URL that has passed ``UrlRules.split``."""

    parts: SplitResult
    #: Lowercased, one of the rules' schemes.
    scheme: str
    host: str
    #: The port the URL gives (1-65535), None when it gives none.
    port: int | None


@dataclass(frozen=True, slots=True)
class UrlRules:
    """What one URL setting allows."""

    #: The setting, as errors name it (``CSMS_SMTP_URL``).
    key: str
    #: The allowed forms, for the end of every error message.
    expected: str
    #: The schemes allowed, in the order errors list them.
    schemes: tuple[str, ...]

    def invalid(self, problem: str) -> ValueError:
        """The error for ``problem``: the key, the problem and the allowed forms."""
        return ValueError(f"{self.key}: {problem}; expected {self.expected}")

    def split(self, url: str) -> CheckedUrl:
        """``url`` split into its parts, with an allowed scheme, a host and a port (if any)
        from 1 to 65535; raises ``invalid(...)`` otherwise."""
        try:
            parts = urlsplit(url.strip())
        except ValueError:
            raise self.invalid("not a valid URL") from None
        scheme = parts.scheme.lower()
        if scheme not in self.schemes:
            allowed = " or ".join(f"{s}://" for s in self.schemes)
            shown = f"{scheme}://" if scheme.isalnum() else "it"
            raise self.invalid(f"the scheme must be {allowed}, not {shown}")
        if not parts.hostname:
            raise self.invalid("the URL has no host")
        try:
            port = parts.port
        except ValueError:
            raise self.invalid("the port must be a number from 1 to 65535") from None
        if port == 0:
            raise self.invalid("the port must be a number from 1 to 65535")
        return CheckedUrl(parts=parts, scheme=scheme, host=parts.hostname, port=port)

    def query_options(self, query: str) -> Iterator[tuple[str, str]]:
        """The ``KEY=VALUE`` pairs of ``query``, in order; a key given twice is refused when
        it comes up (so the checks of the options before it go first)."""
        if not query:
            return
        try:
            pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=True)
        except ValueError:
            raise self.invalid("the query is not KEY=VALUE&...") from None
        seen: set[str] = set()
        for key, value in pairs:
            if key in seen:
                raise self.invalid(f"the query option {key!r} is given twice")
            seen.add(key)
            yield key, value

    def timeout(self, value: str) -> float:
        """The ``timeout=SECONDS`` option: more than 0, at most an hour."""
        try:
            timeout = float(value)
        except ValueError:
            timeout = -1.0
        if not 0 < timeout <= _MAX_TIMEOUT:
            raise self.invalid("timeout must be a number of seconds, more than 0")
        return timeout
