"""Security profiles at the handshake: what a connection must show for a charger's profile,
and raising the profile once the charger has connected with a higher one.

| profile | transport | the charger proves itself by |
|---|---|---|
| 1 | ws or wss | HTTP Basic auth |
| 2 | wss only (TLS 1.2+) | HTTP Basic auth |
| 3 | wss only | a client certificate (verified in the TLS handshake) whose subject CN is the
  charger's identity |

(1.6 security whitepaper edition 3, "Security profiles"; 2.0.1 part 2 A00.) The
password is the gateway's check; :func:`profile_refusal` is the rest. A charger told to
move to a higher profile (``pending_security_profile``: 2.0.1 A05, the whitepaper's
profile upgrade) may still connect at its current one; the first connection that
satisfies the higher one makes it the required profile, and lower ones are refused from
then on (the downgrade protection both specifications ask of the CSMS).
"""

from __future__ import annotations

from datetime import datetime

from storage.ports import UnitOfWork

__all__ = [
    "CONNECTION_REFUSED_EVENT",
    "PROFILE_RAISED_EVENT",
    "profile_refusal",
    "raise_security_profile",
]

#: security_events kind of a handshake refused for the charger's profile (details:
#: ``reason``, ``source``, ``transport``; never credentials).
CONNECTION_REFUSED_EVENT = "ConnectionRefused"
#: security_events kind of a profile raised by a connection (details: ``from``, ``to``).
PROFILE_RAISED_EVENT = "SecurityProfileRaised"


def profile_refusal(
    profile: int, *, tls: bool, certificate_identity: str | None, identity: str
) -> str | None:
    """Why a connection does not satisfy ``profile`` (apart from the password), or None.

    ``certificate_identity`` is the subject CN of the client certificate the TLS
    handshake verified (None: no TLS, or no certificate)."""
    if profile <= 1:
        return None
    if not tls:
        return f"profile {profile} requires TLS (wss://)"
    if profile == 2:
        return None
    if certificate_identity is None:
        return "profile 3 requires a client certificate"
    if certificate_identity != identity:
        shown = certificate_identity[:64]
        return f"profile 3: the client certificate is for {shown!r}, not for this charger"
    return None


def raise_security_profile(uow: UnitOfWork, charger_id: str, *, to: int, now: datetime) -> bool:
    """Make ``to`` (the charger's pending profile, which it has just connected with) its
    required profile and record it as a security event; False when it is no longer the
    pending one (an operator changed it meanwhile)."""
    charger = uow.chargers.get(charger_id)
    if charger is None or charger.pending_security_profile != to:
        return False
    previous = charger.security_profile
    if to <= previous:
        uow.chargers.update(charger_id, pending_security_profile=None)
        return False
    uow.chargers.update(charger_id, security_profile=to, pending_security_profile=None)
    uow.security_events.add(
        kind=PROFILE_RAISED_EVENT,
        details={"from": previous, "to": to},
        created_at=now,
        charger_id=charger_id,
    )
    return True
