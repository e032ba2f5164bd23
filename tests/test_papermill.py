"""papermill drives the notebooks: parameters are injected, unknown ones are rejected."""
import nbformat
import papermill as pm
import pytest
import torch


def _notebook(path):
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell('profile = "auto"\ndevice = "auto"\nseed = 0\nlatent_dim = 2')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params,
                nbformat.v4.new_code_cell('from thesis_code.profiles import start\nrun = start(globals(), "latent_dim")\n'
                                          'print(run.profile, run.device.type, run.params["latent_dim"])')]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


def test_papermill_injects_parameters(tmp_path):
    src = _notebook(tmp_path / "nb.ipynb")
    out = pm.execute_notebook(str(src), str(tmp_path / "out.ipynb"), parameters={"profile": "smoke", "latent_dim": 5},
                              kernel_name="python3", progress_bar=False)
    text = "".join(o.get("text", "") for o in out.cells[-1].outputs)
    # device = "auto" picks the GPU when there is one (the kernel runs on this machine, like the test).
    expected_device = "cuda" if torch.cuda.is_available() else "cpu"
    assert text.split() == ["smoke", expected_device, "5"]


def test_papermill_rejects_unknown_parameter(tmp_path):
    src = _notebook(tmp_path / "nb.ipynb")
    with pytest.raises(pm.PapermillExecutionError, match="unknown notebook parameter"):
        pm.execute_notebook(str(src), str(tmp_path / "out.ipynb"), parameters={"profile": "smoke", "latnet_dim": 5},
                            kernel_name="python3", progress_bar=False)


def test_papermill_rejects_unknown_profile(tmp_path):
    src = _notebook(tmp_path / "nb.ipynb")
    with pytest.raises(pm.PapermillExecutionError, match="unknown profile 'gpu'"):
        pm.execute_notebook(str(src), str(tmp_path / "out.ipynb"), parameters={"profile": "gpu"},
                            kernel_name="python3", progress_bar=False)
