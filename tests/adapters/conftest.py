"""Fixtures of the adapter tests: a command router that records what it is asked to send."""

from __future__ import annotations

import pytest

from tests.fakes.router import RecordingRouter


@pytest.fixture
def router() -> RecordingRouter:
    return RecordingRouter()
