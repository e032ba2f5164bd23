"""Notebook hygiene: committed without outputs, with a kernelspec, and with a papermill parameters cell."""
import ast
import json
from pathlib import Path

import pytest

BOOK = Path(__file__).resolve().parents[1] / "book"
NOTEBOOKS = sorted(p for p in BOOK.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts and "_build" not in p.parts)


def test_there_are_notebooks():
    assert NOTEBOOKS, "the book has no notebooks"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: str(p.relative_to(BOOK)))
def test_committed_clean_with_kernelspec(path):
    nb = json.loads(path.read_text())
    assert nb["metadata"].get("kernelspec", {}).get("name") == "python3", "needs a python3 kernelspec"
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] == "code":
            assert not cell.get("outputs"), f"cell {i} has committed outputs"
            assert cell.get("execution_count") is None, f"cell {i} has an execution count"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: str(p.relative_to(BOOK)))
def test_parameters_cell(path):
    nb = json.loads(path.read_text())
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    if not code:
        pytest.skip("no code")
    first = code[0]
    assert "parameters" in first.get("metadata", {}).get("tags", []), "first code cell must be tagged 'parameters'"
    src = "".join(first["source"])
    names = {t.id for node in ast.parse(src).body if isinstance(node, ast.Assign) for t in node.targets
             if isinstance(t, ast.Name)}
    assert {"profile", "device"} <= names, f"parameters cell defines {sorted(names)}"
    assert all(isinstance(node, ast.Assign) for node in ast.parse(src).body), "parameters cell holds only assignments"
    setup = "".join(code[1]["source"]) if len(code) > 1 else ""
    assert "start(globals()" in setup, "the cell after the parameters must validate them with start(globals(), ...)"
    extra = set(ast.literal_eval(a) for call in ast.walk(ast.parse(setup)) if isinstance(call, ast.Call)
                and getattr(call.func, "id", getattr(call.func, "attr", "")) == "start"
                for a in call.args[1:] if isinstance(a, ast.Constant))
    assert names - {"profile", "device", "seed"} <= extra, "every own parameter must be declared to start()"
