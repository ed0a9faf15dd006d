"""avt_np/cli.py: every `python -m avt_np.<tool>` follows one convention: a bad or abbreviated
flag is one line on stderr and exit code 2 (`--epoch 3` never means `--epochs 3`), and main()
returns the exit code instead of raising."""

import subprocess
import sys

import pytest

from avt_np import cli

# Each tool with an abbreviation of one of its real flags (argparse would accept it by default).
TOOLS = [
    ("avt_np.train", ["--epoch", "3"]),
    ("avt_np.evaluate", ["RUN", "--dat", "x"]),
    ("avt_np.visualize", ["RUN", "--cli", "3"]),
    ("avt_np.sweep", ["--quic"]),
    ("avt_np.gradcheck", ["--shap", "2,3"]),
    ("avt_np.bench", ["step", "--round", "1"]),
    ("avt_np.weights", ["fetch", "--forc"]),
    ("avt_np.features", ["--clip", "x"]),
    ("avt_np.features.bench", ["--second", "1"]),
    ("avt_np.data", ["synth", "--see", "1"]),
    ("avt_np.data", ["dcase2017-stats", "folder", "--ou", "x"]),
    ("avt_np.data.dcase2017_task4_clips", ["folder", "--ou", "x"]),
    ("avt_np.book", ["build", "--ou", "x"]),
    ("avt_np.exercises", ["check", "x.py", "--see", "1"]),
    ("avt_np.events", ["score", "ref.tsv", "est.tsv", "--jso"]),
    ("avt_np.tag", ["RUN", "--spli", "test"]),
]


@pytest.mark.parametrize("tool, args", TOOLS, ids=[t for t, _ in TOOLS])
def test_an_abbreviated_flag_is_one_line_and_exit_code_2(tool, args, tmp_path):
    done = subprocess.run([sys.executable, "-m", tool, *args], capture_output=True, text=True,
                          cwd=tmp_path, timeout=600)                    # timeout: a hang guard
    assert done.returncode == 2, (tool, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in done.stderr
    assert any(a in lines[0] for a in args if a.startswith("--")), lines[0]


def test_main_turns_outcomes_into_exit_codes(capsys):
    def raises(error):
        def run(argv):
            raise error
        return run

    assert cli.main(lambda argv: None) == cli.OK == 0
    assert cli.main(raises(cli.UsageError("--x 3: expected 1..2"))) == cli.USAGE_ERROR == 2
    assert capsys.readouterr().err == "error: --x 3: expected 1..2\n"
    assert cli.main(raises(cli.CheckFailed("w: differs"))) == cli.CHECK_FAILED == 1
    assert capsys.readouterr().err == "FAIL: w: differs\n"
    assert cli.main(raises(KeyboardInterrupt()), interrupted="kept: all") == cli.INTERRUPTED == 130
    assert capsys.readouterr().err == "\nkept: all\n"
    assert cli.main(raises(OSError("disk full\nmore")), errors=(OSError,)) == 2
    assert capsys.readouterr().err == "error: disk full\n"
    with pytest.raises(ValueError):                 # anything else is a bug: a traceback
        cli.main(raises(ValueError("bug")))
