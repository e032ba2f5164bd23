"""tools/execute_parallel.py: every notebook of the book is executed exactly once, notebooks that share
cached models stay in one lane, and what it caches is what myst-nb's cache mode then finds."""
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import execute_parallel as ep  # noqa: E402


def test_every_notebook_of_the_toc_is_in_exactly_one_lane():
    notebooks = ep.toc_notebooks()
    on_disk = {p for p in (ROOT / "book").rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts}
    assert set(notebooks) == on_disk          # the toc lists every notebook, and nothing else is executed
    lanes = ep.lanes(notebooks)
    flat = [nb for lane in lanes for nb in lane]
    assert sorted(flat) == sorted(notebooks) and len(flat) == len(set(flat))
    # within a lane, the table-of-contents order (a later section may load an earlier one's models)
    for lane in lanes:
        assert lane == sorted(lane, key=notebooks.index)


def test_notebooks_that_share_models_share_a_lane():
    lanes = ep.lanes(ep.toc_notebooks())
    where = {nb.name: i for i, lane in enumerate(lanes) for nb in lane}
    assert where["3_3_sentence_interpolation.ipynb"] == where["4_2_sentence_interpolation.ipynb"]
    assert where["3_1_generative_modelling.ipynb"] == where["3_2_reconstruction.ipynb"]
    assert where["2_4_network_model.ipynb"] == where["2_6a_beta_vae_and_iwae.ipynb"] == where[
        "1_3a_autoencoders.ipynb"]


def test_what_it_caches_is_found_by_myst_nb(tmp_path):
    from jupyter_cache import get_cache
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("import os\nprint(os.environ['THESIS_THREADS'])"),
                                         nbformat.v4.new_markdown_cell("text")])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = tmp_path / "tiny.ipynb"
    nbformat.write(nb, path)
    [(p, text, seconds, err)] = ep._execute_lane(([str(path)], 60, 1))
    assert err is None and seconds > 0
    cache = get_cache(str(tmp_path / ".jupyter_cache"))
    ep.store(cache, p, text, seconds)
    # myst-nb reads the source notebook (no outputs) and asks the cache for a match by its code
    record = cache.match_cache_notebook(nbformat.read(path, as_version=4))
    assert record.data["execution_seconds"] == pytest.approx(seconds)
    _, merged = cache.merge_match_into_notebook(nbformat.read(path, as_version=4))
    assert merged.cells[0].outputs[0]["text"].strip() == "1"   # the kernel got the lane's thread count
    # a changed code cell is not matched (so an edited notebook is executed again)
    nb.cells[0].source += "\n1"
    with pytest.raises(KeyError):
        cache.match_cache_notebook(nb)
