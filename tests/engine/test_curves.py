"""A training's curves: drawn after each checkpoint, line for line the series its checkpoint's state holds; loss
terms on a log scale, a distillation's terms on a panel of their own, several runs in one picture."""

import json

from slimdet.engine import curves
from slimdet.engine.curves import CURVES_NAME, CurvesHook, RunCurves, curves_from_state, draw_curves, write_curves
from slimdet.engine.hooks import CheckpointHook, EvalHook, LossHistory


def train_toy(folder, make_trainer, *, drawn: bool) -> None:
    """A toy training of 5 steps into ``folder``: a loss window per step, evaluated at 3 and 5, checkpoints at 2, 4
    and the end; ``drawn``: with its curves hook."""
    saver = CheckpointHook(2, folder)
    scores = iter([0.25, 0.5])
    evaluation = EvalHook(3, lambda: {"mAP": next(scores)})
    make_trainer([LossHistory(1), saver, evaluation, *([CurvesHook(saver, "toy")] if drawn else [])]).train(0, 5)


def lines_of(figure) -> dict[str, list[list[float]]]:
    return {line.get_label(): line.get_xydata().tolist() for axes in figure.axes for line in axes.get_lines()}


def test_a_training_draws_its_curves_after_each_checkpoint_as_its_final_state_draws_them(
    tmp_path, make_trainer, monkeypatch
):
    drawn = []

    def recording(runs, out, apart=None):
        drawn.append(runs[0].last_iteration)
        return write_curves(runs, out, apart)

    monkeypatch.setattr(curves, "write_curves", recording)
    train_toy(tmp_path, make_trainer, drawn=True)

    assert drawn == [2, 4, 5]  # after checkpoints 2 and 4 (with the mAP of 3 by then) and the final one
    state = json.loads((tmp_path / "model_final.state.json").read_text())
    again = write_curves([curves_from_state(state, "toy")], tmp_path / "again.png")
    assert (tmp_path / CURVES_NAME).read_bytes() == again.read_bytes()
    assert again.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_lines_drawn_are_the_series_of_the_checkpoints_state(tmp_path, make_trainer):
    train_toy(tmp_path, make_trainer, drawn=False)
    state = json.loads((tmp_path / "model_final.state.json").read_text())
    windows = state["hooks"]["LossHistory"]["terms"]

    figure = draw_curves([curves_from_state(state, "toy")])

    expected = {
        f"toy: {name}": [[w["iteration"], w[name]] for w in windows] for name in ("loss", "loss_mse", "loss_l1")
    }
    expected["toy: lr"] = [[w["iteration"], w["lr"]] for w in windows]
    expected["toy: mAP"] = [[r["iteration"], r["metrics"]["mAP"]] for r in state["hooks"]["EvalHook"]["history"]]
    assert lines_of(figure) == expected
    assert expected["toy: mAP"] == [[3, 0.25], [5, 0.5]] and [i for i, _ in expected["toy: loss"]] == [1, 2, 3, 4, 5]
    scales = {axes.get_ylabel(): axes.get_yscale() for axes in figure.axes if axes.get_lines()}
    assert scales == {"loss": "log", "lr": "log", "mAP": "linear"}


def test_distillation_terms_get_their_own_panel_and_several_runs_overlay_by_line_style():
    pruned = RunCurves("prune-only", {"loss": ((1, 9.0), (2, 7.0)), "loss_xy": ((1, 3.0), (2, 2.0))},
                       lr=((1, 0.1), (2, 0.1)), mAP=((2, 0.4),))  # fmt: skip
    distilled = RunCurves("distilled", {"loss": ((1, 19.0),), "loss_xy": ((1, 3.5),), "distill_loss": ((1, 10.0),),
                                        "distill_obj": ((1, 4.0),)}, lr=((1, 0.1),), mAP=())  # fmt: skip

    figure = draw_curves([pruned, distilled], {"distill_": "distillation terms"})

    panels = {axes.get_title(): [line.get_label() for line in axes.get_lines()] for axes in figure.axes}
    assert panels["loss terms: window means, log scale"] == [
        "prune-only: loss", "prune-only: loss_xy", "distilled: loss", "distilled: loss_xy",
    ]  # fmt: skip
    assert panels["distillation terms: window means, log scale"] == [
        "distilled: distill_loss",
        "distilled: distill_obj",
    ]
    assert panels["mAP at each evaluation"] == ["prune-only: mAP"]  # the distilled run did not evaluate
    drawn = {line.get_label(): line for axes in figure.axes for line in axes.get_lines()}
    assert drawn["prune-only: loss_xy"].get_color() == drawn["distilled: loss_xy"].get_color()  # a term: one colour
    assert {drawn[f"{run}: lr"].get_linestyle() for run in ("prune-only", "distilled")} == {"-", "--"}  # a run: a style
