"""The package's floors and the directions imports may take between them, read from the source.

Every module under reasonembed/ is parsed (ast) and each import is collected, function-level
imports included, as the module it names. A module's *floor* is its first name under
`reasonembed` (`reasonembed.steps.seeds` -> "steps", `reasonembed.errors` -> "errors").
From the bottom:

    errors, logs, interrupts, network       process-wide helpers (top-level modules)
    data                                     contracts and files (records, stats, corpora, ...)
    bright, quality, retrieval, prompts      BRIGHT's files, quality metrics, encoders, prompts
    config                                   the factory's configuration
    llms                                     LLM backends
    steps                                    distilabel steps
    factory                                  one generate run and its machinery
    train, eval, hub, validation             Redapter, the evaluator, the Hub, validate
    commands, cli                            the `reasonembed` command

The rules below are the ones the package keeps (not a full order: `quality` reads what the run
wrote, `bright` and `data` know each other's domains).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import reasonembed

PACKAGE = Path(reasonembed.__file__).parent
COMMAND_FLOORS = {"commands", "cli"}
# floor -> the floors it must not import, and why
RULES: dict[str, tuple[set[str], str]] = {
    "steps": (
        {"factory", "train", "eval", "hub", "validation"} | COMMAND_FLOORS,
        "steps import no run machinery (the run passes in what they need)",
    ),
    "train": ({"eval", "validation"} | COMMAND_FLOORS, "the trainer does not import the evaluator"),
    "eval": ({"train", "validation"} | COMMAND_FLOORS, "the evaluator does not import the trainer"),
    # "above" llms: every floor but the process-wide helpers, data, config, retrieval, prompts
    "llms": (
        {"steps", "factory", "quality", "bright", "train", "eval", "hub", "validation"}
        | COMMAND_FLOORS,
        "backends import nothing above them (only errors/logs/network, data, config, retrieval, "
        "prompts and llms)",
    ),
    "data": (
        {"steps", "factory", "llms", "train", "eval", "hub", "validation"} | COMMAND_FLOORS,
        "data/ imports no step, run or command",
    ),
    "retrieval": (
        {"config", "llms", "steps", "factory", "quality", "bright", "train", "eval", "hub"}
        | {"validation", "prompts"}
        | COMMAND_FLOORS,
        "the encoder layer imports nothing above it (only the helpers and data)",
    ),
    "prompts": (
        {"data", "config", "llms", "steps", "factory", "retrieval", "quality", "bright"}
        | {"train", "eval", "hub", "validation"}
        | COMMAND_FLOORS,
        "prompt templates import nothing of the package",
    ),
    "quality": (
        {"steps", "llms", "factory", "train", "eval", "hub", "validation"} | COMMAND_FLOORS,
        "quality reads the data an output folder holds, never the run, steps, train, eval or "
        "commands",
    ),
    "hub": (
        {"steps", "factory", "llms", "train", "eval"} | COMMAND_FLOORS,
        "a release reads an output folder, never the run, steps, train or eval",
    ),
    "factory": (
        {"train", "eval", "hub", "validation"} | COMMAND_FLOORS,
        "the run imports neither the trainer, the evaluator, the Hub nor a command",
    ),
    "config": (
        {"steps", "factory", "llms", "train", "eval", "hub", "validation"} | COMMAND_FLOORS,
        "the configuration imports no step, run or command",
    ),
}
TOP_LEVEL_MODULES_MAX = 6


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_package(path: Path) -> bool:
    return path.name == "__init__.py"


def imports_of(path: Path) -> list[tuple[int, str]]:
    """(line, dotted module) of every import in `path`, at any depth; `from X import name`
    counts `X.name` when that is a module of the package, else `X`."""
    name = module_name(path)
    package = name if is_package(path) else name.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                is_module = (PACKAGE.parent / candidate.replace(".", "/")).with_suffix(".py")
                is_pkg = PACKAGE.parent / candidate.replace(".", "/") / "__init__.py"
                found.append(
                    (node.lineno, candidate if is_module.exists() or is_pkg.exists() else base)
                )
    return found


def floor(dotted: str) -> str | None:
    parts = dotted.split(".")
    if parts[0] != "reasonembed" or len(parts) < 2:
        return None
    return parts[1]


def violations(root: Path = PACKAGE) -> list[str]:
    problems = []
    for path in sorted(root.rglob("*.py")):
        own = floor(module_name(path))
        if own not in RULES:
            continue
        forbidden, why = RULES[own]
        for line, target in imports_of(path):
            if floor(target) in forbidden:
                where = path.relative_to(PACKAGE.parent)
                problems.append(f"{where}:{line} imports {target}: {why}")
    return problems


def test_import_directions():
    problems = violations()
    assert not problems, "import rules broken:\n" + "\n".join(problems)


def test_every_floor_in_the_rules_exists():
    floors = {path.stem if path.is_file() else path.name for path in PACKAGE.iterdir()}
    assert set(RULES) <= floors
    for forbidden, _ in RULES.values():
        assert forbidden <= floors, forbidden - floors


def test_imports_are_read_at_any_depth(tmp_path, monkeypatch):
    """A function-level import counts too (and relative imports resolve)."""
    fake = tmp_path / "reasonembed"
    (fake / "steps").mkdir(parents=True)
    (fake / "factory").mkdir()
    (fake / "__init__.py").write_text("")
    (fake / "steps" / "__init__.py").write_text("")
    (fake / "factory" / "__init__.py").write_text("")
    (fake / "factory" / "pipeline.py").write_text("")
    (fake / "steps" / "x.py").write_text(
        "def f():\n    from ..factory import pipeline\n    import reasonembed.factory\n"
    )
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", fake)
    assert violations(fake) == [
        "reasonembed/steps/x.py:2 imports reasonembed.factory.pipeline: " + RULES["steps"][1],
        "reasonembed/steps/x.py:3 imports reasonembed.factory: " + RULES["steps"][1],
    ]


def test_top_level_holds_few_modules():
    modules = sorted(path.name for path in PACKAGE.glob("*.py"))
    assert len(modules) <= TOP_LEVEL_MODULES_MAX, modules


@pytest.mark.parametrize("package", ["reasonembed.data", "reasonembed.factory", "reasonembed.cli"])
def test_light_packages(package):
    """Importing a package (not its modules) loads neither torch nor distilabel."""
    code = (
        f"import sys, {package}; "
        "print(sorted(m for m in ('torch', 'distilabel', 'transformers') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
