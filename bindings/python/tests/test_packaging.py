"""The wheel as users get it: installed into a fresh venv and used from a
scratch directory (the README's Python snippets), and its type stubs."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import venv
from pathlib import Path
from typing import Dict

import pytest

from conftest import ROOT


def readme_snippets() -> Dict[str, str]:
    """The README's Python blocks, by the marker comment before each."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    found = re.findall(r"<!-- (\w+-python) -->\n```python\n(.*?)```", text, flags=re.S)
    return {name: code for name, code in found}


def test_readme_has_the_python_snippets() -> None:
    assert set(readme_snippets()) == {"quickstart-python", "guide-python"}


def wheel() -> Path:
    wheels = sorted((ROOT / "build" / "wheels").glob("ov_memory-*.whl"))
    assert len(wheels) == 1, f"make python builds exactly one wheel into build/wheels, found {wheels}"
    return wheels[0]


def test_wheel_in_a_fresh_venv_runs_the_readme_snippets(tmp_path: Path) -> None:
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    py = env_dir / "bin" / "python"
    subprocess.run([str(py), "-m", "pip", "install", "-q", "--disable-pip-version-check", str(wheel())],
                   check=True)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    clean = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    outputs = {}
    for name, code in readme_snippets().items():
        (scratch / f"{name}.py").write_text(code, encoding="utf-8")
        r = subprocess.run([str(py), f"{name}.py"], cwd=scratch, env=clean, capture_output=True, text=True)
        assert r.returncode == 0, f"{name}: {r.stderr}"
        outputs[name] = r.stdout
    quick = outputs["quickstart-python"].splitlines()
    assert quick[0].endswith("The user prefers green tea") and quick[1].endswith("Standup moved to 10:30")
    assert "INVALID_DATA {'expected': 4, 'field': 'embedding', 'got': 2}" in quick
    assert quick[-1] == "HEALTHY"
    assert outputs["guide-python"].strip() == "1 HEALTHY 0.0"
    # It is the wheel that was imported, not the source tree.
    r = subprocess.run([str(py), "-c", "import ov_memory; print(ov_memory.__file__)"], cwd=scratch, env=clean,
                       capture_output=True, text=True, check=True)
    assert str(env_dir) in r.stdout


def test_stubs_match_the_module_and_the_examples_type_check(tmp_path: Path) -> None:
    for name, code in readme_snippets().items():
        (tmp_path / f"{name.replace('-', '_')}.py").write_text(code, encoding="utf-8")
    files = [str(p) for p in sorted(tmp_path.glob("*.py"))] + [str(ROOT / "examples" / "python" / "demo.py")]
    r = subprocess.run([sys.executable, "-m", "mypy", "--strict", "--no-incremental", *files],
                       capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    # A typo in an option is a type error, not only a run-time one.
    (tmp_path / "typo.py").write_text("from ov_memory import MemoryStore\nMemoryStore(embeding_dim=4)\n")
    r = subprocess.run([sys.executable, "-m", "mypy", "--strict", "--no-incremental", "typo.py"],
                       capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode != 0 and "embeding_dim" in r.stdout
    # Every name and signature of the stubs against the compiled module.
    allow = ROOT / "bindings" / "python" / "stubtest-allowlist.txt"
    r = subprocess.run([sys.executable, "-m", "mypy.stubtest", "ov_memory", "--allowlist", str(allow)],
                       capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
