#!/usr/bin/env python3
"""Writes an OpenAPI 3.0 document of Zuplo's API-key operations, translated line by line
from `zuplo-developer-api-ops.txt` (the operation-by-operation listing taken from Zuplo's
published Developer API description, in ../shared/docs/).

It is generated rather than written by hand so that nothing is added or lost in transcription:
every path, query parameter, body field and response field comes from the listing, with its
required mark (`*`), type, format, pattern, enum, bounds and `readOnly`, and each operation
answers exactly the statuses listed. Nothing of keyward is in it; the test that uses it
(tests/tests/schemathesis.rs) keeps keyward's deliberate differences in its own config.

What the listing does not spell out, and what this script does about it:
- Path parameters (`{accountName}`, …) are not listed: each is declared a required string,
  as OpenAPI needs every templated segment declared.
- Error statuses (`RESP 400`, …) carry no content in the listing: they are declared with a
  description only, so no schema or content type is asserted for them.
- `managers` in a consumer create body is listed as `oneOf/anyOf: ["array", "array"]`:
  Zuplo's reference gives the two forms (e-mails, or objects with `email` and `sub`), so it
  becomes `anyOf` of an array of strings and an array of `{email, sub}` (both required, as in
  the managers create body). `anyOf`, since an empty array is both.
- Nested fields (`data[].apiKeys: array`) whose items are not listed get no `items`.

Usage: python3 tests/zuplo/gen_openapi.py [../shared/docs/zuplo-developer-api-ops.txt] > tests/zuplo/openapi.json
"""

import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_OPS = ROOT.parent / "shared" / "docs" / "zuplo-developer-api-ops.txt"

FIELD = re.compile(r"^(?P<path>\S+?)(?P<req>\*)?: (?P<type>\S+)(?P<rest>.*)$")
ADDITIONAL = re.compile(r"^(?P<path>\S+)\.\(additionalProperties=(?P<json>.*)\)$")
QUERY = re.compile(r"^Q (?P<name>[^*:]+)(?P<req>\*)?: (?P<type>\S+)(?P<rest>.*)$")
OPERATION = re.compile(r"^(?P<method>GET|POST|PUT|PATCH|DELETE) (?P<path>\S+) (?P<id>\S+)$")
RESPONSE = re.compile(r"^RESP (?P<status>\d{3})(?::\s*(?P<types>\[.*\]))?$")
BODY = re.compile(r"^BODY \((?P<type>[^)]+)\) required=(?P<required>True|False)$")

# The two forms of a manager in a create body (see the module's docstring).
MANAGERS = {
    "anyOf": [
        {"type": "array", "items": {"type": "string"}},
        {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["email", "sub"],
                "properties": {"email": {"type": "string"}, "sub": {"type": "string"}},
            },
        },
    ]
}


def attributes(rest):
    """`format=date-time pattern=^…$ readOnly min=1 max=1000 ['a', 'b']` → schema keywords."""
    out = {}
    rest = rest.strip()
    enum = re.search(r"\['.*'\]", rest)
    if enum:
        out["enum"] = json.loads(enum.group(0).replace("'", '"'))
        rest = rest[: enum.start()] + rest[enum.end() :]
    for word in rest.split():
        if word == "readOnly":
            out["readOnly"] = True
        elif "=" in word:
            name, value = word.split("=", 1)
            if name == "format":
                out["format"] = value
            elif name == "pattern":
                out["pattern"] = value
            elif name == "min":
                out["minimum"] = int(value)
            elif name == "max":
                out["maximum"] = int(value)
            else:
                raise ValueError(f"unknown attribute {word!r}")
        else:
            raise ValueError(f"unknown attribute {word!r}")
    return out


def split_path(path):
    """`data[].tags` → ['data', '[]', 'tags']; `[].key` → ['[]', 'key']."""
    parts = []
    for piece in path.split("."):
        while piece.endswith("[]"):
            piece = piece[:-2]
            if piece:
                parts.append(piece)
            parts.append("[]")
            piece = ""
        if piece:
            parts.append(piece)
    return parts


def node(root, parts):
    """The schema at `parts` under `root`, creating objects and array items on the way."""
    schema = root
    for part in parts:
        if part == "[]":
            schema.setdefault("type", "array")
            schema = schema.setdefault("items", {"type": "object"})
        else:
            schema.setdefault("type", "object")
            schema = schema.setdefault("properties", {}).setdefault(part, {})
    return schema


def add_field(root, line):
    extra = ADDITIONAL.match(line)
    if extra:
        node(root, split_path(extra.group("path")))["additionalProperties"] = json.loads(
            extra.group("json")
        )
        return
    if line == "(array)":
        root["type"] = "array"
        return
    m = FIELD.match(line)
    if not m:
        raise ValueError(f"cannot read field line {line!r}")
    parts = split_path(m.group("path"))
    parent = node(root, parts[:-1])
    schema = node(root, parts)
    if m.group("type").startswith("None") or "oneOf/anyOf" in m.group("rest"):
        if parts[-1] != "managers":
            raise ValueError(f"an unexpected union: {line!r}")
        schema.update(MANAGERS)
    else:
        schema["type"] = m.group("type")
        schema.update(attributes(m.group("rest")))
    if m.group("req"):
        required = parent.setdefault("required", [])
        if parts[-1] not in required:
            required.append(parts[-1])


def parse(text):
    operations = []
    current = target = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or set(line) == {"="}:
            continue
        if m := OPERATION.match(line):
            current = {
                "method": m.group("method").lower(),
                "path": m.group("path"),
                "operationId": m.group("id"),
                "query": [],
                "body": None,
                "responses": {},
            }
            operations.append(current)
            target = None
        elif m := QUERY.match(line):
            current["query"].append(
                {
                    "name": m.group("name").strip(),
                    "required": bool(m.group("req")),
                    "schema": {"type": m.group("type"), **attributes(m.group("rest"))},
                }
            )
        elif m := BODY.match(line):
            target = {}
            current["body"] = (m.group("type"), m.group("required") == "True", target)
        elif m := RESPONSE.match(line):
            types = json.loads(m.group("types").replace("'", '"')) if m.group("types") else []
            target = {}
            current["responses"][m.group("status")] = (types, target)
        else:
            add_field(target, line)
    return operations


def document(operations):
    paths = {}
    for op in operations:
        item = paths.setdefault(op["path"], {})
        if "parameters" not in item:
            item["parameters"] = [
                {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
                for name in re.findall(r"\{([^}]+)\}", op["path"])
            ]
        operation = {"operationId": op["operationId"]}
        if op["query"]:
            operation["parameters"] = [{"in": "query", **q} for q in op["query"]]
        if op["body"]:
            media, required, schema = op["body"]
            operation["requestBody"] = {"required": required, "content": {media: {"schema": schema}}}
        operation["responses"] = {}
        for status, (types, schema) in op["responses"].items():
            response = {"description": f"{status}"}
            if types:
                response["content"] = {t: {"schema": schema} for t in types}
            operation["responses"][status] = response
        item[op["method"]] = operation
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "Zuplo Developer API: API-key operations",
            "version": "from zuplo-developer-api-ops.txt",
            "description": "Generated by tests/zuplo/gen_openapi.py from the operation-by-operation "
            "listing of Zuplo's published Developer API description. Zuplo's statements only; "
            "nothing of keyward.",
        },
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
        "security": [{"bearer": []}],
        "paths": paths,
    }


def main():
    source = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_OPS
    json.dump(document(parse(source.read_text())), sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
