"""``examples/distill_prune.ipynb`` runs top to bottom at the tiniest sizes, so that it cannot rot.

As papermill does, a cell after the notebook's ``parameters`` cell sets the tiniest sizes (16 / 8 images of 64
px, two iterations per training, one sensitivity trial); the notebook runs in a fresh kernel in ``tmp_path``.
"""

import re
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "distill_prune.ipynb"
TINY = {
    "WORK": '"run"',
    "NUM_TRAIN": "16",
    "NUM_TEST": "8",
    "SIZE": "64",
    "BATCH": "4",
    "TEACHER_ITERS": "2",
    "STUDENT_ITERS": "2",
    "DISTILL_ITERS": "2",
    "SENSITIVITY_PARAMS": '"yolo_block.0.0.0.conv.weights"',
    "SENSITIVITY_RATIOS": '"0.5"',
}


def _with_tiny_sizes(notebook):
    """The notebook with a cell setting ``TINY`` right after its parameters cell, which must define each name."""
    import nbformat

    place = next(i for i, cell in enumerate(notebook.cells) if "parameters" in cell.metadata.get("tags", ()))
    defined = set(re.findall(r"^(\w+)\s*=|^(\w+(?:,\s*\w+)+)\s*=", notebook.cells[place].source, re.MULTILINE))
    names = {name.strip() for single, several in defined for name in (single or several).split(",")}
    assert set(TINY) <= names, f"the parameters cell no longer sets {set(TINY) - names}"
    tiny = "\n".join(f"{name} = {value}" for name, value in TINY.items())
    notebook.cells.insert(place + 1, nbformat.v4.new_code_cell(tiny, metadata={"tags": ["injected-parameters"]}))
    return notebook


def _shows_a_picture(cell) -> bool:
    """Whether the cell displayed an image (PNG from matplotlib, JPEG from a drawn detection) in the notebook."""
    return any(mime.startswith("image/") for out in cell.get("outputs", ()) for mime in out.get("data", {}))


def test_the_example_is_kept_without_outputs():
    import nbformat

    notebook = nbformat.read(EXAMPLE, as_version=4)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert all(not cell.outputs and cell.execution_count is None for cell in code)


def test_the_example_runs_top_to_bottom_and_shows_its_pictures(tmp_path):
    import nbformat
    from nbclient import NotebookClient

    notebook = _with_tiny_sizes(nbformat.read(EXAMPLE, as_version=4))
    NotebookClient(
        notebook, timeout=240, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()

    work = tmp_path / "run"
    assert (work / "export" / "shapes_yolov3_mobilenet_v1" / "model.pdmodel").is_file()
    assert (work / "export" / "shapes_yolov3_mobilenet_v1" / "infer_cfg.yml").is_file()
    assert (work / "sensitivities.png").is_file()
    assert len(list((work / "infer").glob("*.jpg"))) == 1
    pictures = [cell for cell in notebook.cells if _shows_a_picture(cell)]
    sources = [cell.source for cell in pictures]
    assert len(pictures) == 3, sources  # the sensitivity plot, the loss curve, the drawn picture
    assert "sensitivity_plot" in sources[0] and "plt.show()" in sources[1] and "api.infer" in sources[2]
    errors = [out for cell in notebook.cells for out in cell.get("outputs", ()) if out.output_type == "error"]
    assert not errors
