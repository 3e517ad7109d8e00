"""`./demo` installs what it runs and nothing else (`uv sync --locked --no-group dev`): every
package its scripts import must be in what that installs, or a fresh clone's demo fails at import.

The tests themselves run with every group installed, so only this check sees the demo's own set.
"""

from __future__ import annotations

import ast
import importlib.metadata
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = ROOT / "scripts"
DEMO_INSTALL = ["--locked", "--no-group", "dev"]  # as ./demo runs `uv sync`


def imported_by_the_demo() -> set[str]:
    """Top-level modules scripts/demo.py imports, with the scripts of ours it imports in turn."""
    found: set[str] = set()
    pending, seen = ["demo"], set()
    while pending:
        name = pending.pop()
        seen.add(name)
        tree = ast.parse((SCRIPTS / f"{name}.py").read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                modules = [node.module]
            else:
                continue
            for module in (m.split(".")[0] for m in modules):
                if (SCRIPTS / f"{module}.py").exists():
                    if module not in seen:
                        pending.append(module)
                elif module not in sys.stdlib_module_names and module != "__future__":
                    found.add(module)
    return found


def installed_by_the_demo() -> tuple[set[str], dict[str, str]]:
    """The distributions `uv sync` installs for ./demo, read from uv.lock (no network), and the
    modules of those installed from a folder of ours (the project, workspace members)."""
    # The uv ./demo would use (scripts/find-uv.sh: on PATH, in pip's user bin, or in .tools/).
    uv = (
        shutil.which("uv")
        or subprocess.run(
            ["bash", str(SCRIPTS / "find-uv.sh")], capture_output=True, text=True, check=True
        ).stdout.strip()
    )
    exported = subprocess.run(
        [uv, "export", *DEMO_INSTALL, "--no-hashes", "--format", "requirements-txt"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    names: set[str] = set()
    ours: dict[str, str] = {}  # module -> distribution, for editable installs
    for line in exported.splitlines():
        if line.startswith("-e ."):
            folder = ROOT / line[len("-e ") :]
            pyproject = (folder / "pyproject.toml").read_text(encoding="utf-8")
            name = re.search(r'^name = "([^"]+)"', pyproject, re.MULTILINE)
            assert name, f"no project name in {folder}/pyproject.toml"
            names.add(name[1])
            for package in folder.glob("*/__init__.py"):
                ours[package.parent.name] = name[1]
        elif line and line[0].isalnum():
            names.add(re.split(r"[=<>; \[]", line, maxsplit=1)[0])
    return {_normalized(name) for name in names}, ours


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_the_demo_installs_every_package_its_scripts_import() -> None:
    installed, ours = installed_by_the_demo()
    # Which distribution holds a module: ours by their folders, others as this environment says,
    # else the module's own name (an environment without the demo's group: test-next-sdk.sh).
    providers = {**importlib.metadata.packages_distributions()}
    providers |= {module: [dist] for module, dist in ours.items()}
    missing = {
        module: providers.get(module, [module])
        for module in sorted(imported_by_the_demo())
        if not any(_normalized(dist) in installed for dist in providers.get(module, [module]))
    }
    assert not missing, f"./demo does not install what its scripts import: {missing}"
