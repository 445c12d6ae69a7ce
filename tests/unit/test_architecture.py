"""The house rules that code review alone would let slip."""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

import gitconnect.providers as providers_pkg
from gitconnect.providers import REGISTRY, provider_class

ROOT = Path(__file__).resolve().parents[2]


def test_every_provider_module_is_registered_under_its_id() -> None:
    """A provider is `providers/<id>.py`, or a package `providers/<id>/` with the class in `provider.py`."""
    # base: the protocol; rest: the REST core the API providers share; declaration: what a declaration is, and
    # <id>_declaration: a one-module provider's declaration. Every other module is a provider.
    found = [m for m in pkgutil.iter_modules(providers_pkg.__path__)
             if m.name not in ("base", "rest", "declaration") and not m.name.endswith("_declaration")]
    assert found
    for info in found:
        module = importlib.import_module(f"gitconnect.providers.{info.name}" + (".provider" if info.ispkg else ""))
        classes = [c for c in vars(module).values() if isinstance(c, type) and getattr(c, "id", None) == info.name]
        assert classes, f"{module.__name__} defines no provider class with id {info.name!r}"
        assert info.name in REGISTRY, f"provider {info.name!r} exists but is not in REGISTRY"
        assert provider_class(info.name) is classes[0]


def test_handlers_stay_thin() -> None:
    for app in (ROOT / "functions").glob("*/app.py"):
        lines = [line for line in app.read_text().splitlines() if line.strip() and not line.startswith("#")]
        assert len(lines) <= 40, f"{app} has {len(lines)} lines: move logic into the gitconnect package"
