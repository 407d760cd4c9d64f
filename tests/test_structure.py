"""The house's rules that no linter states by itself: every module sits on a floor of the layers contract (so
lint-imports judges all of them), and each shared part is built in one place, prelabel/parts.py."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "backend" / "prelabel"
# The shared parts of a process: built by prelabel.parts.Parts alone, from Settings, and passed down.
PARTS = {"Redis", "StrictRedis", "from_url", "ResultStore", "Ledger", "Metrics", "WorkerRegistry", "LabelStudio",
         "LearnedStore", "VocabularyInForce", "ColumnQueue"}


def layered() -> set[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    [layers] = [contract["layers"] for contract in config["tool"]["importlinter"]["contracts"]
                if contract["type"] == "layers"]
    return {name.strip() for layer in layers for name in layer.split("|")}


def test_every_module_is_on_a_floor_of_the_layers_contract():
    tops = {f"prelabel.{path.stem}" for path in PACKAGE.glob("*.py") if path.stem != "__init__"}
    tops |= {f"prelabel.{path.name}" for path in PACKAGE.iterdir() if (path / "__init__.py").exists()}
    assert tops, "no module found: the package moved?"
    assert sorted(tops - layered()) == []


def built_here(path: Path) -> list[str]:
    """The shared parts a module constructs (a call to the class, or to Redis.from_url)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
            if name in PARTS:
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {name}")
    return found


def test_each_shared_part_is_built_in_parts_py_alone():
    elsewhere = [line for path in sorted(PACKAGE.rglob("*.py")) if path.name != "parts.py" or path.parent != PACKAGE
                 for line in built_here(path)]
    assert elsewhere == []
    assert {line.rsplit(": ", 1)[1] for line in built_here(PACKAGE / "parts.py")} == PARTS - {"StrictRedis", "Redis"}


def test_the_strict_section_of_pyproject_passes_mypy_strict():
    """The typed records' modules (pyproject's strict override, which `make lint` applies) are what `mypy
    --strict` says: the override lists --strict's flags one by one, and this keeps the two from drifting."""
    import subprocess
    import sys

    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    [strict] = [entry for entry in config["tool"]["mypy"]["overrides"] if entry.get("disallow_any_generics")]
    packages = {module.removesuffix(".*") for module in strict["module"] if module.endswith(".*")}
    arguments = [part for module in strict["module"] if module not in packages
                 for part in (("-p", module.removesuffix(".*")) if module.endswith(".*") else ("-m", module))]
    completed = subprocess.run([sys.executable, "-m", "mypy", "--strict", "--follow-imports=silent",
                                "--ignore-missing-imports", "--config-file", "/dev/null", *arguments],
                               cwd=ROOT / "backend", capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stdout + completed.stderr
