"""Conventions that keep the core usable without the app (ARCHITECTURE.md)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

CORE = Path(__file__).resolve().parents[1] / "embcore"
CORE_FILES = sorted(CORE.rglob("*.py"))
SQL = re.compile(
    r"\b(SELECT\s.+\sFROM|INSERT\s+INTO|DELETE\s+FROM|UPDATE\s+\w+\s+SET|CREATE\s+TABLE)\b", re.I | re.S
)


@pytest.mark.parametrize("path", CORE_FILES, ids=lambda p: str(p.relative_to(CORE)))
def test_core_never_imports_streamlit(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module]
        assert not any(n == "streamlit" or n.startswith("streamlit.") for n in names), f"{path}:{node.lineno}"


def _docstrings(tree: ast.AST) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                ids.add(id(body[0].value))
    return ids


def sql_strings(source: str) -> list[int]:
    """Line numbers of string literals (docstrings excepted) that hold an SQL statement."""
    tree = ast.parse(source)
    docs = _docstrings(tree)
    return [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in docs
        and SQL.search(node.value)
    ]


def test_sql_detector_finds_a_statement() -> None:
    assert sql_strings(
        'def f(s):\n    """Reads rows: SELECT a FROM t."""\n    return s.fetchone("SELECT id FROM projects")\n'
    ) == [3]


@pytest.mark.parametrize(
    "path",
    [p for p in CORE_FILES if "store" not in p.relative_to(CORE).parts],
    ids=lambda p: str(p.relative_to(CORE)),
)
def test_sql_lives_in_the_store(path: Path) -> None:
    assert not sql_strings(path.read_text(encoding="utf-8")), f"{path}: SQL outside embcore/store"


def _imported_modules(tree: ast.AST) -> list[tuple[int, str]]:
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.append((node.lineno, node.module))
    return out


@pytest.mark.parametrize("path", CORE_FILES, ids=lambda p: str(p.relative_to(CORE)))
def test_only_the_cli_parses_arguments(path: Path) -> None:
    if path.relative_to(CORE).parts[0] == "cli":
        return
    tree = ast.parse(path.read_text(encoding="utf-8"))
    hits = [
        line for line, name in _imported_modules(tree) if name == "argparse" or name.startswith("argparse.")
    ]
    assert not hits, f"{path}:{hits[0]}: argparse outside embcore/cli"


_LOADERS = {"SentenceTransformer", "CrossEncoder", "from_pretrained", "AutoModel", "AutoTokenizer",
            "AutoModelForSequenceClassification"}  # fmt: skip


def model_loads(source: str) -> list[int]:
    """Line numbers of calls that load a model (``SentenceTransformer(...)``, ``CrossEncoder(...)``,
    ``X.from_pretrained(...)``, ``AutoModel...(...)``)."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call):
            f = node.func
            name = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else ""
            if name in _LOADERS:
                lines.append(node.lineno)
    return lines


def test_model_load_detector_finds_a_load() -> None:
    assert model_loads(
        "from sentence_transformers import SentenceTransformer\nm = SentenceTransformer(p)\n"
    ) == [2]
    assert model_loads("import transformers\nt = transformers.AutoTokenizer.from_pretrained(p)\n") == [2]


@pytest.mark.parametrize("path", CORE_FILES, ids=lambda p: str(p.relative_to(CORE)))
def test_only_models_loads_a_model(path: Path) -> None:
    if path.relative_to(CORE).parts[0] == "models":
        return
    hits = model_loads(path.read_text(encoding="utf-8"))
    assert not hits, f"{path}:{hits[0]}: a model is loaded outside embcore/models"


REPO = CORE.parent
REPO_FILES = sorted(
    p for d in ("embcore", "app_pages", "tests", "benchmarks", "scripts") for p in (REPO / d).rglob("*.py")
) + [REPO / "app.py"]


def _module_file(module: str) -> Path | None:
    path = REPO.joinpath(*module.split("."))
    for candidate in (path.with_suffix(".py"), path / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _top_level_names(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names |= {t.id for t in node.targets if isinstance(t, ast.Name)}
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names |= {(a.asname or a.name).split(".")[0] for a in node.names}
    return names


@pytest.mark.parametrize("path", REPO_FILES, ids=lambda p: str(p.relative_to(REPO)))
def test_every_embcore_import_resolves_in_this_tree(path: Path) -> None:
    # an editable install of another checkout would otherwise answer for a module moved away here
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name.split(".")[0] == "embcore":
                    assert _module_file(a.name), f"{path}:{node.lineno}: no module {a.name}"
        elif (
            isinstance(node, ast.ImportFrom)
            and not node.level
            and (node.module or "").split(".")[0] == "embcore"
        ):
            target = _module_file(node.module)
            assert target, f"{path}:{node.lineno}: no module {node.module}"
            names = _top_level_names(target)
            for a in node.names:
                assert a.name in names or _module_file(f"{node.module}.{a.name}"), (
                    f"{path}:{node.lineno}: {node.module} has no {a.name}"
                )
