"""How a delivery to an outside service (mail server, SMS gateway, payment processor) failed.

The outbox worker retries a ``DeliveryError`` with backoff unless it is ``permanent`` (the
receiver refused the request itself: a bad address, a rejected API key); a permanent
failure goes straight to the ``failed`` state, where an operator sees it
(``csms outbox list --failed``) and can retry it once the cause is fixed.

Messages never carry personal data or secrets: they end up in the logs and in
``csms outbox list``.
"""

from __future__ import annotations

__all__ = ["DeliveryError"]


class DeliveryError(Exception):
    """A delivery did not happen (or it is unknown whether it did: a timeout)."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent
