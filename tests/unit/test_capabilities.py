"""Provider capabilities (providers/base.py): services ask `isinstance(provider, Capability)`, which only sees whether
the methods exist. So each registered provider declares (among its bases) exactly the capabilities whose methods it
defines itself, and has no stub that raises NotImplementedError."""

from __future__ import annotations

import inspect

import pytest

from gitconnect.providers import REGISTRY, provider_class
from gitconnect.providers.base import (
    CommitStatuses,
    DefaultBranches,
    GitOpsFiles,
    ManagedWebhooks,
    PolledChanges,
    ReconciledRefs,
    RefreshingCredentials,
    ShortHashes,
    Webhooks,
)

CAPABILITIES: tuple[type, ...] = (Webhooks, ShortHashes, ManagedWebhooks, CommitStatuses, RefreshingCredentials,
                                  GitOpsFiles, DefaultBranches,
                                  PolledChanges, ReconciledRefs)
EXPECTED: dict[str, set[type]] = {
    "custom": {GitOpsFiles, DefaultBranches, PolledChanges},
    "github": {Webhooks, ShortHashes, CommitStatuses, GitOpsFiles, DefaultBranches, ReconciledRefs},
    "gitlab": {Webhooks, ShortHashes, ManagedWebhooks, CommitStatuses, RefreshingCredentials, GitOpsFiles,
               DefaultBranches, ReconciledRefs},
    "bitbucket": {Webhooks, ShortHashes, ManagedWebhooks, CommitStatuses, RefreshingCredentials, GitOpsFiles,
                  DefaultBranches, ReconciledRefs},
}


def members(capability: type) -> list[str]:
    return sorted(name for name, value in vars(capability).items() if callable(value) and not name.startswith("_"))


def defined(cls: type, name: str) -> bool:
    """Whether `name` is defined by the provider's own classes, not inherited from a protocol's `...` stub."""
    return any(name in vars(k) for k in cls.__mro__ if not getattr(k, "_is_protocol", False) and k is not object)


def test_every_registered_provider_is_in_the_table() -> None:
    assert set(EXPECTED) == set(REGISTRY)


@pytest.mark.parametrize("provider_id", sorted(REGISTRY))
def test_a_provider_declares_exactly_the_capabilities_it_implements(provider_id: str) -> None:
    cls = provider_class(provider_id)
    declared = {c for c in CAPABILITIES if c in cls.__mro__}
    assert declared == EXPECTED[provider_id]
    for capability in CAPABILITIES:
        implemented = [name for name in members(capability) if defined(cls, name)]
        if capability in declared:
            assert implemented == members(capability), f"{cls.__name__} declares {capability.__name__}"
        else:
            assert implemented == [], f"{cls.__name__} has {implemented} but does not declare {capability.__name__}"


@pytest.mark.parametrize("provider_id", sorted(REGISTRY))
def test_no_provider_has_a_stub_for_a_capability(provider_id: str) -> None:
    assert "NotImplementedError" not in inspect.getsource(provider_class(provider_id))


def test_isinstance_sees_what_a_class_defines() -> None:
    class Statuses:
        def report_status(self, access: object, build: object, url: str | None, description: str | None) -> None:
            return None

    assert isinstance(Statuses(), CommitStatuses) and not isinstance(Statuses(), Webhooks)
