"""The package's imports run one way: no module of ecgcls imports, directly or through others, a module that
imports it back. Imports inside functions count (they run too); imports under ``if TYPE_CHECKING:`` do not (they
never run)."""
import ast
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / "ecgcls"


def _modules() -> dict[str, Path]:
    out = {}
    for p in PKG.rglob("*.py"):
        name = ".".join(p.relative_to(PKG.parent).with_suffix("").parts)
        out[name[: -len(".__init__")] if name.endswith(".__init__") else name] = p
    return out


def _runtime_imports(tree: ast.AST):
    """Import nodes that run: everything except the bodies of ``if TYPE_CHECKING:`` blocks."""
    skip = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip.update(id(n) for b in node.body for n in ast.walk(b))
    return [n for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom)) and id(n) not in skip]


def import_graph() -> dict[str, set[str]]:
    """ecgcls module -> the ecgcls modules it imports (a name imported from a package counts as the package, or
    as its submodule where it is one)."""
    mods = _modules()
    graph = {m: set() for m in mods}
    for mod, path in mods.items():
        pkg = mod.split(".") if path.name == "__init__.py" else mod.split(".")[:-1]
        for node in _runtime_imports(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                base = node.module or ""
                if node.level:
                    base = ".".join(pkg[: len(pkg) - node.level + 1] + ([base] if base else []))
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in mods else base for a in node.names]
            for t in targets:
                while t not in mods and "." in t:
                    t = t.rsplit(".", 1)[0]
                if t in mods and t != mod:
                    graph[mod].add(t)
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in graph:
        if v not in index:
            visit(v)
    return out


def test_no_import_circles():
    graph = import_graph()
    assert len(graph) > 80 and "ecgcls.predict.engine" in graph["ecgcls.predict.calibrate"]
    assert circles(graph) == [], "import circles (move the shared piece below both): " + str(circles(graph))


def test_the_circle_finder_finds_a_circle():
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert circles({"a": {"b"}, "b": set()}) == []


def test_the_data_layer_imports_no_model_training_or_prediction_code():
    """Arrows do not climb: ecgcls.data sits below the models, training, prediction and serving."""
    graph = import_graph()
    above = ("ecgcls.models", "ecgcls.train", "ecgcls.predict", "ecgcls.serve", "ecgcls.export")
    climbing = {m: sorted(t for t in ts if t.startswith(above)) for m, ts in graph.items() if m.startswith("ecgcls.data")}
    assert {m: t for m, t in climbing.items() if t} == {}
