"""The house's rooms, read from the source: the import graph of the project's modules, counting imports inside
functions and the packages (below `landmarks` itself, whose `load_run` loads on first use) that Python imports
first, has no cycle; the engine reads no task but the contract; no task imports another; every optional method
the code looks for on a model is a hook of the one documented table."""

import ast
import re
from pathlib import Path

from landmarks.hooks import HOOKS

REPO = Path(__file__).resolve().parents[1]
ROOTS = {"landmarks": REPO / "landmarks", "landmarks.models": REPO / "models"}


def project_modules() -> dict[str, Path]:
    found = {}
    for prefix, root in ROOTS.items():
        for path in root.rglob("*.py"):
            parts = path.relative_to(root).with_suffix("").parts
            found[".".join([prefix, *parts[: -1 if parts[-1] == "__init__" else None]])] = path
    return found


def imports(modules: dict[str, Path]) -> dict[str, set[str]]:
    """Each module's project imports, anywhere in it, as the modules (or packages) they load."""

    def known(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        named = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                named |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                    base = f"{anchor}.{base}".rstrip(".")
                named |= {base} | {f"{base}.{alias.name}" for alias in node.names}
        loaded = {known(n) for n in named} - {None, name}
        parents = {p for m in loaded for p in (m.rsplit(".", k)[0] for k in range(1, m.count(".")))} & modules.keys()
        graph[name] = (loaded | parents) - {name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    done, path = set(), []

    def visit(node: str) -> list[str] | None:
        if node in path:
            return path[path.index(node) :] + [node]
        if node in done:
            return None
        path.append(node)
        for neighbour in sorted(graph.get(node, ())):
            if cycle := visit(neighbour):
                return cycle
        path.pop()
        done.add(node)
        return None

    return next((cycle for node in sorted(graph) if (cycle := visit(node))), None)


def test_the_project_has_no_import_cycle_counting_imports_inside_functions():
    graph = imports(project_modules())
    assert graph["landmarks.runs"] >= {"landmarks.build", "landmarks.export"}  # the graph sees what it must
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph))
    assert find_cycle({**graph, "landmarks.export": graph["landmarks.export"] | {"landmarks.runs"}})  # it finds one


def test_the_engine_reads_only_the_task_contract_and_no_task_reads_another_but_its_data():
    graph = imports(project_modules())
    for name, loaded in graph.items():
        tasks = {m for m in loaded if m.startswith("landmarks.tasks.") and m.count(".") >= 2}
        if name.startswith("landmarks.engine"):
            assert tasks <= {"landmarks.tasks.base"}, name
        if name.startswith("landmarks.tasks.") and name.count(".") >= 3:
            own = ".".join(name.split(".")[:3])
            others = {m for m in tasks if not m.startswith(own) and m != "landmarks.tasks.base"}
            shared = {"landmarks.tasks.pieces", "landmarks.tasks.confusion"}
            data = {m for m in others if m.count(".") == 2 or m.rsplit(".", 1)[1] in ("data", "datasets")}
            assert others - data <= shared, (name, others)  # another task's data it may read (image generation's)


WRAPPERS = {"_orig_mod", "module", "no_sync"}  # torch.compile's and DistributedDataParallel's, not the model's


def test_every_optional_method_looked_up_is_a_documented_hook():
    looked_up, asked = set(), set()
    for path in ROOTS["landmarks"].rglob("*.py"):  # the code that calls models (the zoo's own helpers aside)
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and len(node.args) >= 2 and isinstance(node.args[1], ast.Constant):
                called = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", "")
                if called == "hook":
                    looked_up.add(node.args[1].value)
                elif called in ("hasattr", "getattr") and isinstance(node.args[0], ast.Name):
                    asked.add(node.args[1].value)
    assert looked_up == set(HOOKS)  # each hook is looked up, and only through the table
    assert asked <= WRAPPERS, asked - WRAPPERS  # no other attribute of a model probed by name
    documented = re.findall(r"^\| `(\w+)` \|", (REPO / "docs" / "extending.md").read_text(), flags=re.M)
    assert set(HOOKS) <= set(documented), set(HOOKS) - set(documented)


def test_no_function_in_the_package_is_over_60_lines_or_hides_its_signature_from_the_formatter():
    for path in ROOTS["landmarks"].rglob("*.py"):
        lines = path.read_text().splitlines()
        for node in ast.walk(ast.parse("\n".join(lines))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                where = f"{path.relative_to(REPO)}:{node.lineno} {node.name}"
                assert node.end_lineno - node.lineno + 1 <= 60, where
                signature = lines[node.lineno - 1 : node.body[0].lineno - 1]
                assert not any("fmt: skip" in line for line in signature), where
