"""User mistakes across commands: each is one red line on stderr, exit 2, no traceback, nothing written.

Command-line mistakes (unknown option or command, a value out of range) follow the same rule as the
mistakes the core finds (a device that is not there, a corrupt image inside a dataset, a zero batch).
"""

import shutil

import pytest
from typer.testing import CliRunner

from slimdet.cli import app


def _one_error_line(*args) -> str:
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.output and result.stdout == ""
    return lines[0]


@pytest.mark.parametrize(
    "args, expected",
    [
        (["train", "-c", "x.yml", "--nproc", "0"], "Invalid value for '--nproc'"),
        (["sensitivity", "-c", "x.yml", "--workers", "0"], "Invalid value for '--workers'"),
        (["--threads", "0", "config", "show", "-c", "x.yml"], "Invalid value for '--threads'"),
        (["distill-prune", "-c", "x.yml", "--resum", "out/2"], "No such option: --resum"),
        (["trian", "-c", "x.yml"], "No such command 'trian'. Did you mean 'train'?"),
        (["config", "shwo"], "No such command 'shwo'. Did you mean 'show'?"),
        (["train"], "Missing option '--config'"),
    ],
)
def test_command_line_mistakes_are_one_line_naming_the_help_to_read(args, expected):
    line = _one_error_line(*args)
    assert expected in line and "--help')" in line


@pytest.mark.parametrize(
    "device, expected",
    [("tpu", "--device 'tpu' is not a device slimdet knows (did you mean 'gpu'?)"), ("cpu:1", "use cpu, gpu or gpu:N")],
)
def test_a_device_that_is_not_there_is_one_line(small_shapes_checkpoint, tmp_path, device, expected):
    config, weights = small_shapes_checkpoint
    line = _one_error_line("eval", "-c", config, "-w", weights, "--device", device, "--output_eval", tmp_path / "dets")
    assert expected in line
    assert not (tmp_path / "dets").exists()


@pytest.mark.parametrize(
    "override, expected",
    [("EvalReader.batch_size=0", "EvalReader.batch_size: expected at least 1, got 0"),
     ("EvalReader.worker_num=-1", "EvalReader.worker_num: expected at least 0, got -1")],
)  # fmt: skip
def test_an_impossible_reader_value_is_one_line(small_shapes_checkpoint, override, expected):
    config, weights = small_shapes_checkpoint
    line = _one_error_line("eval", "-c", config, "-w", weights, "-o", override)
    assert expected in line


def test_a_corrupt_image_inside_the_dataset_is_one_line_naming_it(small_shapes_checkpoint, synthetic_voc, tmp_path):
    config, weights = small_shapes_checkpoint
    data = tmp_path / "shapes"
    shutil.copytree(synthetic_voc, data)
    broken = data / "JPEGImages" / "test_00003.jpg"
    broken.write_bytes(broken.read_bytes()[:100])  # a transfer cut short
    line = _one_error_line("eval", "-c", config, "-w", weights, "-o", f"EvalReader.dataset.dataset_dir={data}",
                           "--output_eval", tmp_path / "dets")  # fmt: skip
    assert f"cannot decode image {broken}: the file is corrupt" in line
    assert not (tmp_path / "dets").exists()


def test_misspelt_names_get_a_suggestion(small_shapes_checkpoint, tmp_path):
    config, weights = small_shapes_checkpoint
    line = _one_error_line("eval", "-c", config, "-w", weights, "-o", "EvalReader.dataset.type=VOCDataSett")
    assert "got 'VOCDataSett' (did you mean 'VOCDataSet'?)" in line
    line = _one_error_line("export", "-c", config, "-o", f"weights={weights}", "--output-dir", tmp_path,
                           "--pruned_params", "yolo_block.0.0.0.conv.weight", "--pruned_ratios", "0.5")  # fmt: skip
    assert "'yolo_block.0.0.0.conv.weight' is not a parameter of this model (did you mean" in line
    assert list(tmp_path.iterdir()) == []
