"""The code stays linted, formatted, type-checked and within size limits (pyproject.toml's ruff and mypy settings)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CHECKED = ["platform_assets", "platform_assets_tests", "benchmarks"]


def _ruff(*arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ruff", *arguments, *CHECKED], cwd=REPO, capture_output=True, text=True, timeout=120
    )


def test_ruff_lint_passes() -> None:
    result = _ruff("check", "--no-cache")
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format_is_applied() -> None:
    result = _ruff("format", "--check", "--no-cache")
    assert result.returncode == 0, "run `ruff format`:\n" + result.stdout + result.stderr


def test_mypy_passes() -> None:
    """``[tool.mypy]`` in pyproject.toml: the files it names, its strictness, its plugin."""
    result = subprocess.run([sys.executable, "-m", "mypy"], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr


MAX_MODULE_LINES = 700
OUTSIDE_REFERENCES = re.compile(r"design\.md|\.\./shared|\bissue\s+#?\d+|/work/", re.IGNORECASE)
"""Documents outside the repository that comments and docstrings must not send a reader to."""


def _sources() -> list[Path]:
    return sorted(path for folder in CHECKED for path in (REPO / folder).rglob("*.py") if ".work" not in path.parts)


def test_no_module_of_the_package_is_over_700_lines() -> None:
    long = [
        f"{path.relative_to(REPO)}: {count} lines"
        for path in sorted((REPO / "platform_assets").rglob("*.py"))
        if (count := len(path.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES
    ]
    assert not long, f"split these modules (at most {MAX_MODULE_LINES} lines):\n" + "\n".join(long)


def test_comments_and_docstrings_point_only_to_files_in_the_repo() -> None:
    found = [
        f"{path.relative_to(REPO)}:{number}: {line.strip()}"
        for path in _sources()
        if path != Path(__file__).resolve()  # this file names the patterns
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if OUTSIDE_REFERENCES.search(line)
    ]
    assert not found, "point to docs/architecture.md, the README or a module instead:\n" + "\n".join(found)


def _readme_layout() -> list[str]:
    """The paths the README's layout section names (entries at depth 0 and 2; deeper lines continue a description)."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text.split("\n## Layout\n", 1)[1].split("\n## ", 1)[0]
    block = section.split("```\n", 2)[1]
    paths, parent = [], ""
    for line in block.splitlines():
        indent = len(line) - len(line.lstrip(" "))
        if not line.strip() or indent not in (0, 2):
            continue
        name = line.split()[0]
        if indent == 0:
            parent = name if name.endswith("/") else ""
            paths.append(name)
        else:
            paths.append(parent + name)
    return paths


def test_the_readme_layout_names_existing_paths_and_every_part_of_the_package() -> None:
    named = _readme_layout()
    missing = [path for path in named if not (REPO / path).exists()]
    assert not missing, f"the README's layout names paths that do not exist: {missing}"
    parts = {
        f"platform_assets/{path.name}/" if path.is_dir() else f"platform_assets/{path.name}"
        for path in (REPO / "platform_assets").iterdir()
        if not path.name.startswith("__") and (path.suffix == ".py" or (path / "__init__.py").exists())
    }
    unnamed = sorted(parts - set(named))
    assert not unnamed, f"the README's layout does not name: {unnamed}"


TYPE_IGNORE = re.compile(r"#\s*type:\s*ignore(?P<codes>\[[a-z, -]+\])?(?P<rest>.*)")


def test_a_type_ignore_names_its_error_and_why() -> None:
    """A ``type: ignore`` never stands in for an annotation: it names the error code and gives its reason."""
    bare = [
        f"{path.relative_to(REPO)}:{number}: {line.strip()}"
        for path in _sources()
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if (found := TYPE_IGNORE.search(line)) and not (found["codes"] and found["rest"].strip().startswith("#"))
    ]
    assert not bare, "annotate or narrow instead, or say why the ignore stays (# type: ignore[code]  # why):\n" + (
        "\n".join(bare)
    )


def test_no_line_is_over_120_characters() -> None:
    """Ruff's E501 lets a line of one long word (a string without spaces) pass; this does not."""
    long = [
        f"{path.relative_to(REPO)}:{number}: {len(line)} characters"
        for path in _sources()
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if len(line) > 120
    ]
    assert not long, "\n".join(long)
