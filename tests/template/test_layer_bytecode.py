"""Both layers are built with their bytecode (issue 12): template.yaml builds each with its own Makefile, and
`sam build` of the package's layer yields a python3.13 `.pyc` beside every module, hash-based and unchecked (Lambda's
code directory is read-only: without them every cold start compiles; a timestamp pyc would be stale after the zip)."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from infra.local import template as tpl

ROOT = Path(__file__).resolve().parents[2]
LAYERS = {"GitconnectLayer": "layers/gitconnect", "DepsLayer": "layers/deps"}
UNCHECKED_HASH = 0b01  # PEP 552: hash-based (bit 0), check_source (bit 1) off


def test_each_layer_is_built_by_its_makefile_target() -> None:
    layers = tpl.resources_of_type(tpl.load_template(), "AWS::Serverless::LayerVersion")
    assert set(layers) == set(LAYERS)
    for logical_id, folder in LAYERS.items():
        resource = layers[logical_id]
        assert resource["Properties"]["ContentUri"].rstrip("/") == folder
        assert resource["Metadata"] == {"BuildMethod": "makefile", "BuildArchitecture": "arm64"}
        makefile = (ROOT / folder / "Makefile").read_text()
        assert re.search(rf"^build-{logical_id}:", makefile, re.M), f"{folder}/Makefile has no build-{logical_id}"
        assert "compileall" in makefile and "--invalidation-mode unchecked-hash" in makefile


def sam() -> str:
    path = os.environ.get("GITCONNECT_SAM") or str(ROOT / ".tools/sam/bin/sam")
    if not Path(path).exists():
        pytest.fail(f"SAM CLI not found at {path}: run the tests with `make template`, which installs it")
    return path


@pytest.mark.slow
def test_sam_build_puts_python313_bytecode_beside_every_module_of_the_package(tmp_path: Path) -> None:
    # Given / When: `sam build` of the package's layer (python3.13 from pyenv, as DESIGN.md §6 says)
    env = {**os.environ, "PYENV_VERSION": "3.11.7:3.13.0", "SAM_CLI_TELEMETRY": "0", "AWS_DEFAULT_REGION": "us-east-1"}
    result = subprocess.run([sam(), "build", "GitconnectLayer", "--build-dir", str(tmp_path / "build"),
                             "--cache-dir", str(tmp_path / "cache")], cwd=ROOT, env=env, capture_output=True,
                            text=True, check=False, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    # Then: every module of the package has its cpython-313 pyc, hash-based and unchecked
    built = tmp_path / "build" / "GitconnectLayer" / "python"
    sources = sorted(p.relative_to(built) for p in built.rglob("*.py"))
    expected = sorted((ROOT / "layers/gitconnect/python").joinpath(p) for p in sources)
    assert expected and all(p.exists() for p in expected)
    assert len(sources) == len(list((ROOT / "layers/gitconnect/python/gitconnect").rglob("*.py")))
    for source in sources:
        pyc = built / source.parent / "__pycache__" / f"{source.stem}.cpython-313.pyc"
        assert pyc.exists(), f"no bytecode for {source}"
        assert int.from_bytes(pyc.read_bytes()[4:8], "little") == UNCHECKED_HASH, f"{pyc} is not unchecked-hash"
