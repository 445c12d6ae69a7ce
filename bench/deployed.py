"""The code laid out as Lambda runs it, for the cold-import figures (1 and 5.2).

Lambda imports from a read-only code directory and read-only layers (/opt/python): nothing can write `__pycache__`,
so a module without shipped bytecode is compiled at every cold start. Two trees in a temporary folder, both made
read-only and imported with PYTHONDONTWRITEBYTECODE=1 and `python -S` (no site-packages: only these folders):

- `source only`: as `sam build` deployed before the layers had Makefiles (SAM's python builder unpacks wheels
  without bytecode): the function code, the package and the runtime dependencies, `.py` only;
- `with bytecode`: as it deploys now: the package built by layers/gitconnect/Makefile's own target and the
  dependencies compiled as layers/deps/Makefile compiles them (`unchecked-hash`), for this interpreter's version.

The function code itself (`functions/`, SAM's python builder) carries no bytecode in either: each `app.py` is small.
The dependencies are copied from this interpreter's installed distributions (the closure of
layers/deps/requirements.txt), not downloaded: the arm64 wheels the real layer holds do not load here."""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement

REPO_ROOT = Path(__file__).resolve().parents[1]
REQUIREMENTS = REPO_ROOT / "layers" / "deps" / "requirements.txt"


@dataclass(frozen=True)
class Tree:
    name: str
    root: Path

    @property
    def code(self) -> Path:
        return self.root / "code"

    @property
    def python_path(self) -> str:
        return os.pathsep.join(str(self.root / p) for p in ("code", "layer/python", "deps/python"))

    def command(self, code: str) -> list[str]:
        """A fresh interpreter running `code` against this tree alone."""
        return [sys.executable, "-S", "-c", code]

    def environment(self, base: dict[str, str]) -> dict[str, str]:
        return {**base, "PYTHONPATH": self.python_path, "PYTHONDONTWRITEBYTECODE": "1"}


def runtime_distributions() -> list[metadata.Distribution]:
    """The installed distributions requirements.txt needs, with what they need in turn (markers for this Python)."""
    wanted = [Requirement(line) for line in REQUIREMENTS.read_text().splitlines() if line and not line.startswith("#")]
    found: dict[str, metadata.Distribution] = {}
    while wanted:
        requirement = wanted.pop()
        if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
            continue
        key = requirement.name.lower().replace("_", "-")
        if key in found:
            continue
        dist = metadata.distribution(requirement.name)
        found[key] = dist
        wanted.extend(Requirement(r) for r in dist.requires or [])
    return list(found.values())


def _copy_sources(dists: list[metadata.Distribution], target: Path) -> None:
    for dist in dists:
        for file in dist.files or []:
            if "__pycache__" in file.parts or file.suffix == ".pyc" or ".." in file.parts:
                continue
            source = Path(str(dist.locate_file(file)))
            if source.is_file():
                (target / file).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, target / file)


def _compile(folder: Path) -> None:
    subprocess.run([sys.executable, "-m", "compileall", "-q", "-j", "0", "--invalidation-mode", "unchecked-hash",
                    str(folder)], check=True, capture_output=True)


def _read_only(folder: Path, writable: bool = False) -> None:
    for path in [folder, *folder.rglob("*")]:
        mode = path.stat().st_mode
        path.chmod(mode | stat.S_IWUSR if writable else mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))


def _build(root: Path, bytecode: bool, dists: list[metadata.Distribution]) -> None:
    shutil.copytree(REPO_ROOT / "functions", root / "code" / "functions",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    layer, deps = root / "layer", root / "deps" / "python"
    if bytecode:  # the layer's own build target, as `sam build` runs it
        subprocess.run(["make", "-s", "-C", str(REPO_ROOT / "layers" / "gitconnect"), "build-GitconnectLayer",
                        f"ARTIFACTS_DIR={layer}", f"PYTHON={sys.executable}"], check=True, capture_output=True)
    else:
        shutil.copytree(REPO_ROOT / "layers" / "gitconnect" / "python", layer / "python",
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    _copy_sources(dists, deps)
    if bytecode:
        _compile(deps)


_BUILT: list[tuple[Tree, Tree]] = []  # built once per process (figures 1 and 5.2 share them), removed at exit


def _remove(folder: Path, trees: tuple[Tree, Tree]) -> None:
    for tree in trees:
        _read_only(tree.root, writable=True)
    shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def deployed_trees() -> Iterator[tuple[Tree, Tree]]:
    """(source only, with bytecode), read-only."""
    if not _BUILT:
        dists = runtime_distributions()
        folder = Path(tempfile.mkdtemp(prefix="gitconnect-deployed-"))
        trees = (Tree("source only", folder / "source"), Tree("with bytecode", folder / "bytecode"))
        atexit.register(_remove, folder, trees)
        for tree, bytecode in zip(trees, (False, True), strict=True):
            _build(tree.root, bytecode, dists)
            _read_only(tree.root)
        _BUILT.append(trees)
    yield _BUILT[0]
