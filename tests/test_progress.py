"""avt_np/progress.py: a line per update in a log, none when AVT_NP_PROGRESS=0 (the book);
bytes shown in MB, and an unknown total ended by close()."""

import io

from avt_np.progress import QUIET, Progress


def lines_of(monkeypatch, value):
    if value is None:
        monkeypatch.delenv(QUIET, raising=False)
    else:
        monkeypatch.setenv(QUIET, value)
    stream = io.StringIO()
    bar = Progress(3, "lesson: batch", every_seconds=0.0, stream=stream)
    for done in range(1, 4):
        bar.update(done, "loss 0.5")
    return stream.getvalue().splitlines()


def test_progress_prints_a_line_per_update_in_a_log(monkeypatch):
    lines = lines_of(monkeypatch, None)
    assert len(lines) == 3 and lines[-1].startswith("lesson: batch 3/3 loss 0.5 [")


def test_progress_is_silent_when_the_environment_says_avt_np_progress_0(monkeypatch):
    assert lines_of(monkeypatch, "0") == []
    assert len(lines_of(monkeypatch, "1")) == 3          # only "0" switches it off


def test_progress_in_bytes_with_an_unknown_total_ends_its_line_on_close(monkeypatch):
    monkeypatch.delenv(QUIET, raising=False)
    out = io.StringIO()
    bar = Progress(None, "vggish", stream=out, in_bytes=True)
    bar.update(1_500_000)
    bar.update(2_500_000)
    assert out.getvalue() == ""                                     # not yet 5 s
    bar.close()
    bar.close()                                                     # once
    (line,) = out.getvalue().splitlines()
    assert line.startswith("vggish 2.5 MB ") and "ETA" not in line


def test_progress_in_bytes_with_a_total_shows_megabytes_of_megabytes(monkeypatch):
    monkeypatch.delenv(QUIET, raising=False)
    out = io.StringIO()
    bar = Progress(4_000_000, "zoo", stream=out, in_bytes=True)
    bar.update(4_000_000)
    bar.close()                                                     # already ended
    (line,) = out.getvalue().splitlines()
    assert line.startswith("zoo 4.0/4.0 MB ") and "MB/s" in line and "ETA 0m00s" in line
