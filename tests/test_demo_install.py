"""`./demo` installs what it runs and nothing else (`uv sync --locked --no-group dev`): every
package its scripts import must be in what that installs, or a fresh clone's demo fails at import.

The tests themselves run with every group installed, so only this check sees the demo's own set.
"""

from __future__ import annotations

import ast
import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

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


def test_a_uv_off_path_is_said_with_the_doc_whose_uv_commands_the_export_makes_work(
    tmp_path: Path,
) -> None:
    """scripts/find-uv.sh names where the `uv ...` commands are that the `export PATH` line it
    prints makes work: a file that has them. A uv in pip's user bin, off PATH: a stand-in
    Python answers `-m site --user-base` with a folder whose bin/ has a stand-in uv."""
    user_bin = tmp_path / "user" / "bin"
    user_bin.mkdir(parents=True)
    (user_bin / "uv").write_text("#!/bin/sh\n", encoding="utf-8")
    python = tmp_path / "python"
    python.write_text(f'#!/bin/sh\n[ "$*" = "-m site --user-base" ] && echo {user_bin.parent}\n')
    for executable in (user_bin / "uv", python):
        executable.chmod(0o755)
    path = os.pathsep.join(["/usr/bin", "/bin"])
    if shutil.which("uv", path=path):
        pytest.skip("a uv in /usr/bin or /bin is on every PATH: none is off it")

    found = subprocess.run(
        ["bash", str(SCRIPTS / "find-uv.sh")],
        env={"PATH": path, "PYTHON": str(python), "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        check=True,
    )

    assert found.stdout.strip() == str(user_bin / "uv")
    said = re.fullmatch(
        r"==> uv is at (\S+), not on your PATH; to run the uv commands of (\S+): "
        r'export PATH="(\S+):\$PATH"\n',
        found.stderr,
    )
    assert said, found.stderr
    assert said[1] == str(user_bin / "uv")
    assert said[3] == str(user_bin)
    commands = re.findall(r"^uv \w+", (ROOT / said[2]).read_text(encoding="utf-8"), re.MULTILINE)
    assert commands, f"{said[2]} has no `uv` command for the export to make work"
