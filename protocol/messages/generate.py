"""Write ``protocol/messages/v16.py`` and ``v201.py`` from the schemas the ``ocpp`` package ships.

Run ``python -m protocol.messages.generate`` (``make generate``) after upgrading ``ocpp``;
``--check`` only reports whether the committed files are stale (exit status 1), and
``tests/protocol/test_generated_messages.py`` fails while they are.

What each module holds, per OCPP version:

* one ``TypedDict`` per request and per response of every action, ``<Action>Request`` and
  ``<Action>Response``, read from ``ocpp/v16/schemas/<Action>.json`` and
  ``<Action>Response.json`` (OCPP 1.6 with its security extension: SignCertificate,
  SecurityEventNotification, …) and ``ocpp/v201/schemas/<Action>Request.json`` and
  ``<Action>Response.json``;
* the nested objects as ``TypedDict`` classes and the enumerations as ``Literal``
  aliases. A type the schema defines under ``definitions`` keeps that name
  (``ChargingStationType``, ``BootReasonEnumType``). One the schema writes inline (the
  1.6 core schemas) is named after its property, array items after their array
  (``idTagInfo`` → ``IdTagInfo``, ``meterValue`` → ``MeterValue``). Where one name would
  stand for two different shapes, each is qualified: a definition by its action
  (``<Action><Definition>``), an inline type by the type that holds it, first without
  and then with ``Request``/``Response`` (``status`` → ``BootNotificationStatus``);
* ``Required[...]`` and ``NotRequired[...]`` on every field, from the schemas'
  ``required`` lists.

string → ``str``, integer → ``int``, number → ``float``, boolean → ``bool``, array →
``list[...]``, an object without properties → ``dict[str, Any]``, no type at all →
``Any``. Lengths, bounds, formats and patterns are not types: the schema validator
(:mod:`protocol.validation`) checks those. TypedDicts are plain dicts at run time, so the
types cost nothing where payloads flow.

The output is deterministic (no timestamps; aliases sorted by name, then classes sorted by
name except that each follows the classes it uses, since the modules evaluate their
annotations; fields in schema order) and formatted the way ``ruff format`` formats it.
"""

from __future__ import annotations

import argparse
import json
import keyword
import re
import sys
import textwrap
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from importlib.metadata import version as package_version
from importlib.resources import files
from pathlib import Path
from typing import Any, Literal

from protocol.versions import OCPPVersion

__all__ = ["TARGETS", "GeneratorError", "main", "render", "schema_actions"]

_LINE_LENGTH = 100
_DOC_WIDTH = 88
_INDENT = "    "
_TYPING_NAMES = ("Any", "Literal", "NotRequired", "Required", "TypeAlias", "TypedDict")
_PRIMITIVES = {"string": "str", "integer": "int", "number": "float", "boolean": "bool"}


@dataclass(frozen=True, slots=True)
class _Source:
    """Where one version's schemas are and how their files are named."""

    folder: str
    request_suffix: str
    title: str
    contents: str


_SOURCES: dict[OCPPVersion, _Source] = {
    OCPPVersion.V16: _Source(
        folder="v16",
        request_suffix="",
        title="OCPP 1.6",
        contents="OCPP 1.6J and the 1.6 security extension",
    ),
    OCPPVersion.V201: _Source(
        folder="v201",
        request_suffix="Request",
        title="OCPP 2.0.1",
        contents="OCPP 2.0.1",
    ),
}

#: The generated module of each version.
TARGETS: dict[OCPPVersion, Path] = {
    OCPPVersion.V16: Path(__file__).with_name("v16.py"),
    OCPPVersion.V201: Path(__file__).with_name("v201.py"),
}


class GeneratorError(Exception):
    """The schemas hold something the generator cannot express (a bug to fix here)."""


# -- what the schemas say, as types ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Plain:
    """A type written as it is: ``str``, ``int``, ``Any``, ``dict[str, Any]``."""

    text: str


@dataclass(frozen=True, slots=True)
class _ListOf:
    item: _Type


@dataclass(frozen=True, slots=True)
class _Named:
    """A generated ``TypedDict`` or ``Literal`` alias, named once all are known."""

    use: _Use


_Type = _Plain | _ListOf | _Named


@dataclass(frozen=True, slots=True)
class _Field:
    name: str
    required: bool
    type: _Type


@dataclass(eq=False)
class _Use:
    """One place in one schema that needs a named type."""

    kind: Literal["object", "enum"]
    #: What the type is, descriptions left out: uses with equal keys render alike.
    key: str
    #: Where it was found ("Authorize response"), for docstrings.
    place: str
    #: The property (inline types) or definition it came from.
    origin: str
    description: str
    #: A request or response type: its name is given, not chosen.
    fixed_name: str | None = None
    #: A definition: its name, then qualified by its action.
    definition: tuple[str, str] | None = None
    #: An inline type: the named type that holds it.
    owner: _Use | None = None
    fields: list[_Field] = field(default_factory=list)
    values: tuple[str, ...] = ()
    choice: int = 0

    def candidates(self) -> tuple[str, ...]:
        if self.fixed_name is not None:
            return (self.fixed_name,)
        if self.definition is not None:
            name, action = self.definition
            return (name, action + name)
        assert self.owner is not None
        own = _capitalised(self.origin)
        holder = self.owner.name
        short = re.sub(r"(Request|Response)$", "", holder)
        return (own, short + own, holder + own)

    @property
    def name(self) -> str:
        return self.candidates()[self.choice]


def _capitalised(name: str) -> str:
    return name[:1].upper() + name[1:]


def _key(kind: str, body: object) -> str:
    return json.dumps([kind, body], sort_keys=True, separators=(",", ":"))


def _type_key(type_: _Type) -> object:
    if isinstance(type_, _Plain):
        return type_.text
    if isinstance(type_, _ListOf):
        return ["list", _type_key(type_.item)]
    return ["named", type_.use.key]


def _description(node: dict[str, Any]) -> str:
    """A schema description without its data-dictionary lines (``Charge_ Point``,
    ``urn:x-oca:ocpp:uid:2:233122``)."""
    text = node.get("description")
    if not isinstance(text, str):
        return ""
    lines = [line.strip() for line in text.replace("\r", "").split("\n")]
    return "\n".join(
        line for line in lines if line and not line.startswith("urn:") and "_ " not in line
    )


class _Collector:
    """Walks the schemas of one version and records every type they need."""

    def __init__(self) -> None:
        self.uses: list[_Use] = []
        self.roots: dict[str, tuple[_Use, _Use]] = {}

    def add_action(self, action: str, request: dict[str, Any], response: dict[str, Any]) -> None:
        request_type = self._root(action, "request", request)
        response_type = self._root(action, "response", response)
        self.roots[action] = (request_type, response_type)

    def _root(self, action: str, kind: str, schema: dict[str, Any]) -> _Use:
        context = _Context(
            action=action,
            place=f"{action} {kind}",
            definitions=schema.get("definitions", {}),
        )
        name = f"{action}{_capitalised(kind)}"
        use = self._object(schema, context, origin=name, fixed_name=name)
        return use

    def _object(
        self,
        node: dict[str, Any],
        context: _Context,
        *,
        origin: str,
        fixed_name: str | None = None,
        definition: tuple[str, str] | None = None,
        owner: _Use | None = None,
    ) -> _Use:
        use = _Use(
            kind="object",
            key="",
            place=context.place,
            origin=origin,
            description=_description(node),
            fixed_name=fixed_name,
            definition=definition,
            owner=owner,
        )
        required = set(node.get("required", ()))
        for name, schema in node.get("properties", {}).items():
            if not name.isidentifier() or keyword.iskeyword(name):
                raise GeneratorError(f"{context.place}: property {name!r} is no identifier")
            use.fields.append(
                _Field(name, name in required, self._type(schema, context, prop=name, owner=use))
            )
        missing = required - {f.name for f in use.fields}
        if missing:
            raise GeneratorError(f"{context.place}: required {sorted(missing)} not defined")
        body = [[f.name, f.required, _type_key(f.type)] for f in use.fields]
        use.key = _key("object", body)
        self.uses.append(use)
        return use

    def _type(self, node: dict[str, Any], context: _Context, *, prop: str, owner: _Use) -> _Type:
        reference = node.get("$ref")
        if isinstance(reference, str):
            name = reference.removeprefix("#/definitions/")
            target = context.definitions.get(name)
            if target is None:
                raise GeneratorError(f"{context.place}: unknown reference {reference}")
            return self._named(target, context, origin=name, definition=(name, context.action))
        if "enum" in node or (node.get("type") == "object" and node.get("properties")):
            return self._named(node, context, origin=prop, owner=owner)
        kind = node.get("type")
        if kind == "array":
            items = node.get("items")
            if not isinstance(items, dict):
                return _ListOf(_Plain("Any"))
            return _ListOf(self._type(items, context, prop=prop, owner=owner))
        if kind == "object":
            return _Plain("dict[str, Any]")
        if kind is None:
            return _Plain("Any")
        if not isinstance(kind, str) or kind not in _PRIMITIVES:
            raise GeneratorError(f"{context.place}: {prop} has type {kind!r}")
        return _Plain(_PRIMITIVES[kind])

    def _named(
        self,
        node: dict[str, Any],
        context: _Context,
        *,
        origin: str,
        definition: tuple[str, str] | None = None,
        owner: _Use | None = None,
    ) -> _Named:
        if "enum" not in node:
            return _Named(
                self._object(node, context, origin=origin, definition=definition, owner=owner)
            )
        values = tuple(node["enum"])
        for value in values:
            if not isinstance(value, str) or '"' in value or "\\" in value:
                raise GeneratorError(f"{context.place}: {origin} has enum value {value!r}")
        use = _Use(
            kind="enum",
            key=_key("enum", list(values)),
            place=context.place,
            origin=origin,
            description=_description(node),
            definition=definition,
            owner=owner,
            values=values,
        )
        self.uses.append(use)
        return _Named(use)


@dataclass(frozen=True, slots=True)
class _Context:
    action: str
    place: str
    definitions: dict[str, Any]


def _assign_names(uses: Sequence[_Use]) -> None:
    """Give each use the first of its candidate names that means one shape only.

    All uses whose current name stands for more than one shape move on to their next
    candidate together, so the outcome does not depend on the order of the schemas.
    """
    reserved = {name: "typing" for name in _TYPING_NAMES}
    while True:
        shapes: dict[str, set[str]] = defaultdict(set)
        for name, marker in reserved.items():
            shapes[name].add(marker)
        for use in uses:
            shapes[use.name].add(use.key if use.fixed_name is None else f"fixed:{use.name}")
        moved = False
        for use in uses:
            if use.fixed_name is None and len(shapes[use.name]) > 1:
                if use.choice + 1 >= len(use.candidates()):
                    raise GeneratorError(f"no unambiguous name for {use.origin} ({use.place})")
                use.choice += 1
                moved = True
        if not moved:
            return


# -- writing Python ----------------------------------------------------------------------------


def _annotation(type_: _Type) -> str:
    if isinstance(type_, _Plain):
        return type_.text
    if isinstance(type_, _ListOf):
        return f"list[{_annotation(type_.item)}]"
    return type_.use.name


def _docstring(text: str) -> list[str]:
    """A class docstring, wrapped to the line length."""
    paragraphs = [p for p in text.split("\n") if p.strip()]
    lines: list[str] = []
    for number, paragraph in enumerate(paragraphs):
        if number == 1:
            lines.append("")
        lines.extend(textwrap.wrap(paragraph.replace("\\", "\\\\"), width=_DOC_WIDTH))
    if not lines:
        raise GeneratorError("empty docstring")
    if len(lines) == 1 and not lines[0].endswith('"'):
        return [f'{_INDENT}"""{lines[0]}"""']
    out = [f'{_INDENT}"""{lines[0]}']
    out.extend(f"{_INDENT}{line}" if line else "" for line in lines[1:])
    out.append(f'{_INDENT}"""')
    return out


def _places(uses: Iterable[_Use]) -> str:
    places = sorted({use.place for use in uses})
    if len(places) > 4:
        return f"{', '.join(places[:4])} and {len(places) - 4} more"
    return ", ".join(places)


def _class_lines(name: str, uses: list[_Use], title: str) -> list[str]:
    use = uses[0]
    if use.fixed_name is not None:
        action, kind = use.place.split(" ")
        doc = f"The ``{action}`` {kind} ({title})."
        if use.description:
            doc += "\n" + use.description
    else:
        doc = use.description or f"``{use.origin}`` in {_places(uses)}."
    lines = [f"class {name}(TypedDict):", *_docstring(doc)]
    fields = _field_lines(name, use)
    return [*lines, "", *fields] if fields else lines


def _field_lines(name: str, use: _Use) -> list[str]:
    lines = []
    for item in use.fields:
        wrapper = "Required" if item.required else "NotRequired"
        line = f"{_INDENT}{item.name}: {wrapper}[{_annotation(item.type)}]"
        if len(line) > _LINE_LENGTH:
            raise GeneratorError(f"{name}.{item.name}: line too long for the formatter rules")
        lines.append(line)
    return lines


def _alias_lines(name: str, values: tuple[str, ...]) -> list[str]:
    quoted = [f'"{value}"' for value in values]
    line = f"{name}: TypeAlias = Literal[{', '.join(quoted)}]"
    if len(line) <= _LINE_LENGTH:
        return [line]
    return [f"{name}: TypeAlias = Literal[", *(f"{_INDENT}{q}," for q in quoted), "]"]


def _sort_key(name: str) -> list[object]:
    """The order ``ruff`` wants ``__all__`` in (natural order of CamelCase names)."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def _all_lines(names: Sequence[str]) -> list[str]:
    return ["__all__ = [", *(f'{_INDENT}"{name}",' for name in names), "]"]


def _schema_text(source: _Source, name: str) -> dict[str, Any]:
    path = files("ocpp").joinpath(source.folder, "schemas", f"{name}.json")
    loaded = json.loads(path.read_text(encoding="utf-8-sig"))
    if not isinstance(loaded, dict):
        raise GeneratorError(f"{name}.json is not a JSON object")
    return loaded


def schema_actions(version: OCPPVersion) -> list[str]:
    """Every action whose request and response schemas ``ocpp`` ships for ``version``."""
    source = _SOURCES[version]
    folder = files("ocpp").joinpath(source.folder, "schemas")
    names = {
        entry.name.removesuffix(".json")
        for entry in folder.iterdir()
        if entry.name.endswith(".json")
    }
    actions = []
    for name in names:
        if source.request_suffix:
            if not name.endswith(source.request_suffix):
                continue
            action = name.removesuffix(source.request_suffix)
        elif name.endswith("Response"):
            continue
        else:
            action = name
        if f"{action}Response" in names:
            actions.append(action)
    return sorted(actions)


def render(version: OCPPVersion) -> str:
    """The text of the generated module for ``version``."""
    source = _SOURCES[version]
    collector = _Collector()
    for action in schema_actions(version):
        collector.add_action(
            action,
            _schema_text(source, action + source.request_suffix),
            _schema_text(source, f"{action}Response"),
        )
    _assign_names(collector.uses)

    by_name: dict[str, list[_Use]] = defaultdict(list)
    for use in collector.uses:
        by_name[use.name].append(use)
    blocks: dict[str, list[str]] = {}
    for name, uses in by_name.items():
        if uses[0].kind == "enum":
            blocks[name] = _alias_lines(name, uses[0].values)
        else:
            blocks[name] = _class_lines(name, uses, source.title)
        first = uses[0]
        for other in uses[1:]:
            if (other.kind, other.values, _field_lines(name, other)) != (
                first.kind,
                first.values,
                _field_lines(name, first),
            ):
                raise GeneratorError(f"{name} would stand for two different types")

    aliases = sorted((n for n, u in by_name.items() if u[0].kind == "enum"), key=_sort_key)
    classes = _dependencies_first(
        sorted((n for n, u in by_name.items() if u[0].kind == "object"), key=_sort_key),
        {name: _references(uses[0]) for name, uses in by_name.items()},
    )
    used_typing = {"Any"} if "Any" in _plain_texts(collector.uses) else set()
    used_typing |= {"Literal", "TypeAlias"} if aliases else set()
    used_typing |= {"TypedDict", "Required", "NotRequired"}

    version_text = package_version("ocpp")
    about = (
        f"Generated from the JSON schemas of {source.contents} that the ``ocpp`` package"
        f" {version_text} ships (:mod:`protocol.messages.generate` gives the naming rules)."
        " Annotations only: at run time these are plain dicts, and the schema validator"
        " checks what types cannot say (lengths, bounds, formats)."
    )
    out = [
        f"# Generated by `python -m protocol.messages.generate` from ocpp {version_text}"
        f" (ocpp/{source.folder}/schemas).",
        "# Do not edit: change the generator and run `make generate`.",
        f'"""Typed {source.title} messages: one ``TypedDict`` per request and per response.',
        "",
        *textwrap.wrap(about, width=_DOC_WIDTH),
        '"""',
        "",
        "# No `from __future__ import annotations`: evaluated annotations give the classes",
        "# their real __required_keys__ and __optional_keys__, so every type comes after",
        "# the types it uses.",
        f"from typing import {', '.join(sorted(used_typing))}",
        "",
        *_all_lines(sorted(by_name, key=_sort_key)),
        "",
    ]
    for name in aliases:
        out.extend(blocks[name])
    for name in classes:
        out.extend(["", "", *blocks[name]])
    return "\n".join(out) + "\n"


def _references(use: _Use) -> list[str]:
    """The named types the fields of ``use`` refer to, in field order."""
    names: list[str] = []

    def visit(type_: _Type) -> None:
        if isinstance(type_, _Named):
            names.append(type_.use.name)
        elif isinstance(type_, _ListOf):
            visit(type_.item)

    for item in use.fields:
        visit(item.type)
    return names


def _dependencies_first(names: Sequence[str], references: dict[str, list[str]]) -> list[str]:
    """``names`` in their order, except that each comes after the names it refers to."""
    done: list[str] = []
    seen: set[str] = set()
    active: set[str] = set()
    wanted = set(names)

    def visit(name: str) -> None:
        if name in seen:
            return
        if name in active:
            raise GeneratorError(f"{name} refers to itself: a cycle the module cannot define")
        active.add(name)
        for other in references.get(name, ()):
            if other in wanted:
                visit(other)
        active.discard(name)
        seen.add(name)
        done.append(name)

    for name in names:
        visit(name)
    return done


def _plain_texts(uses: Iterable[_Use]) -> set[str]:
    texts: set[str] = set()

    def visit(type_: _Type) -> None:
        if isinstance(type_, _Plain):
            texts.update(re.findall(r"\w+", type_.text))
        elif isinstance(type_, _ListOf):
            visit(type_.item)

    for use in uses:
        for item in use.fields:
            visit(item.type)
    return texts


def main(argv: Sequence[str] | None = None) -> int:
    """Write (or with ``--check``, compare) the generated modules; 1 when stale."""
    parser = argparse.ArgumentParser(
        prog="python -m protocol.messages.generate", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--check", action="store_true", help="only report whether the files are up to date"
    )
    options = parser.parse_args(argv)
    stale = []
    for version, path in TARGETS.items():
        text = render(version)
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current == text:
            continue
        stale.append(path)
        if not options.check:
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path}")
    if options.check and stale:
        for path in stale:
            print(f"stale: {path} (run `make generate`)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
