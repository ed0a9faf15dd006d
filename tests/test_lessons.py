"""Every lesson in lessons/ runs to the end and writes the pictures it announces."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LESSONS = sorted((ROOT / "lessons").glob("[0-9][0-9]_*.py"))


def test_lessons_are_found():
    assert len(LESSONS) >= 11, [p.name for p in LESSONS]


@pytest.mark.parametrize("lesson", LESSONS, ids=[p.stem for p in LESSONS])
def test_lesson_runs_and_writes_its_pictures(lesson, tmp_path):
    out = tmp_path / "out"
    env = dict(os.environ, AVT_NP_LESSONS_OUT=str(out))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    proc = subprocess.run([sys.executable, str(lesson)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"{lesson.name} exited {proc.returncode}:\n{proc.stderr[-3000:]}"
    announced = re.findall(r"(\S+\.png)\b", proc.stdout)
    for name in announced:
        path = Path(name) if Path(name).is_absolute() else tmp_path / name
        assert path.is_file(), f"{lesson.name} announced {name} but did not write it"
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", f"{name} is not a PNG"
    folder = re.search(r"pictures go to (\S+)", proc.stdout)
    if folder:
        folder = Path(folder.group(1))
        folder = folder if folder.is_absolute() else tmp_path / folder
        assert folder.is_relative_to(out), f"{lesson.name} ignored AVT_NP_LESSONS_OUT: {folder}"
        assert list(folder.glob("*.png")), f"{lesson.name} wrote no picture to {folder}"
        assert announced, f"{lesson.name} prints no picture path"
