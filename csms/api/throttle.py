"""Throttling guesses at the API: failed logins and bearer tokens (issue 18, item 8).

Per source address and, for logins, per account (a keyed hash of the login, so that no
email address is held even in memory): past ``CSMS_RATE_LIMIT_LOGIN`` the answer is 429
with ``Retry-After``, before any password is checked (a wrong bearer token: instead of
401; a valid token always works). The 10-wrong-passwords pause of an
account (csms.domain.people.accounts) stays as it was; this limit also covers spraying many
accounts from one source, and tokens guessed against every route.
"""

from __future__ import annotations

import hashlib
import math

from fastapi import Request

from csms.api.errors import ApiError
from csms.ratelimit import GuessThrottle

__all__ = ["account_key", "login_throttle", "source_key", "token_failed", "too_many"]


def login_throttle(request: Request) -> GuessThrottle:
    throttle: GuessThrottle = request.app.state.login_throttle
    return throttle


def source_key(request: Request) -> tuple[str, str]:
    return ("source", request.client.host if request.client is not None else "")


def account_key(login: str) -> tuple[str, bytes]:
    return ("account", hashlib.sha256(login.strip().lower().encode()).digest())


def too_many(retry_after: float) -> ApiError:
    seconds = max(1, math.ceil(retry_after))
    return ApiError(
        429,
        f"too many failed attempts: wait {seconds} s before trying again",
        headers={"Retry-After": str(seconds)},
    )


def token_failed(request: Request) -> None:
    """Count a wrong bearer token from the request's source; past the rate, refuse it
    with 429 rather than 401. A valid token is never refused for its source's guesses:
    looking one up costs a keyed hash, and an operator behind the same address as a
    guesser keeps working."""
    throttle = login_throttle(request)
    key = source_key(request)
    wait = throttle.retry_after(key)
    throttle.count_failure(key)
    if wait > 0:
        raise too_many(wait)
