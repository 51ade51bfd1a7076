"""Check a decoded JSON object against the published OpenAPI schemas.

The same ``components.schemas`` that ``kubectl explain`` reads drive the server's decoding
checks, so what km documents and what it accepts cannot drift. Two kinds of finding:

* unknown fields — paths such as ``spec.containers[0].foo``; rejected only under
  ``fieldValidation=Strict`` (``strict decoding error: unknown field "spec.foo"``), warned
  about under ``Warn``, ignored otherwise;
* type mismatches — always a 400, worded as Go's encoding/json words them
  (``json: cannot unmarshal string into Go struct field PodSpec.spec.containers of type
  []v1.Container``), since kubectl users know that message.

``null`` is accepted anywhere (Go decodes it as the zero value). Objects marked
``x-kubernetes-preserve-unknown-fields`` are not looked into.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from servers.apiserver.schemas._dsl import REF_PREFIX

Obj = dict[str, Any]

_JSON_TYPES = {"string": str, "boolean": bool, "object": dict, "array": list}


@dataclass
class Findings:
    """What ``check`` found: unknown field paths and Go-style type mismatch messages."""

    unknown: list[str] = field(default_factory=list)
    type_errors: list[str] = field(default_factory=list)


def check(schemas: Mapping[str, Obj], name: str, value: Any) -> Findings:
    """Walk ``value`` against the schema called ``name``; raises KeyError for an unknown name."""
    walker = _Walker(schemas)
    walker.walk(schemas[name], value, _Path(name.rsplit(".", 1)[-1]))
    return walker.findings


class _Path:
    """Where the walk is: a parent link and one segment, turned into text only for a finding.

    (Building the strings for every field on every request cost a quarter of the create path.)
    """

    __slots__ = ("is_index", "parent", "segment", "struct")

    def __init__(self, struct: str, parent: _Path | None = None, segment: str = "",
                 is_index: bool = False) -> None:
        self.struct = struct  # the Go struct that holds the current field, for type messages
        self.parent = parent
        self.segment = segment
        self.is_index = is_index

    def field(self, name: str, struct: str) -> _Path:
        return _Path(struct, self, name)

    def index(self, i: int | str) -> _Path:
        return _Path(self.struct, self, f"[{i}]", True)

    def _segments(self) -> list[_Path]:
        chain: list[_Path] = []
        node: _Path | None = self
        while node is not None and node.parent is not None:
            chain.append(node)
            node = node.parent
        return chain[::-1]

    @property
    def shown(self) -> str:
        """spec.containers[0].image"""
        text = ""
        for node in self._segments():
            text += node.segment if node.is_index or not text else "." + node.segment
        return text

    @property
    def dotted(self) -> str:
        """spec.containers.image (Go's error path has no indexes)"""
        return ".".join(n.segment for n in self._segments() if not n.is_index)


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return f"number {value}" if isinstance(value, float) else "number"
    names: dict[type, str] = {str: "string", dict: "object", list: "array"}
    return names.get(type(value), "value")


# struct_name by (schema identity, enclosing struct): the schemas are built once and never
# change, so the answer for a pair never does either.
_STRUCT_NAMES: dict[tuple[int, str], str] = {}


class _Walker:
    def __init__(self, schemas: Mapping[str, Obj]) -> None:
        self.schemas = schemas
        self.findings = Findings()

    def resolve(self, schema: Obj) -> Obj:
        while True:
            if "$ref" in schema:
                schema = self.schemas[schema["$ref"].removeprefix(REF_PREFIX)]
            elif "allOf" in schema and len(schema["allOf"]) == 1:
                schema = schema["allOf"][0]
            else:
                return schema

    def go_type(self, schema: Obj) -> str:
        ref = schema.get("$ref") or (schema.get("allOf") or [{}])[0].get("$ref")
        if ref:
            parts = ref.removeprefix(REF_PREFIX).split(".")
            return f"{parts[-2]}.{parts[-1]}"
        kind = schema.get("type")
        if kind == "array":
            return "[]" + self.go_type(schema["items"])
        if kind == "object" and "additionalProperties" in schema:
            return "map[string]" + self.go_type(schema["additionalProperties"])
        go_names = {"string": "string", "boolean": "bool", "number": "float64",
                    "object": "map[string]interface {}"}
        return go_names.get(kind or "") or str(schema.get("format", "int"))

    def walk(self, schema: Obj, value: Any, path: _Path) -> None:
        target = self.resolve(schema)
        if value is None or not self.type_ok(target, value):
            if value is not None:
                self.mismatch(schema, value, path)
            return
        if target.get("x-kubernetes-preserve-unknown-fields"):
            return
        if isinstance(value, dict):
            self.walk_object(target, value, path, self.struct_name(schema, path.struct))
        elif isinstance(value, list):
            for i, item in enumerate(value):
                self.walk(target["items"], item, path.index(i))

    def walk_object(self, schema: Obj, value: Obj, path: _Path, struct: str) -> None:
        values = schema.get("additionalProperties")
        if values is not None:
            for key, item in value.items():
                self.walk(values, item, path.index(key))
            return
        props = schema.get("properties", {})
        for key, item in value.items():
            child = path.field(key, struct)
            if key not in props:
                self.findings.unknown.append(child.shown)
                continue
            self.walk(props[key], item, child)

    def struct_name(self, schema: Obj, current: str) -> str:
        key = (id(schema), current)
        name = _STRUCT_NAMES.get(key)
        if name is None:
            go = self.go_type(schema).lstrip("[]")
            name = go.split(".", 1)[1] if "." in go and not go.startswith("map") else current
            _STRUCT_NAMES[key] = name
        return name

    def type_ok(self, schema: Obj, value: Any) -> bool:
        if "oneOf" in schema:
            return any(self.type_ok(s, value) for s in schema["oneOf"])
        kind = schema.get("type")
        if kind is None:
            return True
        if kind == "integer":
            return isinstance(value, int) and not isinstance(value, bool)
        if kind == "number":
            return isinstance(value, (int, float)) and not isinstance(value, bool)
        return isinstance(value, _JSON_TYPES[kind])

    def mismatch(self, schema: Obj, value: Any, path: _Path) -> None:
        go_path = f"{path.struct}.{path.dotted}" if path.dotted else path.struct
        self.findings.type_errors.append(
            f"json: cannot unmarshal {_json_type(value)} into Go struct field "
            f"{go_path} of type {self.go_type(schema)}"
        )
