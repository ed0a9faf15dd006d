"""The book's Markdown pages, written into mkdocs's docs folder with the repository's layout
(index.md, lessons/NN_name.md, docs/*.md, ...), so that relative links between them keep working:

- a lesson: its executed notebook through nbconvert's Markdown exporter (templates/lesson.md.j2),
  pictures extracted beside it, and a box per exercise;
- the landing page: the README's opening and the lesson table of lessons/README.md;
- every docs/*.md page, lessons/README.md, and whatever repository file a page links to
  (Markdown as a page, anything else copied), so every relative link resolves in the site.
"""

import os
import re
from pathlib import Path

from nbconvert import MarkdownExporter

from avt_np.book.lessons import ROOT, LessonFailed, find_exercises, lesson_table

TEMPLATE = Path(__file__).parent / "templates" / "lesson.md.j2"
# what a link-following pass must see and skip: fenced code, inline code, and links
# ([text](target) or ![alt](target); the target ends at a space or ")")
MARKDOWN_PARTS = re.compile(
    r"(?P<fence>^(?P<mark>```|~~~).*?^(?P=mark))"
    r"|(?P<code>`[^`\n]*`)"
    r"|(?P<link>!?\[[^\]]*\]\(\s*<?(?P<target>[^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\))",
    re.S | re.M)
URL_SCHEME = re.compile(r"[a-z][a-z0-9+.-]*:", re.I)
LIST_ITEM = re.compile(r"^(?:[-*+]|\d+\.) ")


class Pages:
    """The docs folder mkdocs builds from. Pages keep their path in the repository (README.md,
    the repository's front page, becomes index.md); `nav` records the Markdown pages added
    by following links, in the order they were met."""

    def __init__(self, folder, root=ROOT):
        self.folder, self.root = Path(folder), Path(root)
        self.added = set()                    # repository-relative paths already in the site
        self.linked_pages = []                # Markdown pages added because a page links them
        self.pages_of = {}                    # a script shown as a page: {its path: the page}

    def write(self, relative, text, source_dir):
        """Write the page `relative` (a path inside the site) whose links are relative to the
        repository folder `source_dir`; follow and fix its links."""
        self.added.add(Path(relative).as_posix())
        path = self.folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.follow_links(text, Path(source_dir)), encoding="utf-8")

    def write_bytes(self, relative, data):
        path = self.folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)

    def add_file(self, relative):
        """Put the repository file `relative` into the site (a Markdown page or a copy)."""
        relative = Path(relative).as_posix()
        if relative in self.added:
            return
        source = self.root / relative
        if source.suffix == ".md":
            self.write(relative, source.read_text(encoding="utf-8"), source.parent)
        else:
            self.added.add(relative)
            self.write_bytes(relative, source.read_bytes())

    def follow_links(self, text, source_dir):
        """`text` with each relative link to a repository file made to resolve in the site: the
        file is added (once); a link to README.md at the root points at index.md instead."""
        def fix(match):
            target = match.group("target")
            if not match.group("link") or URL_SCHEME.match(target) or target.startswith("#"):
                return match.group(0)
            path, _, anchor = target.partition("#")
            resolved = (source_dir / path).resolve()
            if not resolved.is_file() or not resolved.is_relative_to(self.root):
                return match.group(0)                     # not ours to fix: mkdocs reports it
            relative = resolved.relative_to(self.root).as_posix()
            if resolved in self.pages_of:             # a lesson or an exercise: its page
                new = os.path.relpath(self.folder / self.pages_of[resolved],
                                      self.folder / source_dir.resolve().relative_to(self.root))
                new = Path(new).as_posix() + (f"#{anchor}" if anchor else "")
                start, end = match.span("target")
                offset = match.start()
                return match.group(0)[:start - offset] + new + match.group(0)[end - offset:]
            if relative == "README.md":
                relative = "index.md"
                page_dir = source_dir.resolve().relative_to(self.root)
                new = Path("../" * len(page_dir.parts) + relative).as_posix()
                new += f"#{anchor}" if anchor else ""
                start, end = match.span("target")
                offset = match.start()
                return match.group(0)[:start - offset] + new + match.group(0)[end - offset:]
            if relative not in self.added:
                if resolved.suffix == ".md":
                    self.linked_pages.append(relative)
                self.add_file(relative)
            return match.group(0)
        return MARKDOWN_PARTS.sub(fix, text)


def lesson_page(notebook, lesson, exercises_dir):
    """(Markdown of the executed lesson, {file name relative to lessons/: bytes}) for
    lessons/NN_name.md. Each picture is a file in lessons/NN_name_files/ named as the lesson
    saved it. Raises LessonFailed when two pictures of the lesson have the same name."""
    names = [output.metadata.get("filename") for cell in notebook.cells
             for output in cell.get("outputs", []) if "image/png" in output.get("data", {})]
    repeated = sorted({n for n in names if n and names.count(n) > 1})
    if repeated:
        raise LessonFailed(f"lesson {lesson.path.name} saves several pictures named "
                         f"{', '.join(repeated)}: the book would show only the last")
    for cell in notebook.cells:
        if cell.cell_type == "markdown":
            cell.source = separate_lists(cell.source)
        elif cell.cell_type == "code":
            coalesce_streams(cell)
    exporter = MarkdownExporter(template_file=str(TEMPLATE))
    body, resources = exporter.from_notebook_node(
        notebook, resources={"output_files_dir": f"{lesson.stem}_files",
                             "unique_key": lesson.stem})
    boxes = [exercise_box(path) for path in find_exercises(exercises_dir, lesson.number)]
    return body.strip() + "\n" + "".join(boxes), resources.get("outputs", {})


def coalesce_streams(cell):
    """One output per run of what a cell printed to the same stream: a kernel may send each line
    (each flush) as its own output, which the page would show as a box per line."""
    merged = []
    for output in cell.get("outputs", []):
        if (output.output_type == "stream" and merged and merged[-1].output_type == "stream"
                and merged[-1].name == output.name):
            merged[-1].text += output.text
        else:
            merged.append(output)
    cell.outputs = merged


def separate_lists(text):
    """`text` with a blank line before each list that follows a paragraph line: the lessons
    write "What you learn here:" and the list right below it, which Python-Markdown (behind
    mkdocs) would read as one paragraph."""
    out, in_list = [], False
    for line in text.splitlines():
        if LIST_ITEM.match(line):
            if out and out[-1].strip() and not in_list:
                out.append("")
            in_list = True
        elif not line.strip():
            in_list = False
        out.append(line)
    return "\n".join(out)


def exercise_box(path):
    """An admonition linking the exercise's page and showing the command that checks it."""
    name = path.name
    return (f'\n!!! example "Exercise"\n'
            f"    [`lessons/exercises/{name}`](exercises/{path.stem}.md): fill in what it leaves "
            f"as `NotImplementedError`, then check your file:\n\n"
            f"    ```bash\n    python -m avt_np.exercises check lessons/exercises/{name}\n"
            f"    ```\n")


def exercise_page(path, lesson=None, title=""):
    """lessons/exercises/NN_name.md: the exercise's source and the command that checks it, with
    a link back to its lesson's page."""
    source = Path(path).read_text(encoding="utf-8")
    fence = "````" if "```" in source else "```"
    back = (f"An exercise of [{title or lesson.stem}](../{lesson.stem}.md); "
            "[all the exercises](README.md).\n\n" if lesson else "")
    return (f"# Exercise `{path.name}`\n\n{back}"
            f"The file `lessons/exercises/{path.name}` in the repository. Fill in what it leaves "
            f"as `NotImplementedError`, then, from the repository's root:\n\n"
            f"```bash\npython -m avt_np.exercises check lessons/exercises/{path.name}\n```\n\n"
            f"{fence}python\n{source.rstrip()}\n{fence}\n")


def readme_opening(readme):
    """The README up to its first second-level heading: the title, what the project is and its
    picture."""
    lines = Path(readme).read_text(encoding="utf-8").splitlines()
    end = next((i for i, line in enumerate(lines) if line.startswith("## ")), len(lines))
    return "\n".join(lines[:end]).rstrip() + "\n"


def landing_page(root, lessons, titles, seconds, lessons_readme, architecture=None):
    """index.md: the README's opening, the model's picture (`architecture`, a picture in the
    site), then one row per lesson: its page, what it teaches and how long it runs (the promise
    of lessons/README.md, and what it took in this build)."""
    table = lesson_table(lessons_readme)
    rows = ["| lesson | what it teaches | time (idle, 2 cores) | in this build |",
            "| --- | --- | --- | --- |"]
    for lesson in lessons:
        row = table.get(lesson.path.name)
        rows.append(f"| [{titles[lesson.stem]}]({lesson.page}) | "
                    f"{row.teaches if row else ''} | {row.time if row else ''} | "
                    f"{seconds[lesson.stem]:.1f} s |")
    intro = ("Each lesson below is a script in `lessons/`, executed once to build this book: "
             "its prose, its code, what each cell printed and the pictures it drew, each "
             "right after its cell. Run one yourself with `python lessons/NN_name.py`; "
             "[lessons/README.md](lessons/README.md) says more.")
    model = ("\n## The model\n\nDrawn by `avt_np.visualize.architecture.draw(ModelConfig())` "
             "from the configuration the code builds, so it shows what `python -m avt_np.train` "
             "trains by default (lessons 08 and 09 build it):\n\n"
             f"![the audiovisual transformer]({architecture})\n" if architecture else "")
    return (readme_opening(Path(root) / "README.md") + model + "\n## Lessons\n\n" + intro
            + "\n\n" + "\n".join(rows) + "\n")


def lessons_readme_page(text, lessons):
    """lessons/README.md with each lesson's file name in its table linked to the lesson's page."""
    for lesson in lessons:
        name = lesson.path.name
        text = text.replace(f"| `{name}` |", f"| [`{name}`]({lesson.stem}.md) |")
    return text


def lesson_title(notebook, lesson):
    """The lesson's first Markdown heading without its '#', or its file name."""
    for cell in notebook.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return lesson.stem
