"""The README stays a front door, every link in the docs resolves, and nothing points at files
outside the repository."""

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README_MAX_LINES = 160
DOCS_PAGES = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "docs").glob("*.md"))
LINKED_PAGES = ["README.md", *DOCS_PAGES, "lessons/README.md", "avt_np/data/README.md",
                "weights/README.md"]

# [text](target) and ![alt](target); the target ends at the first space or ")"
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
FENCE = re.compile(r"^(```|~~~).*?^\1", re.S | re.M)


def relative_links(text):
    """Targets of Markdown links outside code blocks that are paths in the repository."""
    text = FENCE.sub("", text)
    text = re.sub(r"`[^`\n]*`", "", text)                 # inline code is not a link
    for target in LINK.findall(text):
        if re.match(r"[a-z][a-z0-9+.-]*:", target, re.I) or target.startswith("#"):
            continue                                      # http:, mailto:, an anchor in the page
        yield target.split("#", 1)[0]


def test_readme_is_at_most_160_lines():
    lines = (ROOT / "README.md").read_text(encoding="utf-8").count("\n")
    assert lines <= README_MAX_LINES, (f"README.md has {lines} lines, at most {README_MAX_LINES}: "
                                       "move details to docs/")


@pytest.mark.parametrize("page", LINKED_PAGES)
def test_every_relative_link_resolves_to_a_file(page):
    path = ROOT / page
    broken = [target for target in relative_links(path.read_text(encoding="utf-8"))
              if not (path.parent / target).exists()]
    assert not broken, f"{page} links to missing files: {broken}"


def test_relative_links_are_found_outside_code_only():
    text = ("[a](docs/a.md) ![b](b.png) [c](https://x.org/c) [d](#top)\n"
            "```\n[e](e.md)\n```\n`[f](f.md)`")
    assert list(relative_links(text)) == ["docs/a.md", "b.png"]


def tracked_text_files():
    names = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
                           ).stdout.decode().split("\0")
    for name in filter(None, names):
        path = ROOT / name
        if not path.is_file():
            continue                                      # deleted in the working tree
        data = path.read_bytes()
        if b"\0" in data[:8192]:
            continue                                      # binary: pictures, .npz, .gz
        yield name, data.decode("utf-8", errors="replace")


def test_no_tracked_file_points_at_the_private_notes_outside_the_repository():
    # built from pieces, so this file does not match itself
    shared = "sha" + "red"
    patterns = [f"{shared}/REFERENCE.md", f"{shared}/STYLE.md", f"../{shared}/",
                f"{shared}/dcase2017_task4"]
    found = [f"{name}: {pattern}" for name, text in tracked_text_files()
             for pattern in patterns if pattern in text]
    assert not found, ("cite public sources (the paper, DCASE 2017 Task 4, upstream repositories) "
                       "instead of files outside the repository:\n" + "\n".join(found))
