"""The package's import graph: no cycle among authgate modules, and no import from a lower layer
to a higher one. Imports inside functions and under `TYPE_CHECKING` count: a type-only import is
still a dependency a reader has to hold in mind, and an import inside a function hides one. Only
modules that need an optional dependency may be imported inside a function (so that `import
authgate` works without the extra).

The layers, lowest first (a module may import its own layer and those below):

- core: models, errors, options, tokens, passwords, JWE, client IP, rate limits, mail, providers,
  stores, schema: the parts that know nothing of a request or of each other's flows;
- context: `AuthContext`, the services every flow shares;
- flows: one module per rule set (sessions, sign-in, security, accounts, MFA, OAuth, passkeys,
  sign-in links), each taking the context and explicit collaborators;
- engine: `AuthEngine`, the facade that builds the flows;
- web: the ASGI app, parsing, responses, route declarations, OpenAPI;
- app: `authgate.Auth`, the engine plus its routes app and dependencies;
- integrations: Starlette's RequireAuth, FastAPI's install(), Litestar's plugin;
- entry: the package itself, the CLI, the demo, the docs generator and the test kit.
"""

from __future__ import annotations

import ast
import fnmatch
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src"

LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("core", (
        "authgate._models", "authgate._errors", "authgate._config", "authgate._tokens", "authgate._passwords",
        "authgate._password_policy", "authgate._jwe", "authgate._emails", "authgate._redirects", "authgate._csrf",
        "authgate._optional", "authgate._hooks", "authgate._client_ip", "authgate._ratelimit",
        "authgate._redis_bounds", "authgate._startup", "authgate.mail", "authgate.mfa", "authgate.mfa.*",
        "authgate.providers", "authgate.providers.*", "authgate.stores", "authgate.stores.*", "authgate.schema",
        "authgate.schema.*",
    )),
    ("context", ("authgate._context",)),
    ("flows", (
        "authgate._verification", "authgate._sessions", "authgate._session_flow", "authgate._totp_codes",
        "authgate._security", "authgate._mfa", "authgate._account", "authgate._password_flow", "authgate._oauth",
        "authgate._passkeys", "authgate._magic_links",
    )),
    ("engine", ("authgate._engine",)),
    ("web", ("authgate._http", "authgate._http.*", "authgate.openapi")),
    ("app", ("authgate._auth",)),
    ("integrations", ("authgate.integrations", "authgate.integrations.*")),
    ("entry", (
        "authgate", "authgate.cli", "authgate._cli_db", "authgate._check", "authgate._demo", "authgate._docs",
        "authgate.testing", "authgate.testing.*",
    )),
)  # fmt: skip

#: Modules that import an optional dependency at their top, so they may be imported inside a
#: function (the only imports allowed there).
OPTIONAL = frozenset({
    "authgate._passkeys",  # webauthn
    "authgate._http.fastapi_dependencies",  # fastapi
    "authgate.integrations.fastapi",  # fastapi
    "authgate.integrations.litestar",  # litestar
    "authgate.stores.postgres",  # asyncpg
    "authgate.stores.redis",  # redis
    "authgate._demo",  # uvicorn and the demo extras
})  # fmt: skip


def _modules() -> dict[str, Path]:
    modules = {}
    for path in SRC.joinpath("authgate").rglob("*.py"):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


MODULES = _modules()


def _layer(module: str) -> int:
    for index, (_, patterns) in enumerate(LAYERS):
        if any(fnmatch.fnmatchcase(module, pattern) for pattern in patterns):
            return index
    raise AssertionError(f"{module} is in no layer: add it to LAYERS in {Path(__file__).name}")


def _imports(module: str) -> list[tuple[str, int, bool]]:
    """(imported authgate module, line, inside a function) for every import statement."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    tree = ast.parse(path.read_text(), str(path))
    in_function: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            in_function.update(id(inner) for inner in ast.walk(node) if inner is not node)
    found = []
    for node in ast.walk(tree):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            # `from . import x` imports the submodule x; `from .m import name` imports m.
            submodules = [f"{source}.{alias.name}" for alias in node.names if f"{source}.{alias.name}" in MODULES]
            targets = submodules or [source]
        for target in targets:
            while target and target not in MODULES:
                target = target.rpartition(".")[0]
            if target.startswith("authgate") and target != module:
                found.append((target, node.lineno, id(node) in in_function))
    return found


GRAPH = {module: _imports(module) for module in MODULES}


def test_every_module_has_a_layer() -> None:
    for module in MODULES:
        _layer(module)


def test_no_import_goes_up_a_layer() -> None:
    upward = [
        f"{module}:{line} imports {target} ({LAYERS[_layer(target)][0]} is above {LAYERS[_layer(module)][0]})"
        for module, imports in GRAPH.items()
        for target, line, _ in imports
        if _layer(target) > _layer(module)
    ]
    assert upward == []


def test_imports_inside_functions_are_only_for_optional_dependencies() -> None:
    hidden = [
        f"{module}:{line} imports {target} inside a function"
        for module, imports in GRAPH.items()
        for target, line, inside in imports
        if inside and target not in OPTIONAL
    ]
    assert hidden == []


def _cycles() -> list[list[str]]:
    edges = {module: sorted({target for target, _, _ in imports}) for module, imports in GRAPH.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(module: str) -> None:  # Tarjan's strongly connected components
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for target in edges[module]:
            if target not in index:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in on_stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == module:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for module in sorted(edges):
        if module not in index:
            visit(module)
    return cycles


def test_no_import_cycle() -> None:
    assert _cycles() == []


@pytest.mark.parametrize(
    ("module", "source", "broken"),
    [
        ("authgate._security", "from ._errors import", "from ._engine import AuthEngine\nfrom ._errors import"),
        (  # a type-only import counts too
            "authgate._context",
            "from ._config import",
            "if TYPE_CHECKING:\n    from . import _mfa\nfrom ._config import",
        ),
    ],
)
def test_the_check_sees_an_upward_or_circular_import(
    module: str, source: str, broken: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The checks above are only worth something if they fail: add one bad import and look."""
    text = MODULES[module].read_text()
    assert source in text
    copy = tmp_path / MODULES[module].name
    copy.write_text(text.replace(source, broken, 1))
    monkeypatch.setitem(MODULES, module, copy)
    monkeypatch.setitem(GRAPH, module, _imports(module))
    with pytest.raises(AssertionError):
        test_no_import_goes_up_a_layer()
    with pytest.raises(AssertionError):
        test_no_import_cycle()
