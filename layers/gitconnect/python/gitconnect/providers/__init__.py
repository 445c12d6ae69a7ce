"""The explicit provider registry: adding a provider is one module (or package) with its declaration, one line here
and one fixture folder.

`REGISTRY` maps each id to its `Declaration` (providers/declaration.py). Declarations name code by reference, imported
on first use, so loading the registry (or one provider's webhook module, as the intake does) loads no API client.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, cast

from gitconnect.providers.declaration import Declaration, check, load

if TYPE_CHECKING:
    from gitconnect.providers.base import Provider, ProviderPorts

# One line per provider: where its declaration is. The order is the API document's (webhook URLs).
DECLARED = (
    "gitconnect.providers.custom_declaration:DECLARATION",
    "gitconnect.providers.github:DECLARATION",
    "gitconnect.providers.gitlab:DECLARATION",
    "gitconnect.providers.bitbucket:DECLARATION",
)


def _declaration(reference: str) -> Declaration:
    declared = load(reference)
    if not isinstance(declared, Declaration):
        raise TypeError(f"{reference} is not a Declaration")
    return check(declared)


REGISTRY: dict[str, Declaration] = {d.id: d for d in map(_declaration, DECLARED)}
_DECLARED_IDS = tuple(REGISTRY)


def declared() -> list[Declaration]:
    """The providers DECLARED lists, in its order: what the API document describes. The document is built once per
    container, so it never depends on what `register` added at run time."""
    return [REGISTRY[i] for i in _DECLARED_IDS if i in REGISTRY]


def register(declaration: Declaration) -> Declaration:
    """Adds a provider at run time (tests): from now on it is linked, routed, configured and its webhooks taken like a
    declared one, but not described in the API document. Its settings are read when settings are next parsed
    (`wiring.reset()`); wiring's cached providers and flows are dropped there too."""
    if declaration.id in REGISTRY:
        raise ValueError(f"a provider {declaration.id!r} is already registered")
    REGISTRY[declaration.id] = check(declaration)
    return declaration


def unregister(provider_id: str) -> None:
    REGISTRY.pop(provider_id, None)


@contextmanager
def registered(declaration: Declaration) -> Iterator[Declaration]:
    """`register` for the duration of a `with` block."""
    register(declaration)
    try:
        yield declaration
    finally:
        unregister(declaration.id)


def provider_class(provider_id: str) -> type[Provider]:
    return cast("type[Provider]", load(REGISTRY[provider_id].provider))


def create(provider_id: str, ports: ProviderPorts) -> Provider:
    return provider_class(provider_id)(ports)  # type: ignore[call-arg]  # Provider declares no __init__; all take ports
