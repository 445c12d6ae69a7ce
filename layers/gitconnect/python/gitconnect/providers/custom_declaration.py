"""Custom Git's declaration. The provider is one module (custom.py), which loads the SSRF rules: its declaration
lives beside it so that loading the registry (the webhook intake does, cold) does not load them."""

from __future__ import annotations

from gitconnect.providers.declaration import Declaration

DECLARATION = Declaration(
    id="custom",
    title="Custom Git",
    provider="gitconnect.providers.custom:CustomGitProvider",
    http=False,  # Git's smart HTTP protocol only (the Git client), no API
    links=("credentials",),
    link_request="gitconnect.api.schemas:CustomLink",
    namespaces=False,  # a connection is one remote
    pull_requests=False,  # a plain Git remote has none
)
