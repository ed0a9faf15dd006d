"""Every lesson in lessons/ runs to the end, announces the folder its pictures go to and writes
every picture it announces there. How long each takes (the lessons promise under 60 s on an idle
machine) is measured by `python -m avt_np.bench lessons`, not here."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LESSONS = sorted((ROOT / "lessons").glob("[0-9][0-9]_*.py"))
NO_PICTURES = {"12_data_and_balanced_sampler"}            # lessons/README.md: pictures "none"
HANG_GUARD = 600          # seconds: 10x the 60 s a lesson takes at most on an idle machine
# how a lesson announces its folder and each picture it writes (tests/book reads them too)
ANNOUNCED_PICTURE = re.compile(r"(\S+\.png)\b")
PICTURE_FOLDER = re.compile(r"pictures go to (\S+)")


def test_lessons_are_found():
    assert len(LESSONS) >= 11, [p.name for p in LESSONS]


@pytest.mark.parametrize("lesson", LESSONS, ids=[p.stem for p in LESSONS])
def test_lesson_runs_and_writes_its_pictures(lesson, tmp_path):
    out = tmp_path / "out"
    env = dict(os.environ, AVT_NP_LESSONS_OUT=str(out))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    try:
        proc = subprocess.run([sys.executable, str(lesson)], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=HANG_GUARD)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{lesson.name} hangs: no end after {HANG_GUARD} s")
    assert proc.returncode == 0, f"{lesson.name} exited {proc.returncode}:\n{proc.stderr[-3000:]}"

    def resolve(name):
        return Path(name) if Path(name).is_absolute() else tmp_path / name

    announced = [resolve(name) for name in ANNOUNCED_PICTURE.findall(proc.stdout)]
    folders = [resolve(name) for name in PICTURE_FOLDER.findall(proc.stdout)]
    if lesson.stem in NO_PICTURES:
        assert not announced and not folders, f"{lesson.name} is listed as writing no pictures"
        return
    assert len(folders) == 1, f"{lesson.name} must print 'pictures go to <folder>' once"
    folder = folders[0]
    assert folder.is_relative_to(out), f"{lesson.name} ignored AVT_NP_LESSONS_OUT: {folder}"
    assert announced, f"{lesson.name} prints no picture path"
    for path in announced:
        assert path.is_relative_to(folder), f"{lesson.name} announced {path} outside {folder}"
        assert path.is_file(), f"{lesson.name} announced {path} but did not write it"
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
