"""The typed accessors the webhook normalizers read payloads with (gitconnect.domain.payload): each returns the
documented JSON type or raises MalformedPayloadError naming the path, for any parsed JSON value at all."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from gitconnect.domain import payload as p
from gitconnect.domain.errors import GitconnectError, MalformedPayloadError

# Every kind of value json.loads can produce, and then some
VALUES: dict[str, object] = {
    "null": None, "true": True, "false": False, "zero": 0, "int": 42, "negative": -1, "huge": 2**64,
    "float": 1.5, "integral float": 1.0, "empty string": "", "string": "x", "digits": "1296269",
    "sha": "a" * 40, "short sha": "d3022fc0ca3d", "sha256": "b" * 64, "full name": "octo/app",
    "nested name": "acme/platform/api", "empty list": [], "list": ["x", 1], "strings": ["a", "b"],
    "empty object": {}, "object": {"x": 1}, "long id": "i" * 300, "tuple": ("a",), "set": {1},
}

Accessor = Callable[..., Any]
# accessor -> the values it accepts (by name in VALUES) and what it answers for them
ACCEPTS: dict[str, tuple[Accessor, dict[str, object]]] = {
    "obj": (p.obj, {"empty object": {}, "object": {"x": 1}}),
    "string": (p.string, {k: VALUES[k] for k in ("empty string", "string", "digits", "sha", "short sha", "sha256",
                                                  "full name", "nested name", "long id")}),
    "name": (p.name, {k: VALUES[k] for k in ("string", "digits", "sha", "short sha", "sha256", "full name",
                                              "nested name", "long id")}),
    "integer": (p.integer, {"zero": 0, "int": 42, "negative": -1}),
    "boolean": (p.boolean, {"true": True, "false": False}),
    "identifier": (p.identifier, {"zero": "0", "int": "42", "negative": "-1", "string": "x", "digits": "1296269",
                                  "sha": "a" * 40, "short sha": "d3022fc0ca3d", "sha256": "b" * 64,
                                  "full name": "octo/app", "nested name": "acme/platform/api"}),
    "array": (p.array, {"empty list": [], "list": ["x", 1], "strings": ["a", "b"]}),
    "strings": (p.strings, {"empty list": (), "strings": ("a", "b")}),
    "sha": (p.sha, {"sha": "a" * 40, "sha256": "b" * 64}),
    "full_name": (p.full_name, {"full name": "octo/app"}),
}
OPTIONAL = {"obj": p.opt_obj, "string": p.opt_string, "name": p.opt_name, "integer": p.opt_integer,
            "boolean": p.opt_boolean, "identifier": p.opt_identifier, "array": p.opt_array,
            "strings": p.opt_strings, "sha": p.opt_sha, "full_name": p.opt_full_name}


def table() -> list[tuple[str, str]]:
    return [(accessor, value) for accessor in ACCEPTS for value in VALUES]


@pytest.mark.parametrize(("accessor", "value"), table())
def test_each_accessor_answers_its_type_or_the_domain_error(accessor: str, value: str) -> None:
    read, accepted = ACCEPTS[accessor]
    m = {"key": VALUES[value]}
    if value in accepted:
        assert read(m, "key", "outer") == accepted[value]
        assert OPTIONAL[accessor](m, "key", "outer") == accepted[value]
        return
    with pytest.raises(MalformedPayloadError) as raised:
        read(m, "key", "outer")
    assert raised.value.reason.startswith(("malformed payload: outer.key ", "malformed payload: outer.key["))
    if value != "null":  # null is "absent" for the optional reads
        with pytest.raises(MalformedPayloadError):
            OPTIONAL[accessor](m, "key", "outer")


@pytest.mark.parametrize("accessor", sorted(ACCEPTS))
def test_absent_is_missing_when_required_and_none_when_optional(accessor: str) -> None:
    read, _ = ACCEPTS[accessor]
    with pytest.raises(MalformedPayloadError, match=r"^malformed payload: pull_request\.key is missing$"):
        read({}, "key", "pull_request")
    assert OPTIONAL[accessor]({}, "key", "pull_request") is None
    assert OPTIONAL[accessor]({"key": None}, "key", "pull_request") is None


def test_messages_name_the_path_and_the_type_found() -> None:
    with pytest.raises(MalformedPayloadError) as raised:
        p.string({"ref": None}, "ref")
    assert raised.value.reason == "malformed payload: ref is not a string (got null)"
    assert raised.value.about("push").reason == "malformed push payload: ref is not a string (got null)"
    with pytest.raises(MalformedPayloadError, match=r"pull_request\.head is not an object \(got array\)"):
        p.obj({"head": []}, "head", "pull_request")
    with pytest.raises(MalformedPayloadError, match=r"commits\[1\] is not an object \(got string\)"):
        p.objects({"commits": [{}, "x"]}, "commits")
    with pytest.raises(MalformedPayloadError, match=r"commits\[0\]\.added\[1\] is not a string \(got integer\)"):
        p.strings({"added": ["a", 1]}, "added", "commits[0]")
    with pytest.raises(MalformedPayloadError, match=r"is not an integer of 64 bits"):
        p.integer({"number": 2**63}, "number")
    with pytest.raises(MalformedPayloadError, match=r"is not a commit sha"):
        p.sha({"after": "z" * 40}, "after")
    with pytest.raises(MalformedPayloadError, match=r"is not a repository's full name"):
        p.full_name({"full_name": "octo/"}, "full_name")
    with pytest.raises(MalformedPayloadError, match=r"the payload is not an object \(got array\)"):
        p.root([])


def test_the_error_is_a_gitconnect_error_carrying_its_reason() -> None:
    error = MalformedPayloadError("ref is not a string (got null)", event="push")
    assert isinstance(error, GitconnectError) and error.status == 400
    assert error.reason == error.detail == str(error) == "malformed push payload: ref is not a string (got null)"
    assert error.problem == "ref is not a string (got null)" and error.event == "push"


def test_integers_are_not_booleans_and_fit_64_bits() -> None:
    assert p.integer({"n": 2**63 - 1}, "n") == 2**63 - 1
    assert p.integer({"n": -(2**63)}, "n") == -(2**63)
    for wrong in (True, False, 1.0, "1", 2**63, -(2**63) - 1):
        with pytest.raises(MalformedPayloadError):
            p.integer({"n": wrong}, "n")


def test_shas_full_or_short() -> None:
    assert p.sha({"s": "0" * 40}, "s") == "0" * 40  # "no commit" is a sha too (commit_or_none says None)
    assert p.sha({"s": "ABCDEF0123" * 4}, "s") == "ABCDEF0123" * 4
    assert p.sha({"s": "d3022fc0ca3d"}, "s", short=True) == "d3022fc0ca3d"
    for wrong in ("d3022fc0ca3d", "a" * 39, "a" * 41, "g" * 40, "", " " + "a" * 40):
        with pytest.raises(MalformedPayloadError):
            p.sha({"s": wrong}, "s")
    for wrong in ("abc", "", "g" * 12, "a" * 65):
        with pytest.raises(MalformedPayloadError):
            p.sha({"s": wrong}, "s", short=True)


def test_full_names() -> None:
    assert p.full_name({"n": "acme/platform/api"}, "n", nested=True) == "acme/platform/api"
    for wrong in ("app", "/app", "acme/", "a//b", "acme/platform/api", ""):
        with pytest.raises(MalformedPayloadError):
            p.full_name({"n": wrong}, "n")
    for wrong in ("app", "acme//api", "acme/platform/"):
        with pytest.raises(MalformedPayloadError):
            p.full_name({"n": wrong}, "n", nested=True)


def test_objects_and_strings_carry_their_item_paths() -> None:
    assert p.objects({"commits": [{"id": "a"}, {}]}, "commits", "push") == [
        ("push.commits[0]", {"id": "a"}), ("push.commits[1]", {})]
    assert p.opt_objects({}, "commits") == [] and p.opt_objects({"commits": None}, "commits") == []
    assert p.path("", "ref") == "ref" and p.path("a.b", "c") == "a.b.c" and p.path("a", 0) == "a[0]"
    samples: tuple[object, ...] = (None, True, 1, 1.5, "", [], {})
    assert [p.json_type(v) for v in samples] == [
        "null", "boolean", "integer", "number", "string", "array", "object"]


def test_names_longer_than_a_table_key_are_malformed() -> None:
    assert p.name({"ref": "r" * 1024}, "ref") == "r" * 1024
    with pytest.raises(MalformedPayloadError, match="over 1024 bytes"):
        p.name({"ref": "é" * 513}, "ref")
    with pytest.raises(MalformedPayloadError, match="over 1024 bytes"):
        p.full_name({"full_name": "o/" + "n" * 1100}, "full_name")
