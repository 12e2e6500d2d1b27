"""The notebooks in notebooks/ run headless, top to bottom, in their small setting.

Each is executed with nbclient in a fresh ``python3`` kernel, working directory
the repository root, ``DEEPACCOMP_NOTEBOOK_SMALL=1``; it must finish without an
error and show at least one PNG figure. The committed files must hold no outputs.
"""

import os
import pathlib
import re

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

ROOT = pathlib.Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
NAMES = ["01_data.ipynb", "02_train.ipynb", "03_generate.ipynb", "04_pop.ipynb"]
CELL_TIMEOUT = 300


def run_notebook(name):
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=CELL_TIMEOUT, kernel_name="python3",
                                     resources={"metadata": {"path": str(ROOT)}})
    client.execute()  # raises CellExecutionError on the first failing cell
    return nb


def png_outputs(nb):
    return [out for cell in nb.cells if cell.cell_type == "code" for out in cell.outputs
            if out.output_type in ("display_data", "execute_result") and "image/png" in out.get("data", {})]


@pytest.fixture
def small_env(monkeypatch):
    monkeypatch.setenv("DEEPACCOMP_NOTEBOOK_SMALL", "1")
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "3")
    monkeypatch.delenv("DEEPACCOMP_MODEL", raising=False)
    monkeypatch.delenv("MPLBACKEND", raising=False)  # the kernel picks its inline backend
    return monkeypatch


@pytest.mark.parametrize("name", NAMES)
def test_notebooks_are_committed_without_outputs(name):
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code, f"{name} has no code cell"
    assert all(not c.outputs and c.execution_count is None for c in code), \
        f"{name} holds outputs: clear them before committing"
    assert 'os.environ.get("DEEPACCOMP_NOTEBOOK_SMALL", "0") == "1"' in code[0].source


def text_outputs(nb) -> str:
    parts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if out.output_type == "stream":
                parts.append(out.text)
            elif "text/plain" in out.get("data", {}):
                parts.append(out["data"]["text/plain"])
    return "\n".join(parts)


@pytest.mark.parametrize("name", NAMES)
def test_notebooks_write_into_the_project_not_beside_themselves(name):
    """Datasets and runs go through ``project_path`` (the project's datasets/ and runs/), never a path relative to the notebook."""
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert 'dataset_dir="datasets"' not in code and 'os.path.join("runs"' not in code
    assert code.count("prepare(") == code.count('dataset_dir=project_path("datasets")')  # every prepare call


@pytest.mark.slow
@pytest.mark.parametrize("name", ["01_data.ipynb", "02_train.ipynb", "04_pop.ipynb"])
def test_notebook_runs_in_its_small_setting(name, small_env):
    before = sorted(p.name for p in NOTEBOOKS.iterdir())
    nb = run_notebook(name)
    assert png_outputs(nb), f"{name} showed no figure"
    assert sorted(p.name for p in NOTEBOOKS.iterdir()) == before, "the notebook wrote into notebooks/"
    assert not re.search(r"\bnan\b", text_outputs(nb), re.I), f"{name} shows nan"


@pytest.mark.slow
def test_generate_notebook_runs_in_its_small_setting(small_env, tmp_path):
    from deepaccomp.accompanist import default_model_path

    if not os.path.exists(default_model_path()):
        # no shipped model in this checkout yet: train a tiny one and hand it over
        import deepaccomp
        from deepaccomp import data, preset

        small = data.build_chorales(limit=12, workers=1, progress=False)
        tiny = preset("default").replace(
            model={"encoder_filters": [4, 8], "decoder_filters": [4], "noise_channels": 2,
                   "critic_filters": [4, 8]},
            train={"iterations": 4, "batch_size": 8, "eval_every": 2, "checkpoint_every": 2,
                   "n_eval_melodies": 3},
        )
        deepaccomp.train(tiny, tmp_path, dataset=small, progress=False, verbose=0)
        small_env.setenv("DEEPACCOMP_MODEL", str(tmp_path / "generator.npz"))
    nb = run_notebook("03_generate.ipynb")
    assert png_outputs(nb), "03_generate.ipynb showed no figure"
    audio = [out for cell in nb.cells if cell.cell_type == "code" for out in cell.outputs
             if "text/html" in out.get("data", {}) and "<audio" in out["data"]["text/html"]]
    assert audio, "03_generate.ipynb played nothing"
