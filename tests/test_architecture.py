"""The layering rules of ARCHITECTURE.md, checked on the source (a short AST walk, no import).

- the engine and its store (``turnero/`` outside ``turnero/web/`` and the CLI) import no web,
  socket, printer or HTTP-client library and none of the parts;
- the parts (kiosk, display, counter, printers, sync, admin, central) never import each other;
- ``config/`` only loads settings: it imports neither the engine nor a part;
- SQL is written only in the store layer (the box's ``turnero/`` and the central's database modules);
- no module is over 600 lines.
"""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PARTS = ("kiosk", "display", "counter", "printers", "sync", "admin", "central")
WEB_LIBRARIES = ("flask", "flask_socketio", "flask_limiter", "flask_wtf", "socketio", "engineio", "werkzeug",
                 "jinja2", "gunicorn", "escpos", "requests", "simple_websocket")
# The wiring sits beside the engine: the web layer, the CLI and the demo, and the package's lazy
# ``turnero.create_app`` (importing the engine does not import Flask).
ENGINE_EXEMPT = ("turnero/web/", "turnero/cli.py", "turnero/demo.py", "turnero/__init__.py")
# central/languages.py: the language packages' tables, kept out of service.py (near 600 lines).
SQL_HOMES = ("turnero/", "central/db.py", "central/service.py", "central/kpis.py", "central/languages.py")
SQL_OUTSIDE_STORE = ("turnero/web/", "turnero/cli.py", "turnero/demo.py")
SQL = re.compile(r"^\s*(SELECT|INSERT\s+INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM|CREATE\s+(TABLE|INDEX)|PRAGMA|"
                 r"BEGIN|COMMIT|ROLLBACK|WITH\s+\w+\s+AS)\b")
MAX_LINES = 600


def project_modules() -> list[Path]:
    folders = ("turnero", "config", *PARTS, "bench", "tests")
    return sorted(path for folder in folders for path in (ROOT / folder).rglob("*.py")
                  if "vendor" not in path.parts)


def relative(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def imported(tree: ast.AST) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def top(name: str) -> str:
    return name.split(".")[0]


def sql_strings(tree: ast.AST) -> list[int]:
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and SQL.match(node.value):
            lines.append(node.lineno)
        elif isinstance(node, ast.JoinedStr):
            head = node.values[0] if node.values else None
            if isinstance(head, ast.Constant) and isinstance(head.value, str) and SQL.match(head.value):
                lines.append(node.lineno)
    return lines


MODULES = {relative(path): ast.parse(path.read_text(encoding="utf-8")) for path in project_modules()}


def test_the_checker_sees_the_code():
    assert "turnero/engine.py" in MODULES and "turnero/web/app.py" in MODULES
    assert sql_strings(MODULES["turnero/engine.py"]), "the SQL pattern must find the engine's SQL"
    assert "flask" in {top(name) for name in imported(MODULES["turnero/web/app.py"])}


@pytest.mark.parametrize("module", [name for name in MODULES if name.startswith("turnero/")
                                    and not name.startswith(ENGINE_EXEMPT)])
def test_engine_and_store_import_no_web_socket_printer_or_http_library(module):
    names = imported(MODULES[module])
    bad = sorted(name for name in names if top(name) in WEB_LIBRARIES or top(name) in PARTS
                 or name.startswith("turnero.web") or name == "turnero.cli")
    assert not bad, f"{module} imports {bad}"


@pytest.mark.parametrize("module", [name for name in MODULES if top(name.split("/")[0]) in PARTS])
def test_parts_never_import_each_other(module):
    own = module.split("/")[0]
    bad = sorted(name for name in imported(MODULES[module]) if top(name) in PARTS and top(name) != own)
    assert not bad, f"{module} imports another part: {bad}"


@pytest.mark.parametrize("module", [name for name in MODULES if name.startswith("config/")])
def test_config_only_loads_settings(module):
    bad = sorted(name for name in imported(MODULES[module]) if top(name) in ("turnero", *PARTS))
    assert not bad, f"{module} imports {bad}"


@pytest.mark.parametrize("module", [name for name in MODULES if not name.startswith(("tests/", "bench/"))])
def test_sql_only_in_the_store_layer(module):
    if module.startswith(SQL_HOMES) and not module.startswith(SQL_OUTSIDE_STORE):
        return
    lines = sql_strings(MODULES[module])
    assert not lines, f"{module} writes SQL (lines {lines}); move it into the store layer"


@pytest.mark.parametrize("module", list(MODULES))
def test_no_module_over_600_lines(module):
    count = len((ROOT / module).read_text(encoding="utf-8").splitlines())
    assert count <= MAX_LINES, f"{module} has {count} lines"
