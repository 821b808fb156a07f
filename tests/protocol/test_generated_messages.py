"""The typed messages (protocol/messages/v16.py, v201.py) match the schemas ocpp ships now."""

from __future__ import annotations

import json
from importlib import import_module
from importlib.resources import files
from types import ModuleType
from typing import Any, is_typeddict

import pytest

from protocol import OCPPVersion, validator_for
from protocol.messages import generate

MODULES = {OCPPVersion.V16: "protocol.messages.v16", OCPPVersion.V201: "protocol.messages.v201"}
REQUEST_FILE = {OCPPVersion.V16: "{}.json", OCPPVersion.V201: "{}Request.json"}


def module(version: OCPPVersion) -> ModuleType:
    return import_module(MODULES[version])


def schema(version: OCPPVersion, file_name: str) -> dict[str, Any]:
    folder = "v16" if version is OCPPVersion.V16 else "v201"
    path = files("ocpp").joinpath(folder, "schemas", file_name)
    loaded: dict[str, Any] = json.loads(path.read_text(encoding="utf-8-sig"))
    return loaded


@pytest.mark.parametrize("version", list(OCPPVersion))
def test_the_committed_module_is_what_the_generator_writes_now(version: OCPPVersion) -> None:
    committed = generate.TARGETS[version].read_text(encoding="utf-8")
    assert generate.render(version) == committed, (
        f"{generate.TARGETS[version].name} is stale: run `make generate` and commit it"
    )


@pytest.mark.parametrize("version", list(OCPPVersion))
def test_every_action_of_the_schema_folder_has_its_request_and_response(
    version: OCPPVersion,
) -> None:
    actions = validator_for(version).actions
    assert set(generate.schema_actions(version)) == actions
    messages = module(version)
    for action in actions:
        for suffix in ("Request", "Response"):
            message = getattr(messages, f"{action}{suffix}", None)
            assert message is not None, f"{action}{suffix} is missing"
            assert is_typeddict(message)
            assert f"{action}{suffix}" in messages.__all__


def test_the_1_6_security_extension_is_included() -> None:
    messages = module(OCPPVersion.V16)
    for action in ("SignCertificate", "SecurityEventNotification", "CertificateSigned"):
        assert is_typeddict(getattr(messages, f"{action}Request"))
        assert is_typeddict(getattr(messages, f"{action}Response"))


@pytest.mark.parametrize("version", list(OCPPVersion))
def test_required_and_optional_keys_follow_the_schemas(version: OCPPVersion) -> None:
    messages = module(version)
    for action in validator_for(version).actions:
        for suffix, file_name in (
            ("Request", REQUEST_FILE[version].format(action)),
            ("Response", f"{action}Response.json"),
        ):
            loaded = schema(version, file_name)
            message = getattr(messages, f"{action}{suffix}")
            assert message.__required_keys__ == frozenset(loaded.get("required", ()))
            assert message.__required_keys__ | message.__optional_keys__ == frozenset(
                loaded.get("properties", {})
            )


def test_nested_types_and_enumerations_are_named_after_their_definitions() -> None:
    v201 = module(OCPPVersion.V201)
    boot = v201.BootNotificationRequest.__annotations__
    assert boot["chargingStation"].__args__ == (v201.ChargingStationType,)
    assert v201.ChargingStationType.__required_keys__ == frozenset({"model", "vendorName"})
    assert "PowerUp" in v201.BootReasonEnumType.__args__
    v16 = module(OCPPVersion.V16)
    assert v16.StartTransactionResponse.__annotations__["idTagInfo"].__args__ == (v16.IdTagInfo,)
    assert "ConcurrentTx" in v16.IdTagInfoStatus.__args__


def test_the_check_mode_reports_no_stale_file() -> None:
    assert generate.main(["--check"]) == 0
