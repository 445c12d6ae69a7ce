"""Typed, total reads of a webhook's parsed JSON: each accessor returns the documented JSON type or raises
`MalformedPayloadError` naming the path (`pull_request.head.sha is not a string (got null)`), never AttributeError,
KeyError or TypeError. The providers' normalizers read every value through these, so that nothing of the wrong type
reaches the router, the tables or the bus.

`at` is the path of the object read from (`""` for the payload itself, `"pull_request.head"`, `"commits[0]"`); the
`opt_` accessors answer None for a key that is absent or null (what providers document as optional or nullable),
and still refuse a present value of another type.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import TypeVar

from gitconnect.domain.errors import MalformedPayloadError

JsonObject = Mapping[str, object]

INT_MIN, INT_MAX = -(2**63), 2**63 - 1  # every number a provider documents (ids, counts, iids) fits 64 bits
# Refs and repository names are looked up by (and stored in) table keys: DynamoDB's sort key holds 1 024 bytes.
# Real ones are far shorter (GitHub: 100-character names; Git refs of a few hundred bytes at most).
MAX_NAME_BYTES = 1024
MAX_ID_LENGTH = 256  # provider ids are short (a Bitbucket UUID is 38 characters); ids end up in table keys
_FULL_SHA = re.compile(r"[0-9a-fA-F]{40}|[0-9a-fA-F]{64}")  # SHA-1, or SHA-256 repositories
_SHORT_SHA = re.compile(r"[0-9a-fA-F]{7,64}")  # an abbreviated one (Bitbucket pull requests name 12 digits)


def path(at: str, key: str | int) -> str:
    """`at.key`, or `at[key]` for an array index."""
    if isinstance(key, int):
        return f"{at}[{key}]"
    return f"{at}.{key}" if at else key


def json_type(value: object) -> str:
    """The JSON name of a parsed value's type, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "array"
    if isinstance(value, Mapping):
        return "object"
    return type(value).__name__


def _wrong(at: str, key: str | int, want: str, value: object) -> MalformedPayloadError:
    return MalformedPayloadError(f"{path(at, key)} is not {want} (got {json_type(value)})")


def _missing(at: str, key: str) -> MalformedPayloadError:
    return MalformedPayloadError(f"{path(at, key)} is missing")


def root(payload: object) -> JsonObject:
    """The payload itself, which must be a JSON object."""
    if not isinstance(payload, Mapping):
        raise MalformedPayloadError(f"the payload is not an object (got {json_type(payload)})")
    return payload


# ------------------------------------------------------------------------------------------ one value per type
def _as_object(value: object, at: str, key: str | int) -> JsonObject:
    if not isinstance(value, Mapping):
        raise _wrong(at, key, "an object", value)
    return value


def _as_string(value: object, at: str, key: str | int) -> str:
    if not isinstance(value, str):
        raise _wrong(at, key, "a string", value)
    return value


def _as_integer(value: object, at: str, key: str | int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _wrong(at, key, "an integer", value)
    if not INT_MIN <= value <= INT_MAX:
        raise MalformedPayloadError(f"{path(at, key)} is not an integer of 64 bits")
    return value


def _as_name(value: object, at: str, key: str | int) -> str:
    text = _as_string(value, at, key)
    if not text:
        raise MalformedPayloadError(f"{path(at, key)} is empty")
    if len(text.encode("utf-8", "surrogatepass")) > MAX_NAME_BYTES:
        raise MalformedPayloadError(f"{path(at, key)} is over {MAX_NAME_BYTES} bytes")
    return text


def _as_full_name(value: object, at: str, key: str | int, nested: bool) -> str:
    parts = _as_name(value, at, key).split("/")
    if len(parts) < 2 or (len(parts) > 2 and not nested) or not all(parts):
        shape = "`group/name` or `group/sub/name`" if nested else "`owner/name`"
        raise MalformedPayloadError(f"{path(at, key)} is not a repository's full name ({shape})")
    return "/".join(parts)


def _as_sha(value: object, at: str, key: str | int, short: bool) -> str:
    text = _as_string(value, at, key)
    if not (_SHORT_SHA if short else _FULL_SHA).fullmatch(text):
        raise MalformedPayloadError(f"{path(at, key)} is not a commit sha")
    return text


def _as_boolean(value: object, at: str, key: str | int) -> bool:
    if not isinstance(value, bool):
        raise _wrong(at, key, "a boolean", value)
    return value


def _as_identifier(value: object, at: str, key: str | int) -> str:
    if isinstance(value, str):
        if not value or len(value) > MAX_ID_LENGTH:
            raise MalformedPayloadError(f"{path(at, key)} is not an id (empty, or over {MAX_ID_LENGTH} characters)")
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(_as_integer(value, at, key))
    raise _wrong(at, key, "an id (a string or an integer)", value)


def _as_array(value: object, at: str, key: str | int) -> list[object]:
    if not isinstance(value, list):
        raise _wrong(at, key, "an array", value)
    return value


def _required(m: JsonObject, key: str, at: str) -> object:
    if key not in m:
        raise _missing(at, key)
    return m[key]


# ------------------------------------------------------------------------------------------ the accessors
def obj(m: JsonObject, key: str, at: str = "") -> JsonObject:
    return _as_object(_required(m, key, at), at, key)


def opt_obj(m: JsonObject, key: str, at: str = "") -> JsonObject | None:
    value = m.get(key)
    return None if value is None else _as_object(value, at, key)


def string(m: JsonObject, key: str, at: str = "") -> str:
    return _as_string(_required(m, key, at), at, key)


def opt_string(m: JsonObject, key: str, at: str = "") -> str | None:
    value = m.get(key)
    return None if value is None else _as_string(value, at, key)


def name(m: JsonObject, key: str, at: str = "") -> str:
    """A non-empty string: a repository's full name, a ref, a tag (what names a thing cannot be empty)."""
    return _as_name(_required(m, key, at), at, key)


def opt_name(m: JsonObject, key: str, at: str = "") -> str | None:
    value = m.get(key)
    return None if value is None else _as_name(value, at, key)


def full_name(m: JsonObject, key: str, at: str = "", *, nested: bool = False) -> str:
    """A repository's full name: `owner/name` (`nested`: `group/sub/name` too), no empty part."""
    return _as_full_name(_required(m, key, at), at, key, nested)


def opt_full_name(m: JsonObject, key: str, at: str = "", *, nested: bool = False) -> str | None:
    value = m.get(key)
    return None if value is None else _as_full_name(value, at, key, nested)


def sha(m: JsonObject, key: str, at: str = "", *, short: bool = False) -> str:
    """A commit sha in hex: 40 or 64 digits, or (`short`) an abbreviation of at least 7. The all-zero sha providers
    write for "no commit" is one too (see `commit_or_none`)."""
    return _as_sha(_required(m, key, at), at, key, short)


def opt_sha(m: JsonObject, key: str, at: str = "", *, short: bool = False) -> str | None:
    value = m.get(key)
    return None if value is None else _as_sha(value, at, key, short)


def integer(m: JsonObject, key: str, at: str = "") -> int:
    """A JSON integer (not a boolean, not 1.0) that fits 64 bits."""
    return _as_integer(_required(m, key, at), at, key)


def opt_integer(m: JsonObject, key: str, at: str = "") -> int | None:
    value = m.get(key)
    return None if value is None else _as_integer(value, at, key)


def boolean(m: JsonObject, key: str, at: str = "") -> bool:
    return _as_boolean(_required(m, key, at), at, key)


def opt_boolean(m: JsonObject, key: str, at: str = "") -> bool | None:
    value = m.get(key)
    return None if value is None else _as_boolean(value, at, key)


def identifier(m: JsonObject, key: str, at: str = "") -> str:
    """A provider's id, an integer or a non-empty string, as a string (`1296269`, `{673a6070-...}`)."""
    return _as_identifier(_required(m, key, at), at, key)


def opt_identifier(m: JsonObject, key: str, at: str = "") -> str | None:
    value = m.get(key)
    return None if value is None else _as_identifier(value, at, key)


def array(m: JsonObject, key: str, at: str = "") -> list[object]:
    return _as_array(_required(m, key, at), at, key)


def opt_array(m: JsonObject, key: str, at: str = "") -> list[object] | None:
    value = m.get(key)
    return None if value is None else _as_array(value, at, key)


def objects(m: JsonObject, key: str, at: str = "") -> list[tuple[str, JsonObject]]:
    """An array of objects, each with its own path (`commits[0]`) for the reads inside it."""
    where = path(at, key)
    return [(path(where, i), _as_object(v, where, i)) for i, v in enumerate(array(m, key, at))]


def opt_objects(m: JsonObject, key: str, at: str = "") -> list[tuple[str, JsonObject]]:
    """`objects`, with an absent or null array read as an empty one."""
    return [] if m.get(key) is None else objects(m, key, at)


def strings(m: JsonObject, key: str, at: str = "") -> tuple[str, ...]:
    where = path(at, key)
    return tuple(_as_string(v, where, i) for i, v in enumerate(array(m, key, at)))


def opt_strings(m: JsonObject, key: str, at: str = "") -> tuple[str, ...] | None:
    """An array of strings; None when absent or null (a provider that did not list them)."""
    return None if m.get(key) is None else strings(m, key, at)


__all__ = [
    "INT_MAX",
    "INT_MIN",
    "MAX_ID_LENGTH",
    "JsonObject",
    "MalformedPayloadError",
    "array",
    "boolean",
    "full_name",
    "identifier",
    "integer",
    "json_type",
    "name",
    "obj",
    "objects",
    "opt_array",
    "opt_boolean",
    "opt_full_name",
    "opt_identifier",
    "opt_integer",
    "opt_name",
    "opt_obj",
    "opt_objects",
    "opt_sha",
    "opt_string",
    "opt_strings",
    "path",
    "root",
    "sha",
    "string",
    "strings",
]


T = TypeVar("T")


def or_none(read: Callable[[], T]) -> T | None:
    """What `read` returns, or None where the payload is malformed (for what only the delivery log uses)."""
    try:
        return read()
    except MalformedPayloadError:
        return None
