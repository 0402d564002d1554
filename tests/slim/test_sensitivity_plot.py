"""The sensitivity plot: a real PNG with one curve per measured conv, legible with the 18 yolo_block convs."""

from pathlib import Path

import cv2
import pytest

from slimdet.errors import SlimdetError
from slimdet.slim.sensitivity_plot import draw_sensitivities, plot_sensitivities
from tests.modeling.test_head import MODEL_ZOO_PRUNED_PARAMS
from tests.slim.test_sensitivity_table import hand_made_table

RATIOS = (0.1, 0.3, 0.5, 0.7, 0.9)


def eighteen_curves():
    return hand_made_table(
        {param: [(r, 0.8 - 0.02 * i * r) for r in RATIOS] for i, param in enumerate(MODEL_ZOO_PRUNED_PARAMS)},
        base_map=0.8,
    )


def test_plot_is_a_png_with_one_curve_per_conv(tmp_path: Path):
    result = plot_sensitivities(eighteen_curves(), tmp_path / "plots" / "sens.png")

    assert Path(result.path).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    image = cv2.imread(result.path)
    assert image is not None and image.shape[0] > 400 and image.shape[1] > 800
    assert result.curves == tuple(MODEL_ZOO_PRUNED_PARAMS)
    assert [p.name for p in (tmp_path / "plots").iterdir()] == ["sens.png"]  # no temp file left


def test_every_curve_is_told_apart_by_colour_style_or_marker():
    drawn = draw_sensitivities(eighteen_curves()).axes[0].get_lines()
    lines = [line for line in drawn if line.get_label() in MODEL_ZOO_PRUNED_PARAMS]

    looks = {(str(line.get_color()), line.get_linestyle(), line.get_marker()) for line in lines}
    assert len(lines) == len(looks) == 18
    assert [list(line.get_xdata()) for line in lines] == [list(RATIOS)] * 18


def test_empty_table_has_nothing_to_plot(tmp_path: Path):
    empty = hand_made_table({MODEL_ZOO_PRUNED_PARAMS[0]: []})

    with pytest.raises(SlimdetError, match="no results yet"):
        plot_sensitivities(empty, tmp_path / "sens.png")
    assert not (tmp_path / "sens.png").exists()
