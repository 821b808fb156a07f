"""The HTTP API for the CLI, station owners and the driver app (``/api/app``)."""

from __future__ import annotations

from csms.api.app import create_app

__all__ = ["create_app"]
