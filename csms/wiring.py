"""Where the csms process is put together with notify: the one module of ``csms`` that
imports ``notify`` (``notify`` builds on ``csms``, never the other way round).

- ``load_settings``: csms's settings with notify's section (email, SMS, payments, the
  outbox: notify/config.py), so that a bad notify key stops start-up and every CLI command
  with the same ``ConfigError``. The CLI and the tests load settings through it.
- ``notify_service``: the outbox worker with every delivery (billing, payment, email, SMS),
  which the server starts beside the gateway; its payment processor is what the server
  hands the HTTP API (``create_app(payments=...)``).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from csms import config
from csms.config import ConfigSection, Settings
from csms.domain.billing.payments import PaymentGateway
from notify.config import SECTION as NOTIFY_SECTION

if TYPE_CHECKING:
    from storage.database import Database

__all__ = ["CONFIG_SECTIONS", "NotifyService", "load_settings", "notify_service"]

#: The settings of other packages, parsed from their own keys.
CONFIG_SECTIONS: tuple[ConfigSection, ...] = (NOTIFY_SECTION,)


def load_settings(
    env: Mapping[str, str] | None = None, *, config_file: Path | None = None
) -> Settings:
    """The process's settings (``csms.config.load_settings`` with ``CONFIG_SECTIONS``)."""
    return config.load_settings(env, config_file=config_file, sections=CONFIG_SECTIONS)


class NotifyService(Protocol):
    """What the server runs of notify: started after the gateway, stopped after it."""

    @property
    def gateway(self) -> PaymentGateway | None:
        """The payment processor (None: card payments are not configured)."""
        ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


def notify_service(db: Database, settings: Settings) -> NotifyService:
    """The outbox worker and its deliveries over ``db``, configured by ``settings``."""
    from notify.service import Billing

    return Billing(db, settings)
