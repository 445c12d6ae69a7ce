"""The explicit provider registry: adding a provider is one module, one line here and one fixture folder.

Entries name the class as `module:Class` and are imported on first use, so loading one provider (or only a
provider's webhook module, as the intake does) never loads the others' API clients.
"""

from __future__ import annotations

import importlib

from gitconnect.providers.base import Provider, ProviderPorts

REGISTRY: dict[str, str] = {
    "custom": "gitconnect.providers.custom:CustomGitProvider",
    "github": "gitconnect.providers.github.provider:GitHubProvider",
    "gitlab": "gitconnect.providers.gitlab.provider:GitLabProvider",
    "bitbucket": "gitconnect.providers.bitbucket.provider:BitbucketProvider",
}


def provider_class(provider_id: str) -> type[Provider]:
    module, _, name = REGISTRY[provider_id].partition(":")
    return getattr(importlib.import_module(module), name)  # type: ignore[no-any-return]


def create(provider_id: str, ports: ProviderPorts) -> Provider:
    return provider_class(provider_id)(ports)  # type: ignore[call-arg]
