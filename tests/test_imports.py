"""The package's imports run one way: a graph of every `import` in avt_np/ (inside functions
too), built from the source, has no cycle, and no module imports one from a higher layer."""

import ast
from pathlib import Path

import avt_np

PACKAGE = Path(avt_np.__file__).parent

# Lower layers first; a module may import only from its own layer or lower ones.
LAYERS = [
    ["avt_np", "avt_np.cli", "avt_np.io", "avt_np.progress", "avt_np.plot", "avt_np.dask_client",
     "avt_np.blas", "avt_np.download"],
    ["avt_np.nn"],
    ["avt_np.model"],
    ["avt_np.optim", "avt_np.metrics", "avt_np.events", "avt_np.detection", "avt_np.data",
     "avt_np.weights", "avt_np.features", "avt_np.gradcheck", "avt_np.diagnostics",
     "avt_np.training_step"],
    ["avt_np.predict", "avt_np.run_dir", "avt_np.sync", "avt_np.sync_probes", "avt_np.collapse"],
    ["avt_np.evaluate"],
    ["avt_np.train", "avt_np.bench"],
    ["avt_np.visualize", "avt_np.sweep", "avt_np.exercises"],
    ["avt_np.tag", "avt_np.book"],
]


def module_name(path):
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules():
    return {module_name(p): p for p in PACKAGE.rglob("*.py")}


def imports_of(path, known):
    """The avt_np modules `path` imports, anywhere in the file. `from a.b import c` counts as
    an import of a.b.c when that is a module, else of a.b."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for a in node.names:
                sub = f"{node.module}.{a.name}"
                found.add(sub if sub in known else node.module)
    return {m for m in found if m in known}


def graph():
    known = modules()
    return {name: imports_of(path, known) - {name} for name, path in known.items()}


def find_cycle(edges):
    """One cycle as a list of modules, or None (depth-first search with colours)."""
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(edges[node]):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                cycle = visit(nxt)
                if cycle:
                    return cycle
        stack.pop()
        state[node] = "done"
        return None

    for node in sorted(edges):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def layer_of(name):
    """Index of the layer a module belongs to (the longest matching prefix)."""
    best = None
    for i, layer in enumerate(LAYERS):
        for prefix in layer:
            if name == prefix or name.startswith(prefix + "."):
                if best is None or len(prefix) > best[1]:
                    best = (i, len(prefix))
    return None if best is None else best[0]


def test_the_checker_finds_a_cycle_and_accepts_a_tree():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_the_import_graph_of_the_package_has_no_cycle():
    edges = graph()
    assert len(edges) > 40                                      # it really read the package
    assert "avt_np.data.format" in edges["avt_np.data.opening"]
    cycle = find_cycle(edges)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_every_module_imports_only_from_its_layer_or_below():
    edges = graph()
    unplaced = [name for name in edges if layer_of(name) is None]
    assert not unplaced, f"modules in no layer of LAYERS: {unplaced}"
    upward = [f"{a} ({layer_of(a)}) imports {b} ({layer_of(b)})" for a, bs in edges.items()
              for b in bs if layer_of(b) > layer_of(a)]
    assert not upward, "imports that run upward:\n" + "\n".join(upward)


OPTIONAL = {"distributed", "dask", "onnx", "onnxruntime", "torch"}     # not needed to start


def late_imports(path):
    """(line, module) of every import inside a function of `path` that neither imports an
    optional dependency nor says why it is there ("imported here" on its line or the one
    above: a slow import kept off the start-up path)."""
    lines = path.read_text().splitlines()
    found = {}
    for func in ast.walk(ast.parse("\n".join(lines), str(path))):
        if not isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        for node in ast.walk(func):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                         else [node.module or ""])
                if all(n.split(".")[0] in OPTIONAL for n in names):
                    continue
                said = " ".join(lines[max(node.lineno - 2, 0):node.end_lineno])
                if "imported here" not in said:                    # (nested functions
                    found[node.lineno] = f"{path.relative_to(PACKAGE.parent)}:{node.lineno} {names}"
    return [found[line] for line in sorted(found)]                  # are walked twice)


def test_imports_inside_functions_are_optional_dependencies_or_say_why():
    late = [entry for path in sorted(PACKAGE.rglob("*.py")) for entry in late_imports(path)]
    assert not late, "imports inside functions without a reason:\n" + "\n".join(late)


def drawn_layers(text):
    """{layer number: module names} of the map in a docstring: lines "N  name name ...", a
    line starting with spaces continuing the layer above."""
    layers, current = {}, None
    for line in text.splitlines():
        words = line.split()
        if words and words[0].isdigit() and not line.startswith("     "):
            current = int(words[0])
            layers[current] = words[1:]
        elif current is not None and words and line.startswith("       "):
            layers[current] += words
        elif not words:
            current = None
    return layers


def test_the_package_docstring_draws_the_layers_this_test_enforces():
    drawn = drawn_layers(avt_np.__doc__)
    expected = {i: [name.removeprefix("avt_np.") for name in layer if name != "avt_np"]
                for i, layer in enumerate(LAYERS)}
    assert drawn == expected


def test_the_tag_package_docstring_draws_its_imports():
    import avt_np.tag
    edges = graph()
    inside = {name.rpartition(".")[2]: sorted(b.rpartition(".")[2] for b in bs
                                              if b.startswith("avt_np.tag.") and b != name)
              for name, bs in edges.items() if name.startswith("avt_np.tag.")}
    drawn = {}
    for line in avt_np.tag.__doc__.splitlines():
        left, arrow, right = line.strip().partition(" -> ")
        left = left.strip()
        if arrow and left in inside:
            drawn[left] = [] if right.startswith("(") else sorted(right.split(", "))
    assert drawn == inside
