"""Every ``platform-assets ...`` command that a message or the README suggests parses with the real parser.

Suggestions are read from every string literal of the package but docstrings
(f-strings with their placeholders filled in by sample values) and from the README, where they
stand in backticks or on a line of a code block. So advice can never name a
command, an argument or a flag that the command does not have.
"""

from __future__ import annotations

import ast
import re
import shlex
from pathlib import Path

import pytest

from platform_assets.cli import UsageError, build_parser

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "platform_assets"
IN_BACKTICKS = re.compile(r"`(platform-assets(?: [^`]*)?)`")
NAMED = re.compile(r"platform-assets (?=[a-z])")
# sample values for the placeholders of advice: upper-case words in usage text, expressions in f-strings
WORDS = {"PRODUCT": "customers", "KEY": "a.csv", "TEXT": "why", "PATH": "p.yaml", "T": "2026-01-01"}


def _expression_value(expression: str) -> str:
    """A sample value for ``{expression}`` in an f-string: a product name, a file key or a number."""
    name = expression.split("(")[0].split("!")[0].split(":")[0].lower()
    if "key" in name:
        return "a.csv"
    if "product" in name or name in ("name", "args.product"):
        return "customers"
    return "3"


def _render(node: ast.JoinedStr | ast.Constant) -> str:
    if isinstance(node, ast.Constant):
        return str(node.value)
    parts = []
    for value in node.values:
        if isinstance(value, ast.Constant):
            parts.append(str(value.value))
        else:
            assert isinstance(value, ast.FormattedValue)
            parts.append(_expression_value(ast.unparse(value.value)))
    return "".join(parts)


def _docstrings(tree: ast.Module) -> list[ast.expr]:
    """The docstrings of the module and its classes and functions (they name commands; they do not advise)."""
    owners = [tree, *(node for node in ast.walk(tree) if isinstance(node, ast.ClassDef | ast.FunctionDef))]
    return [
        owner.body[0].value
        for owner in owners
        if owner.body and isinstance(owner.body[0], ast.Expr) and isinstance(owner.body[0].value, ast.Constant)
    ]


def _source_texts() -> list[tuple[str, str]]:
    """(where, text) of every string literal but docstrings, f-strings rendered with sample values."""
    texts = []
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        skipped = {id(part) for node in ast.walk(tree) if isinstance(node, ast.JoinedStr) for part in node.values}
        skipped |= {id(docstring) for docstring in _docstrings(tree)}
        for node in ast.walk(tree):
            if id(node) in skipped:
                continue
            if isinstance(node, ast.JoinedStr) or (isinstance(node, ast.Constant) and isinstance(node.value, str)):
                texts.append((f"{path.relative_to(REPO)}:{node.lineno}", _render(node)))
    return texts


def _readme_commands() -> list[tuple[str, str]]:
    """(where, command) of each README command: in backticks, or a code-block line that starts with one."""
    found = []
    in_block = False
    for number, line in enumerate((REPO / "README.md").read_text(encoding="utf-8").splitlines(), start=1):
        if line.startswith("```"):
            in_block = not in_block
            continue
        if in_block and line.startswith("platform-assets "):
            found.append((f"README.md:{number}", line.split("#")[0]))
        found += [(f"README.md:{number}", command) for command in IN_BACKTICKS.findall(line)]
    return found


def suggested_commands() -> list[tuple[str, str]]:
    """Every suggested command of the messages and the README, with where it stands."""
    found = [(where, command) for where, text in _source_texts() for command in IN_BACKTICKS.findall(text)]
    return found + _readme_commands()


def arguments(command: str) -> list[str]:
    """The command's arguments after ``platform-assets``, usage placeholders replaced by sample values."""
    words = []
    for word in shlex.split(command.replace("[", " ").replace("]", " ").replace("|", " "))[1:]:
        bare = word.rstrip(".")
        if word in ("...", "…"):
            words.append("why")
        elif bare.isupper() or bare in ("N", "Y", "A", "B"):
            words.append(WORDS.get(bare, "3"))
        else:
            words.append(word)
    return words


def test_suggestions_are_found_in_messages_and_the_readme() -> None:
    """The scan sees the advice it is meant to check (else the test below could pass on nothing)."""
    where = {place.split(":")[0] for place, _ in suggested_commands()}
    assert {"README.md", "platform_assets/cli.py", "platform_assets/merge/rows.py"} <= where
    commands = {command.split()[1] for _, command in suggested_commands() if len(command.split()) > 1}
    assert {"sync", "process", "merge", "exclude", "skip", "versions"} <= commands


@pytest.mark.parametrize(("where", "command"), suggested_commands(), ids=lambda value: str(value)[:60])
def test_every_suggested_command_parses(where: str, command: str) -> None:
    try:
        build_parser().parse_args(arguments(command))
    except UsageError as error:
        pytest.fail(f"{where}: `{command}` does not parse: {error}")


def test_messages_put_their_commands_in_backticks() -> None:
    """A suggestion outside backticks would escape the check above."""
    loose = [
        f"{where}: {text!r}"
        for where, text in _source_texts()
        if len(NAMED.findall(text)) > len(IN_BACKTICKS.findall(text))
    ]
    assert loose == []


def test_a_wrong_flag_in_advice_is_caught() -> None:
    """The check itself: advice with a flag the command does not take fails to parse."""
    with pytest.raises(UsageError):
        build_parser().parse_args(arguments("platform-assets exclude customers --version 3 --reason why"))
