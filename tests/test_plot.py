"""avt_np/plot.py: heat maps, line plots, stacking and the lessons' output folder."""

import numpy as np
import pytest

from avt_np import plot


def cell_centre(image, rows, cols, i, j, origin="upper"):
    left, top, right, bottom = image.info["plot_box"]
    d = rows - 1 - i if origin == "lower" else i
    return (int(left + (j + 0.5) * (right - left) / cols),
            int(top + (d + 0.5) * (bottom - top) / rows))


def pixel(image, xy):
    return tuple(int(v) for v in np.asarray(image)[xy[1], xy[0]])


def test_colour_map_ends_and_middle_of_each_scale():
    for name, stops in plot.COLOUR_SCALES.items():
        rgb = plot.colour_map([0.0, 0.5, 1.0, -3.0, 7.0], name)
        assert rgb.dtype == np.uint8 and rgb.shape == (5, 3)
        assert tuple(rgb[0]) == tuple(stops[0]) == tuple(rgb[3])        # clipped below
        assert tuple(rgb[2]) == tuple(stops[-1]) == tuple(rgb[4])       # clipped above
        assert tuple(rgb[1]) == tuple(stops[2])
    assert tuple(plot.colour_map(np.nan)) == plot.NAN_COLOUR


def test_heatmap_cells_have_the_colour_of_their_value():
    m = np.array([[0.0, 1.0, 2.0], [3.0, 4.0, 8.0]])
    image = plot.heatmap(m, title="t", x_label="x", y_label="y", cell=(30, 20))
    left, top, right, bottom = image.info["plot_box"]
    assert (right - left, bottom - top) == (90, 40)
    assert image.width > right and image.height > bottom                 # room for the colour bar
    for i in range(2):
        for j in range(3):
            expected = tuple(int(v) for v in plot.colour_map(m[i, j] / 8.0))
            assert pixel(image, cell_centre(image, 2, 3, i, j)) == expected


def test_heatmap_origin_lower_puts_row_zero_at_the_bottom():
    m = np.array([[0.0, 0.0], [1.0, 1.0]])
    image = plot.heatmap(m, origin="lower", cell=10)
    left, top, right, bottom = image.info["plot_box"]
    assert pixel(image, (left + 2, bottom - 2)) == tuple(plot.COLOUR_SCALES["viridis"][0])
    assert pixel(image, (left + 2, top + 2)) == tuple(plot.COLOUR_SCALES["viridis"][-1])


def test_diverging_heatmap_is_white_at_zero_and_symmetric():
    m = np.array([[-2.0, 0.0, 1.0]])
    image = plot.heatmap(m, scale="diverging", cell=20)
    assert pixel(image, cell_centre(image, 1, 3, 0, 1)) == (255, 255, 255)
    assert pixel(image, cell_centre(image, 1, 3, 0, 0)) == tuple(plot.COLOUR_SCALES["diverging"][0])
    expected = tuple(int(v) for v in plot.colour_map(0.75, "diverging"))   # 1 on -2..2
    assert pixel(image, cell_centre(image, 1, 3, 0, 2)) == expected


def test_heatmap_of_a_constant_matrix_does_not_crash_and_is_one_colour():
    for m in (np.zeros((4, 5)), np.full((3, 3), 7.0)):
        for scale in plot.COLOUR_SCALES:
            plot.heatmap(m, scale=scale, numbers=True)
            image = plot.heatmap(m, scale=scale)
            left, top, right, bottom = image.info["plot_box"]
            inside = np.asarray(image)[top:bottom, left:right].reshape(-1, 3)
            assert len(np.unique(inside, axis=0)) == 1
            # sequential: the middle of the scale; diverging: centred on zero, so 7 is the top
            middle = scale == "viridis" or m[0, 0] == 0
            assert tuple(inside[0]) == tuple(plot.COLOUR_SCALES[scale][2 if middle else -1])


def test_heatmap_shrinks_large_matrices_and_greys_nan():
    m = np.random.default_rng(0).random((300, 2000))
    m[:, :1000] = np.nan
    image = plot.heatmap(m, max_size=(500, 200))
    left, top, right, bottom = image.info["plot_box"]
    assert (right - left, bottom - top) == (500, 200)
    assert pixel(image, (left + 10, top + 10)) == plot.NAN_COLOUR


def test_heatmap_rejects_bad_input():
    with pytest.raises(ValueError):
        plot.heatmap(np.zeros((2, 2, 2)))
    with pytest.raises(ValueError):
        plot.heatmap(np.zeros((2, 3)), row_labels=["a"])
    with pytest.raises(ValueError):
        plot.heatmap(np.zeros((2, 3)), scale="rainbow")


def test_line_plot_draws_each_series_in_its_colour_inside_the_axes():
    image = plot.line_plot({"a": [0, 1, 2, 3], "b": ([0, 3], [3, 3])}, title="t",
                           x_label="x", y_label="y", size=(400, 300))
    assert image.size == (400, 300)
    left, top, right, bottom = image.info["plot_box"]
    pixels = np.asarray(image)[top + 2:bottom - 2, left + 2:right - 2].reshape(-1, 3)
    colours = {tuple(int(v) for v in p) for p in pixels}
    assert plot.series_colour(0) in colours and plot.series_colour(1) in colours


def test_line_plot_survives_constant_empty_and_non_positive_log_data():
    plot.line_plot({"flat": [2.0, 2.0, 2.0]})
    plot.line_plot({})
    plot.line_plot({"log": ([0.0, 1.0, 10.0], [0.0, -1.0, 5.0])}, log_x=True, log_y=True)
    plot.line_plot({"nan": [np.nan, 1.0, np.inf]}, vlines=[0.5], hlines=[1.0])
    with pytest.raises(ValueError):
        plot.line_plot({"bad": ([1, 2], [1, 2, 3])})


def test_stacking_sizes():
    a, b = plot.heatmap(np.eye(2)), plot.line_plot({"a": [1, 2]}, size=(200, 150))
    h, v = plot.hstack([a, b], gap=5), plot.vstack([a, b], gap=5)
    assert h.size == (a.width + b.width + 5, max(a.height, b.height))
    assert v.size == (max(a.width, b.width), a.height + b.height + 5)


def test_lesson_output_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("AVT_NP_LESSONS_OUT", str(tmp_path / "out"))
    folder = plot.lesson_output("01_x")
    assert folder == tmp_path / "out" / "01_x" and folder.is_dir()
    path = plot.save(plot.heatmap(np.eye(3)), folder, "eye.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    monkeypatch.delenv("AVT_NP_LESSONS_OUT")
    monkeypatch.chdir(tmp_path)
    assert plot.lesson_output("02_y").resolve() == (tmp_path / "lesson_output" / "02_y").resolve()


def test_training_curves_keeps_its_size():
    image = plot.training_curves([0.5, 0.4], [0.6, 0.5], [0.3, 0.4])
    assert image.size == (900, 360)


def test_training_curves_shade_the_ensemble_window_and_mark_the_early_stop():
    losses = [0.30, 0.27, 0.263, 0.25, 0.24, 0.239, 0.238, 0.237]
    plain = np.asarray(plot.training_curves(losses, losses, losses))
    marked = np.asarray(plot.training_curves(losses, losses, losses, window=(5, 8), stop=8))
    shade = (marked == (225, 235, 250)).all(-1)
    assert shade.any() and not (plain == (225, 235, 250)).all(-1).any()
    columns = np.nonzero(shade.any(0))[0]
    assert columns.min() > 0.5 * 450 and columns.max() < 900      # epochs 5-8 of each panel
    red = (marked == plot.COLOURS[1]).all(-1).sum() - (plain == plot.COLOURS[1]).all(-1).sum()
    assert red > 100                                                # the dashed early-stop line


def test_training_curves_ticks_are_round_numbers_with_one_precision():
    ticks = plot._nice_ticks(0.237, 0.30)
    assert ticks == pytest.approx([0.24, 0.25, 0.26, 0.27, 0.28, 0.29, 0.30]) or \
        ticks == pytest.approx([0.24, 0.26, 0.28, 0.30])
