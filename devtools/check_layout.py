"""The house rules that no linter checks: short modules, short views, no SQL in the staff pages.

``python -m devtools.check_layout`` prints every breach and exits 1 if there is one
(``make lint`` runs it):

- a module under ``app/`` or ``workers/`` longer than ``MAX_MODULE`` lines;
- a view function (one with a ``route``/``get``/``post`` decorator) longer than
  ``MAX_VIEW`` lines from its ``def`` to its end;
- a module under ``app/staff/`` that touches ``db.session`` or builds a query
  (``select(``), which belongs in a service;
- a ``WebhookEvent(...)`` built in a service other than the one that stores events.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MAX_MODULE = 450
MAX_VIEW = 30
ROUTE_DECORATORS = {"route", "get", "post", "put", "delete", "patch"}


def _is_view(node: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    for decorator in node.decorator_list:
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        if isinstance(target, ast.Attribute) and target.attr in ROUTE_DECORATORS:
            return True
    return False


def breaches(root: Path = ROOT) -> list[str]:
    found: list[str] = []
    for path in sorted([*root.glob("app/**/*.py"), *root.glob("workers/**/*.py")]):
        name = path.relative_to(root).as_posix()
        text = path.read_text(encoding="utf-8")
        lines = text.count("\n") + (0 if text.endswith("\n") or not text else 1)
        if lines > MAX_MODULE:
            found.append(f"{name}: {lines} lines (at most {MAX_MODULE})")
        tree = ast.parse(text, filename=name)
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and _is_view(node):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > MAX_VIEW:
                    found.append(
                        f"{name}:{node.lineno}: view {node.name} is {length} lines (at most {MAX_VIEW})"
                    )
            if (
                name.startswith("app/services/")
                and name != "app/services/webhooks.py"
                and isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id == "WebhookEvent"
            ):
                found.append(f"{name}:{node.lineno}: builds a WebhookEvent it does not store")
        if name.startswith("app/staff/"):
            for number, line in enumerate(text.splitlines(), 1):
                if "db.session" in line or "select(" in line:
                    found.append(f"{name}:{number}: a query in the staff blueprint (use a service)")
    return found


def main() -> int:
    found = breaches()
    for line in found:
        print(line)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
