"""Payload validation against the official OCPP JSON schemas, compiled once per process.

The schemas are the ones the ``ocpp`` package ships (``ocpp/v16/schemas/<Action>.json``
and ``<Action>Response.json``; ``ocpp/v201/schemas/<Action>Request.json`` and
``<Action>Response.json``). Each is compiled with ``fastjsonschema`` into a Python
function the first time its action is used, then cached for the life of the process
(about 20x faster than the ``jsonschema`` validator the ``ocpp`` package uses); valid
payloads are recognised by ``jsonschema_rs`` first, ten times faster again (see
``_two_stage``).

How the schemas are read:

* Integers are JSON integers: every schema is compiled with draft-04 semantics, so
  ``1.0`` is not accepted where the schema says ``integer`` (draft-06, which the 2.0.1
  schemas declare, would let it through and hand the application a ``float``). The
  schemas use no keyword whose meaning differs between the two drafts otherwise.
* ``default`` values in the schemas are not filled in: the payload the application
  receives is exactly what the peer sent.
* ``date-time`` is RFC 3339 (``T`` separator, any number of fractional digits, a real
  calendar day) where the offset may be left out: ``2026-11-22T10:00:00Z``,
  ``2026-11-22T10:00:00.123+02:00`` and ``2026-11-22T10:00:00`` pass,
  ``2026-02-30T10:00:00Z`` and ``2026-11-22 10:00:00Z`` do not. The specs want an offset,
  but firmware in the field sends UTC times without one, and refusing a StopTransaction
  for that would make the charger drop it after its retries: the application reads such
  a time as UTC.
* ``multipleOf: 0.1`` (1.6 charging schedules) is checked in decimal, so ``21.4`` passes.
* The 1.6 schemas' ``"additionalProperties": false`` on string properties is harmless.
* Numbers are range-checked at the edge, because storage cannot hold every number JSON
  can write (a connectorId of 2^63 used to reach the database and fail there with an
  InternalError and a traceback): every ``integer`` without bounds of its own gets the
  32-bit range of the specs' integer type (2.0.1 part 2 §2.1.3; 1.6 chargers use 32 bits
  in practice), every ``number`` ±2^53 (its integer part is then exact; a meter value
  of ``1e308`` is refused). Such a number breaks ``minimum``/``maximum``: 2.0.1 answers
  ``PropertyConstraintViolation`` as for any bound, 1.6 ``FormationViolation``.

A failure becomes an :class:`~protocol.errors.OCPPError` whose code follows the
OCPP-J error table (1.6 §4.2.3, 2.0.1 §4.3):

=====================================================  ===================================
schema rule broken                                      code
=====================================================  ===================================
``type``                                                ``TYPE_CONSTRAINT_VIOLATION``
``required``, ``minItems``, ``maxItems``                ``OCCURRENCE_CONSTRAINT_VIOLATION``
``enum``, ``const``, ``minLength``, ``maxLength``,      ``PROPERTY_CONSTRAINT_VIOLATION``
``pattern``, ``format``, ``minimum``, ``maximum``,
``multipleOf``, ``uniqueItems``
``additionalProperties``, ``additionalItems`` and any   ``FORMAT_VIOLATION``
other structural rule
=====================================================  ===================================

The description names the field and the rule (``MeterValues request:
meterValue[0].timestamp must be date-time``) and ``details`` holds
``{"field": ..., "rule": ...}``; neither ever contains the offending value.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterable
from datetime import datetime
from importlib.resources import files
from typing import Any

import fastjsonschema
import jsonschema_rs
from fastjsonschema import JsonSchemaValueException

from protocol.errors import ErrorCode, OCPPError
from protocol.versions import OCPPVersion

__all__ = ["SchemaValidator", "validator_for"]

_Validate = Callable[[Any], Any]

# Where the ocpp package keeps each version's schemas, and how it names them.
_SCHEMA_DIRS: dict[OCPPVersion, str] = {OCPPVersion.V16: "v16", OCPPVersion.V201: "v201"}
_REQUEST_SUFFIX: dict[OCPPVersion, str] = {OCPPVersion.V16: "", OCPPVersion.V201: "Request"}
_RESPONSE_SUFFIX = "Response"
_DRAFT04 = "http://json-schema.org/draft-04/schema#"

_RULE_CODES: dict[str, ErrorCode] = {
    "type": ErrorCode.TYPE_CONSTRAINT_VIOLATION,
    "required": ErrorCode.OCCURRENCE_CONSTRAINT_VIOLATION,
    "minItems": ErrorCode.OCCURRENCE_CONSTRAINT_VIOLATION,
    "maxItems": ErrorCode.OCCURRENCE_CONSTRAINT_VIOLATION,
    "enum": ErrorCode.PROPERTY_CONSTRAINT_VIOLATION,
    "const": ErrorCode.PROPERTY_CONSTRAINT_VIOLATION,
    "minLength": ErrorCode.PROPERTY_CONSTRAINT_VIOLATION,
    "maxLength": ErrorCode.PROPERTY_CONSTRAINT_VIOLATION,
    "pattern": ErrorCode.PROPERTY_CONSTRAINT_VIOLATION,
    "format": ErrorCode.PROPERTY_CONSTRAINT_VIOLATION,
    "minimum": ErrorCode.PROPERTY_CONSTRAINT_VIOLATION,
    "maximum": ErrorCode.PROPERTY_CONSTRAINT_VIOLATION,
    "exclusiveMinimum": ErrorCode.PROPERTY_CONSTRAINT_VIOLATION,
    "exclusiveMaximum": ErrorCode.PROPERTY_CONSTRAINT_VIOLATION,
    "multipleOf": ErrorCode.PROPERTY_CONSTRAINT_VIOLATION,
    "uniqueItems": ErrorCode.PROPERTY_CONSTRAINT_VIOLATION,
}


#: The bounds given to unbounded ``integer`` and ``number`` schemas (module docstring).
INTEGER_MIN, INTEGER_MAX = -(2**31), 2**31 - 1
NUMBER_MIN, NUMBER_MAX = -(2**53), 2**53
_EDGE_BOUNDS = frozenset({INTEGER_MIN, INTEGER_MAX, NUMBER_MIN, NUMBER_MAX})


def _bounded(schema: Any) -> Any:
    """``schema`` with the edge bounds added to its unbounded integers and numbers."""
    if isinstance(schema, list):
        return [_bounded(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {key: _bounded(value) for key, value in schema.items()}
    declared = out.get("type")  # (a property may be called "type": then it is a dict)
    kinds = declared if isinstance(declared, list) else [declared]
    if not all(isinstance(kind, str) for kind in kinds):
        return out
    if "number" in kinds:
        low, high = NUMBER_MIN, NUMBER_MAX
    elif "integer" in kinds:
        low, high = INTEGER_MIN, INTEGER_MAX
    else:
        return out
    if not isinstance(out.get("minimum"), int | float) or out["minimum"] < low:
        out["minimum"] = low
    if not isinstance(out.get("maximum"), int | float) or out["maximum"] > high:
        out["maximum"] = high
    return out


def _field_path(name: str | None) -> str:
    """``data.meterValue[0].timestamp`` -> ``meterValue[0].timestamp``; the root is ``""``."""
    if not name or name == "data":
        return ""
    return name[5:] if name.startswith("data.") else name


def _schema_error(
    action: str, kind: str, exc: JsonSchemaValueException, version: OCPPVersion
) -> OCPPError:
    """Translate a fastjsonschema failure into an :class:`OCPPError` (see the module table)."""
    rule = exc.rule or ""
    code = _RULE_CODES.get(rule, ErrorCode.FORMAT_VIOLATION)
    if (
        version is OCPPVersion.V16
        and rule in ("minimum", "maximum")
        and exc.rule_definition in _EDGE_BOUNDS
    ):
        code = ErrorCode.FORMAT_VIOLATION  # beyond what a 1.6 number can be: malformed
    path = _field_path(exc.name)
    if rule == "required":
        required = exc.rule_definition or []
        present = exc.value if isinstance(exc.value, dict) else {}
        missing = [name for name in required if name not in present]
        names = ", ".join(missing) or "a required property"
        field = f"{path}.{missing[0]}" if path and missing else (missing[0] if missing else path)
        message = f"{path or 'payload'} is missing required {names}"
    else:
        field = path
        text = exc.message
        if exc.name and text.startswith(exc.name):
            text = text[len(exc.name) :]
        message = f"{path or 'payload'}{text}"
    return OCPPError(
        code,
        f"{action} {kind}: {message}",
        {"field": field, "rule": rule},
    )


class SchemaValidator:
    """Validates request and response payloads of one OCPP version.

    Get the shared instance with :func:`validator_for`; each schema is compiled on the
    first use of its action (a few milliseconds) and cached. :meth:`warm_up` compiles
    ahead of time, e.g. at server start.
    """

    version: OCPPVersion

    def __init__(self, version: OCPPVersion) -> None:
        self.version = version
        self._dir = files("ocpp").joinpath(_SCHEMA_DIRS[version], "schemas")
        suffix = _REQUEST_SUFFIX[version]
        names = {
            entry.name[: -len(".json")]
            for entry in self._dir.iterdir()
            if entry.name.endswith(".json")
        }
        actions = set()
        for name in names:
            if name.endswith(_RESPONSE_SUFFIX) and not suffix:
                continue  # 1.6: "XResponse" is the response of X, not an action
            if suffix and not name.endswith(suffix):
                continue
            action = name[: -len(suffix)] if suffix else name
            if action + _RESPONSE_SUFFIX in names:
                actions.add(action)
        self._actions = frozenset(actions)
        self._requests: dict[str, _Validate] = {}
        self._responses: dict[str, _Validate] = {}
        self._lock = threading.Lock()

    @property
    def actions(self) -> frozenset[str]:
        """Every action this version defines (one request and one response schema each)."""
        return self._actions

    def knows_action(self, action: str) -> bool:
        """Whether ``action`` is defined by this version (else: NotImplemented)."""
        return action in self._actions

    def validate_request(self, action: str, payload: dict[str, Any]) -> None:
        """Check a CALL payload. Raises :class:`OCPPError` (``NOT_IMPLEMENTED`` for an unknown
        action, otherwise the code of the broken rule)."""
        validate = self._requests.get(action)
        if validate is None:
            validate = self._compile(action, request=True)
        try:
            validate(payload)
        except JsonSchemaValueException as exc:
            raise _schema_error(action, "request", exc, self.version) from None

    def validate_response(self, action: str, payload: dict[str, Any]) -> None:
        """Check a CALLRESULT payload for ``action``. Raises :class:`OCPPError`."""
        validate = self._responses.get(action)
        if validate is None:
            validate = self._compile(action, request=False)
        try:
            validate(payload)
        except JsonSchemaValueException as exc:
            raise _schema_error(action, "response", exc, self.version) from None

    def warm_up(self, actions: Iterable[str] | None = None) -> None:
        """Compile the schemas of ``actions`` (default: all) now rather than on first use."""
        for action in self._actions if actions is None else actions:
            self._compile(action, request=True)
            self._compile(action, request=False)

    def _compile(self, action: str, *, request: bool) -> _Validate:
        if action not in self._actions:
            raise OCPPError(
                ErrorCode.NOT_IMPLEMENTED,
                f"{action!r} is not an OCPP {self.version.value.removeprefix('ocpp')} action",
            )
        cache = self._requests if request else self._responses
        with self._lock:
            validate = cache.get(action)
            if validate is None:
                suffix = _REQUEST_SUFFIX[self.version] if request else _RESPONSE_SUFFIX
                text = self._dir.joinpath(f"{action}{suffix}.json").read_text(encoding="utf-8-sig")
                schema = _bounded(json.loads(text))
                schema["$schema"] = _DRAFT04  # strict integers, see the module docstring
                validate = _two_stage(schema)
                cache[action] = validate
        return validate


def _two_stage(schema: dict[str, Any]) -> _Validate:
    """A validator that accepts valid payloads fast and explains invalid ones precisely.

    ``jsonschema_rs`` (compiled Rust, ~2 µs for a MeterValues) decides whether a payload
    is valid; only when it is not does the ``fastjsonschema`` function (~15 µs) run, to
    name the broken rule and field for the CALLERROR. Both read the schema as draft-04
    with the same date-time check, so they agree on what is valid; where they would not,
    the precise one has the last word.
    """
    precise = fastjsonschema.compile(
        schema, use_default=False, formats={"date-time": _is_date_time}
    )
    # The fast stage uses jsonschema_rs's own RFC 3339 check (four times faster than a
    # Python callback); times it refuses that ours accepts (no offset) take the slow stage.
    fast = jsonschema_rs.Draft4Validator(schema, validate_formats=True).is_valid

    def validate(payload: Any) -> None:
        if not fast(payload):
            precise(payload)

    return validate


_DATE_TIME = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(?P<fraction>\.\d+)?(?P<offset>Z|z|[+-]\d{2}:\d{2})?"
)


def _is_date_time(value: str) -> bool:
    """RFC 3339 date-time, offset optional (see the module docstring)."""
    match = _DATE_TIME.fullmatch(value)
    if match is None:
        return False
    fraction = match["fraction"]
    text = f"{value[:10]}T{value[11:19]}"
    if fraction:
        text += fraction[:7]  # fromisoformat takes up to 6 digits; more add nothing
    try:
        datetime.fromisoformat(text)
    except ValueError:
        return False
    offset = match["offset"]
    return offset is None or offset in "Zz" or (int(offset[1:3]) < 24 and int(offset[4:]) < 60)


_validators: dict[OCPPVersion, SchemaValidator] = {}
_validators_lock = threading.Lock()


def validator_for(version: OCPPVersion) -> SchemaValidator:
    """The process-wide :class:`SchemaValidator` for ``version``."""
    validator = _validators.get(version)
    if validator is None:
        with _validators_lock:
            validator = _validators.get(version)
            if validator is None:
                validator = _validators[version] = SchemaValidator(version)
    return validator
