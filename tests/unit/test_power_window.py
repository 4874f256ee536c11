"""Phone latency loops are lengthened for power only from a measured mean, and say so."""
from harness.engines.base import RunSettings
from harness.run.power_window import MAX_ITERATIONS, PowerWindow

KEY = ("phone", "cls", "fp32", "onnxruntime", "default")


def test_no_earlier_figure_changes_nothing():
    settings = RunSettings(iterations=50)
    assert PowerWindow(1.0).settings_for(KEY, settings) == (settings, None)


def test_a_short_loop_is_raised_to_cover_the_window():
    window = PowerWindow(1.0)
    window.remember(KEY, 1.25)
    settings, note = window.settings_for(KEY, RunSettings(iterations=50))
    assert settings.iterations == 800 and note["from"] == 50 and note["to"] == 800
    assert "about 62 ms" in note["why"] and "power_window_s" in note["why"]


def test_long_enough_loops_disabled_windows_and_huge_counts():
    window = PowerWindow(1.0)
    window.remember(KEY, 30.0)  # 50 x 30 ms = 1.5 s already
    assert window.settings_for(KEY, RunSettings(iterations=50))[1] is None
    window.remember(KEY, 0.001)
    assert window.settings_for(KEY, RunSettings(iterations=50))[0].iterations == MAX_ITERATIONS
    off = PowerWindow(0.0)
    off.remember(KEY, 1.0)
    assert off.settings_for(KEY, RunSettings(iterations=50))[1] is None
    window.remember(KEY, None)  # a record without a mean keeps the last figure
    assert window.settings_for(KEY, RunSettings(iterations=50))[1] is not None


def test_min_time_counts_as_loop_length():
    window = PowerWindow(1.0)
    window.remember(KEY, 1.0)
    assert window.settings_for(KEY, RunSettings(iterations=50, min_time_s=2.0))[1] is None


def test_an_explicit_iterations_option_is_kept_as_asked(tmp_path):
    """--iterations on the command line means the user chose the count: measure.py never raises
    it (the lab default and [tool.edgelab] iterations may be raised)."""
    import argparse

    from harness.config import build_config

    given = build_config(argparse.Namespace(edgelab_iterations=5), tmp_path)
    default = build_config(argparse.Namespace(), tmp_path)
    assert given.iterations_given and given.iterations == 5
    assert not default.iterations_given
