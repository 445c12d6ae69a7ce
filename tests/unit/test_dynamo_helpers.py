"""The DynamoDB adapters' shared core: the one conditional write, the one read by key, and the key builders (whose
bytes are what stored items hold). No table here: fakes stand in for PynamoDB's writes and reads."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError  # type: ignore[import-untyped]  # no stubs installed for botocore
from pynamodb.exceptions import DeleteError, DoesNotExist, PutError, TransactWriteError, UpdateError

from gitconnect.adapters.dynamo import Stores, keys
from gitconnect.adapters.dynamo.base import get_or_none, write_if
from gitconnect.domain.errors import ConflictError

WRITE_ERRORS = [PutError, UpdateError, DeleteError, TransactWriteError]


def failing(error: type[Exception], code: str) -> Any:
    def write() -> None:
        raise error("refused", cause=ClientError({"Error": {"Code": code, "Message": "m"}}, "PutItem"))  # type: ignore[call-arg]

    return write


def test_a_write_that_goes_through_is_true() -> None:
    written: list[int] = []
    assert write_if(lambda: written.append(1)) is True
    assert write_if(lambda: written.append(2), ConflictError("unused")) is True
    assert written == [1, 2]


@pytest.mark.parametrize("error", WRITE_ERRORS)
@pytest.mark.parametrize("code", ["ConditionalCheckFailedException", "TransactionCanceledException"])
def test_a_write_its_condition_refused_is_false_or_the_given_error(error: type[Exception], code: str) -> None:
    assert write_if(failing(error, code)) is False
    with pytest.raises(ConflictError, match="changed meanwhile") as raised:
        write_if(failing(error, code), ConflictError("changed meanwhile"))
    assert isinstance(raised.value.__cause__, error)


@pytest.mark.parametrize("error", WRITE_ERRORS)
def test_any_other_failure_propagates_as_it_is(error: type[Exception]) -> None:
    with pytest.raises(error):
        write_if(failing(error, "ProvisionedThroughputExceededException"), ConflictError("not this"))

    def broken() -> None:
        raise RuntimeError("not a write error")

    with pytest.raises(RuntimeError, match="not a write error"):
        write_if(broken)


class FakeModel:
    calls: list[tuple[Any, ...]] = []

    @classmethod
    def get(cls, hash_key: str, range_key: str | None = None, consistent_read: bool = False) -> FakeModel:
        cls.calls.append((hash_key, range_key, consistent_read))
        if hash_key == "missing":
            raise DoesNotExist()
        return cls()


def test_get_or_none_reads_consistently_and_answers_none_for_a_missing_item() -> None:
    FakeModel.calls = []
    assert isinstance(get_or_none(FakeModel, "t1", "c1"), FakeModel)  # type: ignore[type-var]
    assert get_or_none(FakeModel, "missing") is None  # type: ignore[type-var]
    assert FakeModel.calls == [("t1", "c1", True), ("missing", None, True)]


def test_keys_keep_the_forms_stored_items_hold() -> None:
    assert keys.repo_key("github", "123") == "github#123"
    assert keys.delivery_key("2026-01-02T03:04:05Z", "d-1", "con_1") == "2026-01-02T03:04:05Z#d-1#con_1"
    assert keys.delivery_key("2026-01-02T03:04:05Z", "d-1", None) == "2026-01-02T03:04:05Z#d-1#None"
    assert keys.team_key("team-a") == "team#team-a"
    assert keys.template_key("tpl_1") == "tpl#tpl_1"
    assert keys.version_key(7) == "v#0000000007"
    assert keys.version_key(1234567890) == "v#1234567890"
    assert keys.run_key("run_1") == ("run#run_1", "run")
    assert (keys.POLL_BUCKET, keys.LINKED_BUCKET, keys.TEMPLATE_PREFIX) == ("poll", "gitops", "tpl#")


def test_keys_read_back() -> None:
    assert keys.team_of(keys.team_key("team#odd")) == "team#odd"  # only the prefix goes
    assert keys.template_of(keys.template_key("tpl_1")) == "tpl_1"
    assert keys.version_of(keys.version_key(42)) == 42
    assert sorted([keys.version_key(10), keys.version_key(9)]) == [keys.version_key(9), keys.version_key(10)]


def test_stores_are_named_and_the_lease_store_keeps_its_old_position() -> None:
    assert Stores._fields == (
        "connections", "sources", "builds", "deliveries", "leases", "hooks", "states", "seen", "reconcile_due"
    )
