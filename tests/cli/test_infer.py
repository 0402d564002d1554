"""``slimdet infer``: JSON or a table of detections, drawn copies, both model sources, one-line errors."""

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from slimdet.cli import app
from tests.cli.one_line import one_error_line


def _infer(*args: str):
    return CliRunner().invoke(app, ["infer", *args])


@pytest.fixture(scope="module")
def model_dir(small_shapes_checkpoint, tmp_path_factory) -> Path:
    """The small shapes checkpoint exported once through the CLI."""
    config, weights = small_shapes_checkpoint
    out = tmp_path_factory.mktemp("exported")
    result = CliRunner().invoke(
        app, ["export", "-c", str(config), "-o", f"weights={weights}", "--output-dir", str(out)]
    )
    assert result.exit_code == 0, result.output
    return out / config.stem


@pytest.fixture
def image_dir(synthetic_voc, tmp_path) -> Path:
    folder = tmp_path / "images"
    folder.mkdir()
    for path in sorted((synthetic_voc / "JPEGImages").glob("test_*.jpg"))[:2]:
        shutil.copy(path, folder)
    return folder


def test_json_lists_detections_and_drawn_copies(model_dir, image_dir, tmp_path):
    out = tmp_path / "drawn"
    result = _infer(
        "--model-dir",
        str(model_dir),
        "--image-dir",
        str(image_dir),
        "--threshold",
        "0.2",
        "--output-dir",
        str(out),
        "--json",
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["backend"] == "paddle_inference" and len(data["images"]) == 2
    for item in data["images"]:
        assert Path(item["drawn"]).parent == out and Path(item["drawn"]).is_file()
        assert item["detections"] and all(d["score"] > 0.2 for d in item["detections"])
        assert {d["class_name"] for d in item["detections"]} <= {"circle", "square", "triangle"}


@pytest.fixture
def mixed_dir(image_dir) -> Path:
    """``image_dir``'s two pictures plus an empty .jpg and a file of garbage named .png."""
    (image_dir / "empty.jpg").write_bytes(b"")
    (image_dir / "noise.png").write_bytes(bytes(range(256)) * 4)
    return image_dir


def test_unreadable_files_warn_once_each_are_listed_in_json_and_exit_1(model_dir, mixed_dir, tmp_path):
    out = tmp_path / "drawn"
    result = _infer("--model-dir", str(model_dir), "--image-dir", str(mixed_dir), "--threshold", "0.2",
                    "--output-dir", str(out), "--json")  # fmt: skip
    assert result.exit_code == 1, result.output
    warnings = result.stderr.strip().splitlines()
    assert len(warnings) == 2 and all(line.startswith("warning: ") and line.endswith("(skipped)") for line in warnings)
    assert "empty.jpg" in warnings[0] and "noise.png" in warnings[1]
    data = json.loads(result.stdout)
    assert (data["read"], data["skipped"], data["drawn"]) == (2, 2, 2) and len(data["images"]) == 2
    assert [(Path(s["image"]).name, "empty" in s["reason"]) for s in data["skipped_images"]] == [
        ("empty.jpg", True), ("noise.png", False)
    ]  # fmt: skip
    assert sorted(p.name for p in out.iterdir()) == sorted(Path(item["image"]).name for item in data["images"])


def test_summary_line_counts_read_skipped_and_drawn(model_dir, mixed_dir, tmp_path):
    result = _infer("--model-dir", str(model_dir), "--image-dir", str(mixed_dir), "--output-dir", str(tmp_path / "o"))
    assert result.exit_code == 1, result.output
    assert result.stdout.strip().splitlines()[-1] == f"2 read, 2 skipped, 2 drawn into {tmp_path / 'o'}"


def test_strict_stops_at_the_first_unreadable_file_with_one_line(model_dir, mixed_dir, tmp_path):
    line = one_error_line(_infer("--model-dir", str(model_dir), "--image-dir", str(mixed_dir), "--strict",
                                  "--output-dir", str(tmp_path / "o")))  # fmt: skip
    assert "empty.jpg is empty" in line


def test_checkpoint_source_with_legacy_flag_spellings(small_shapes_checkpoint, image_dir, tmp_path):
    config, weights = small_shapes_checkpoint
    image = next(image_dir.iterdir())
    result = _infer(
        "-c",
        str(config),
        "-o",
        f"weights={weights}",
        "--infer_img",
        str(image),
        "--draw_threshold",
        "0.2",
        "--output_dir",
        str(tmp_path / "out"),
        "--json",
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["backend"] == "dygraph" and data["images"][0]["detections"]


def test_table_shows_one_row_per_detection(model_dir, image_dir, tmp_path):
    result = _infer(
        "--model-dir",
        str(model_dir),
        "--image-dir",
        str(image_dir),
        "--threshold",
        "0.2",
        "--output-dir",
        str(tmp_path / "out"),
    )
    assert result.exit_code == 0, result.output
    assert "detections in 2 images" in result.stdout
    assert result.stdout.strip().splitlines()[-1] == f"2 read, 0 skipped, 2 drawn into {tmp_path / 'out'}"
    assert any(name in result.stdout for name in ("circle", "square", "triangle"))


def test_missing_model_files_is_one_line(model_dir, image_dir, tmp_path):
    partial = tmp_path / "partial"
    shutil.copytree(model_dir, partial)
    (partial / "model.pdiparams").unlink()
    line = one_error_line(_infer("--model-dir", str(partial), "--image-dir", str(image_dir)))
    assert "lacks model.pdiparams" in line


def test_non_image_file_is_one_line(model_dir, tmp_path):
    fake = tmp_path / "cat.jpg"
    fake.write_bytes(b"\x00not a jpeg")
    line = one_error_line(
        _infer("--model-dir", str(model_dir), "--image", str(fake), "--output-dir", str(tmp_path / "o"))
    )
    assert "cat.jpg" in line


def test_empty_image_folder_is_one_line(model_dir, tmp_path):
    (tmp_path / "empty").mkdir()
    assert "no images" in one_error_line(_infer("--model-dir", str(model_dir), "--image-dir", str(tmp_path / "empty")))


def test_missing_weights_is_one_line(small_shapes_checkpoint, image_dir, tmp_path):
    config, _ = small_shapes_checkpoint
    line = one_error_line(
        _infer("-c", str(config), "-o", f"weights={tmp_path / 'gone.pdparams'}", "--image-dir", str(image_dir))
    )
    assert "gone.pdparams" in line


def test_needs_exactly_one_model_source(image_dir):
    assert "exactly one model" in one_error_line(_infer("--image-dir", str(image_dir)))


def test_threshold_outside_zero_to_one_is_rejected(model_dir, image_dir):
    result = _infer("--model-dir", str(model_dir), "--image-dir", str(image_dir), "--threshold", "1.5")
    assert result.exit_code == 2
