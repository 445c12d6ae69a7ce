"""The local stack compiles the functions and the layers before the first request (infra/local/stack.py
`compile_code`), as the deployed layers carry their bytecode (layers/*/Makefile)."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import pytest

from infra.local import template as tpl
from infra.local.stack import compile_code


@pytest.mark.slow
def test_every_module_of_the_layers_gets_its_bytecode(tmp_path: Path) -> None:
    # Given: a copy of the package's layer without any bytecode, and of the functions
    layer, functions = tmp_path / "layer", tmp_path / "functions"
    shutil.copytree(tpl.REPO_ROOT / "layers" / "gitconnect" / "python", layer,
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    shutil.copytree(tpl.REPO_ROOT / "functions", functions, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    sources = sorted([*layer.rglob("*.py"), *functions.rglob("*.py")])
    assert sources and not list(tmp_path.rglob("*.pyc"))
    # When
    assert compile_code([functions, layer, tmp_path / "absent"])
    # Then: each module has this interpreter's pyc where the import system looks for it
    missing = [s for s in sources if not Path(importlib.util.cache_from_source(str(s))).exists()]
    assert missing == []


def test_the_stack_compiles_the_template_layers() -> None:
    paths = tpl.layer_paths(tpl.load_template())
    assert tpl.REPO_ROOT / "layers" / "gitconnect" / "python" in paths
