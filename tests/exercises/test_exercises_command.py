"""`python -m avt_np.exercises`: exit codes and one-line messages for every way a learner's
file can be broken (the fuzz suite's damaged files included: never a traceback)."""

import os
import subprocess
import sys

import numpy as np
import pytest

from avt_np.exercises import EXERCISES, main
from tests.exercises.pasting import EXERCISE_FOLDER, ROOT, backward_source, write_exercise

LAYER_NORM = EXERCISE_FOLDER / "03_layer_norm.py"


def run_tool(*args):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return subprocess.run([sys.executable, "-m", "avt_np.exercises", *map(str, args)], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=300)   # hang guard


def check(capsys, *paths):
    code = main(["check", *map(str, paths)])
    out, err = capsys.readouterr()
    return code, out, err


def one_line(err):
    lines = err.strip().splitlines()
    return len(lines) == 1 and "Traceback" not in err


def test_command_line_fails_on_the_shipped_file_saying_not_implemented():
    done = run_tool("check", "lessons/exercises/03_layer_norm.py")
    assert done.returncode == 1, done.stderr
    line = next(i for i, text in enumerate(LAYER_NORM.read_text().splitlines(), 1)
                if "raise NotImplementedError" in text)
    assert done.stderr == ("FAIL: lessons/exercises/03_layer_norm.py: LayerNorm: not implemented "
                           f"yet: write backward (line {line})\n")
    assert ("not implemented yet: write backward in lessons/exercises/03_layer_norm.py "
            f"(line {line})") in done.stdout


def test_command_line_syntax_error_is_one_line_naming_file_and_line(tmp_path):
    path = tmp_path / "03_layer_norm.py"
    lines = LAYER_NORM.read_text().splitlines()
    n = next(i for i, line in enumerate(lines) if "def forward(self, x):" in line)
    lines[n] = lines[n].replace("x):", "x)")                 # a def without its colon
    path.write_text("\n".join(lines) + "\n")
    done = run_tool("check", path)
    assert done.returncode == 2
    assert done.stderr.startswith(f"error: {path} line {n + 1}: SyntaxError:"), done.stderr
    assert one_line(done.stderr)


def test_command_line_missing_file_is_exit_code_2():
    done = run_tool("check", "lessons/exercises/99_nothing.py")
    assert (done.returncode, done.stderr) == (
        2, "error: lessons/exercises/99_nothing.py: no such file\n")


def test_list_names_every_exercise_file_and_the_check_command(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for e in EXERCISES.values():
        assert f"lessons/exercises/{e.file}" in out
    assert "python -m avt_np.exercises check lessons/exercises/03_layer_norm.py" in out


def test_no_command_is_a_usage_error(capsys):
    assert main([]) == 2
    assert one_line(capsys.readouterr().err)


def test_several_files_pass_only_if_all_pass(tmp_path, capsys):
    solved = write_exercise(tmp_path, "03_layer_norm.py",
                            {"LayerNorm": backward_source(EXERCISES["layer_norm"].classes[0].package)})
    assert check(capsys, solved)[0] == 0
    code, out, err = check(capsys, solved, EXERCISE_FOLDER / "04_dropout.py")
    assert code == 1 and f"{solved}: PASS" in out and "04_dropout.py: Dropout: not implemented" in err


def damaged(text):
    return lambda source: text


SHIPPED_LN = LAYER_NORM.read_text()
# (id, how the file is damaged: source -> str or bytes, what the one line must say)
DAMAGED = [
    ("empty", lambda s: "", "the file is empty"),
    ("only blank lines", lambda s: "\n  \n", "the file is empty"),
    ("not text", lambda s: bytes(range(256)), "not UTF-8 text (byte 128)"),
    ("a null byte", lambda s: s.replace("import numpy", "import\0numpy"), "03_layer_norm.py"),
    ("cut in half", lambda s: s[:len(s) // 2], "03_layer_norm.py: no class LayerNorm"),
    ("cut in a line", lambda s: s[:s.index("def forward") + 15], "SyntaxError"),
    ("not Python", lambda s: "<html><body>LayerNorm</body></html>\n", "line 1: SyntaxError"),
    ("no EXERCISE line", lambda s: s.replace('EXERCISE = "layer_norm"', ""),
     'no line EXERCISE = "..."'),
    ("unknown EXERCISE", lambda s: s.replace('"layer_norm"', '"layernorm"'),
     "EXERCISE = 'layernorm' is not an exercise: expected one of linear"),
    ("the class missing", lambda s: s.replace("class LayerNorm(Module)", "class LN(Module)"),
     "no class LayerNorm derived from avt_np.nn.Module"),
    ("the class not a Module", lambda s: s.replace("class LayerNorm(Module)", "class LayerNorm"),
     "no class LayerNorm derived from avt_np.nn.Module"),
    ("an error when run", lambda s: s.replace("import numpy as np", "import numpy as np\n1 / 0"),
     f"(line {SHIPPED_LN.splitlines().index('import numpy as np') + 2}): could not be run: "
     "ZeroDivisionError"),
    ("exit() when run", lambda s: s + "\nraise SystemExit(0)\n", "could not be run: SystemExit"),
    ("constructor changed", lambda s: s.replace("def __init__(self, dim,", "def __init__(self, d,"),
     "LayerNorm(dim=6) failed: TypeError"),
    ("a parameter renamed", lambda s: s.replace('self.add_param("g"', 'self.add_param("gain"'),
     "the parameters of LayerNorm are not the package's"),
    ("forward changed", lambda s: s.replace("+ self.params[\"b\"]", "- self.params[\"b\"]"),
     "LayerNorm.forward no longer computes what the package's does"),
    ("forward raises", lambda s: s.replace("centred = x -", "centred = x.nothing -"),
     "LayerNorm.forward raised AttributeError"),
]


@pytest.mark.parametrize("damage, expected", [d[1:] for d in DAMAGED], ids=[d[0] for d in DAMAGED])
def test_damaged_file_is_one_line_and_exit_code_2(damage, expected, tmp_path, capsys):
    path = tmp_path / "03_layer_norm.py"
    content = damage(SHIPPED_LN)
    (path.write_bytes if isinstance(content, bytes) else path.write_text)(content)
    code, out, err = check(capsys, path)
    assert code == 2, out + err
    assert one_line(err) and err.startswith(f"error: {path}"), err
    assert expected in err, err


# backward bodies a fuzzer (or a learner) may write: each a FAIL in one line, exit code 1
GARBAGE = [
    ("a string", "return 'dx'", "your gradient of x is a str: expected an array of real numbers"),
    ("NaN", "return dy * np.nan", "NaN or inf in your gradient of x"),
    ("complex", "return dy + 0j", "your gradient of x is complex numbers"),
    ("a tuple of three", "return dy, dy, dy", "backward returned 3 gradients; forward takes one input"),
    ("recursion", "return self.backward(dy)", "backward raised RecursionError"),
    ("exit()", "raise SystemExit(0)", "backward raised SystemExit"),
    ("grads replaced by a list", "self.grads['g'] = [0.0] * 6\n    return dy",
     "self.grads['g'] of g is now a list"),
    ("grads emptied", "self.grads.clear()\n    return dy", "self.grads no longer has an entry"),
    ("a transposed shape", "return dy.T", "your gradient of x has shape (6, 3, 2), expected (2, 3, 6): "
     "the same number of entries"),
]


@pytest.mark.parametrize("body, expected", [g[1:] for g in GARBAGE], ids=[g[0] for g in GARBAGE])
def test_garbage_from_backward_is_one_line_and_exit_code_1(body, expected, tmp_path, capsys):
    path = write_exercise(tmp_path, "03_layer_norm.py",
                          {"LayerNorm": f"def backward(self, dy):\n    {body}\n"})
    code, out, err = check(capsys, path)
    assert code == 1, out + err
    assert one_line(err) and err.startswith("FAIL: ") and "LayerNorm" in err, err
    assert expected in out + err, out + err


def test_flipped_cut_and_shuffled_files_never_raise(tmp_path, capsys):
    """A small seeded fuzz over every shipped file and its solved version."""
    rng = np.random.default_rng(0)
    sources = []
    for e in EXERCISES.values():
        sources.append((EXERCISE_FOLDER / e.file).read_bytes())
        sources.append(write_exercise(tmp_path, e.file, {g.name: backward_source(g.package)
                                                         for g in e.classes}).read_bytes())
    codes = set()
    for trial in range(40):
        data = bytearray(sources[rng.integers(len(sources))])
        how = trial % 3
        if how == 0:                                           # flip a few bits
            for i in rng.integers(len(data), size=3):
                data[i] ^= 1 << int(rng.integers(8))
        elif how == 1:                                         # cut
            data = data[:rng.integers(len(data))]
        else:                                                  # drop a line
            lines = bytes(data).splitlines(keepends=True)
            del lines[rng.integers(len(lines))]
            data = bytearray(b"".join(lines))
        path = tmp_path / f"damaged_{trial}.py"
        path.write_bytes(bytes(data))
        code, out, err = check(capsys, path)
        codes.add(code)
        assert code in (0, 1, 2) and "Traceback" not in out + err, (trial, err)
        if code:
            assert one_line(err), (trial, err)
    assert {1, 2} <= codes


def test_a_base_exception_that_is_not_an_exit_goes_through_the_loader(tmp_path):
    """Only errors and exit() are the file's to report: a harness's time-out (a BaseException,
    like tests/fuzz's Hang) must not become a one-line 'could not be run'."""
    from avt_np.exercises.learner_file import load
    path = tmp_path / "stops.py"
    path.write_text("raise GeneratorExit('a BaseException, neither an error nor an exit')\n")
    with pytest.raises(GeneratorExit):
        load(path)
