"""The built book in a real browser: the book is built once (every lesson executed), served on
127.0.0.1 by http.server, and every page opened in headless Chromium (Debian's chromium and
chromium-driver, driven by selenium): no console error, no failed request and none outside the
server, every picture decodes, each lesson page shows the pictures its lesson announces right
after the cell that announced them and what its cells printed, every internal link answers 200,
search works, and the site opened from disk (file://) asks for nothing outside its folder."""

import functools
import http.server
import importlib.util
import os
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from avt_np.book.lessons import ROOT, find_exercises, find_lessons
from tests.test_lessons import ANNOUNCED_PICTURE, NO_PICTURES, PICTURE_FOLDER

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
NEEDED = ("jupytext", "nbclient", "nbconvert", "ipykernel", "mkdocs", "material", "selenium")
MISSING = [name for name in NEEDED if importlib.util.find_spec(name) is None]
pytestmark = [
    pytest.mark.skipif(bool(MISSING), reason=f"the docs extra is not installed "
                       f"({', '.join(MISSING)}): pip install -r requirements-docs.txt"),
    pytest.mark.skipif(not (CHROMIUM.is_file() and CHROMEDRIVER.is_file()),
                       reason="needs Debian's Chromium and its driver: apt-get install chromium "
                              "chromium-driver (.ci/run installs them)"),
]
LESSONS = find_lessons(ROOT / "lessons")
PAGE_TIMEOUT = 60         # seconds for one page and its pictures: a hang guard

# the page in document order: code cells, what they printed, pictures (templates/lesson.md.j2)
BLOCKS_SCRIPT = """
return Array.from(document.querySelectorAll(
        "article div.cell, article div.output, article img")).map(e => ({
    kind: e.matches("img") ? "img" : e.classList.contains("cell") ? "cell" : "output",
    text: e.matches("img") ? "" : e.innerText,
    alt: e.getAttribute("alt") || "",
    src: e.currentSrc || ""}));
"""
PAGE_SCRIPT = """
return {
    resources: performance.getEntriesByType("resource").map(
        e => [e.name, e.responseStatus === undefined ? 200 : e.responseStatus]),
    images: Array.from(document.images).map(i => [i.currentSrc || i.src, i.complete,
                                                  i.naturalWidth]),
    links: Array.from(document.querySelectorAll("a[href]")).map(a => a.href)};
"""


# every code or output box, and every formula: (page width, [what overflows]); a box overflows
# when its content is wider than the box (it would be cut off or need a scroll bar)
LAYOUT_SCRIPT = """
const boxes = Array.from(document.querySelectorAll("article pre, article pre > code"));
return {
    width: window.innerWidth,
    overflowing: boxes.filter(e => e.clientWidth > 0 && e.scrollWidth > e.clientWidth + 1)
        .map(e => (e.innerText || "").slice(0, 80) + " (" + e.scrollWidth + " > "
                  + e.clientWidth + " px)"),
    page_wider_than_window: document.documentElement.scrollWidth > window.innerWidth + 1,
    formulas: document.querySelectorAll("article .arithmatex").length,
    rendered: document.querySelectorAll("article .arithmatex .katex").length,
    unrendered: Array.from(document.querySelectorAll("article .arithmatex"))
        .filter(e => !e.querySelector(".katex")).map(e => e.innerText.slice(0, 60)),
    errors: Array.from(document.querySelectorAll("article .katex-error"))
        .map(e => e.getAttribute("title") || e.innerText)};
"""
WIDTHS = (1280, 390)      # a laptop's window and a phone's
# pages that write formulas (as $...$ in the lessons): each must show them typeset
WITH_FORMULAS = tuple(f"lessons/{name}.html" for name in (
    "01_linear_and_gradient_checking", "02_relu_and_feedforward", "03_layer_normalisation",
    "04_dropout", "05_attention_functions", "06_multi_head_attention", "07_positional_encodings",
    "08_encoder_decoder_blocks", "09_audiovisual_transformer", "10_adam"))


class RecordingHandler(http.server.SimpleHTTPRequestHandler):
    """Serves the site and records every request's path and status."""

    def log_request(self, code="-", size="-"):
        self.server.requests.append((self.path, int(getattr(code, "value", code))))

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def book(tmp_path_factory):
    """(site folder, base URL, list of (path, status) the server answered)."""
    from avt_np.book.build import build_book
    site = tmp_path_factory.mktemp("book") / "site"
    build_book(site)
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(RecordingHandler, directory=str(site)))
    server.requests = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield site, f"http://127.0.0.1:{server.server_address[1]}/", server.requests
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service
    os.environ.setdefault("SE_OFFLINE", "true")           # selenium-manager: never download
    options = Options()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--window-size=1280,1000",
                 # a request to any other host fails at once (and shows as a failed request)
                 "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
                 f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(PAGE_TIMEOUT)
    yield driver
    driver.quit()


def open_page(driver, url):
    """Load `url`, wait for its pictures; return (console errors, what PAGE_SCRIPT reports)."""
    from selenium.webdriver.support.ui import WebDriverWait
    driver.get(url)                 # (an error logged late by the page before is kept: it fails)
    WebDriverWait(driver, PAGE_TIMEOUT).until(lambda d: d.execute_script(
        "return document.readyState === 'complete' && "
        "Array.from(document.images).every(i => i.complete)"))
    time.sleep(0.2)                                       # let scripts run after load
    errors = [entry["message"] for entry in driver.get_log("browser")
              if entry["level"] == "SEVERE"]
    return errors, driver.execute_script(PAGE_SCRIPT)


@pytest.fixture(scope="module")
def visits(book, browser):
    """{page path in the site: (console errors, PAGE_SCRIPT's report, blocks, {window width:
    LAYOUT_SCRIPT's report})} for every page, laid out at each of WIDTHS."""
    site, base, _ = book
    found = {}
    pages = [p.relative_to(site).as_posix() for p in sorted(site.rglob("*.html"))]
    for width in WIDTHS:
        browser.set_window_size(width, 1000)
        for name in pages:
            errors, report = open_page(browser, base + name)
            if name not in found:
                found[name] = (errors, report, browser.execute_script(BLOCKS_SCRIPT), {})
            else:
                found[name][0].extend(errors)
            found[name][3][width] = browser.execute_script(LAYOUT_SCRIPT)
    browser.set_window_size(WIDTHS[0], 1000)
    return found


def test_no_code_or_output_box_is_wider_than_the_page_at_a_laptops_or_a_phones_width(visits):
    problems = []
    for page, (_, _, _, layouts) in visits.items():
        for width, layout in layouts.items():
            problems += [f"{page} at {width} px: {box}" for box in layout["overflowing"]]
            if layout["page_wider_than_window"]:
                problems.append(f"{page} at {width} px: the page scrolls sideways")
    assert not problems, "\n".join(problems)
    assert all(set(layouts) == set(WIDTHS) for *_, layouts in visits.values())


def test_every_formula_is_typeset_by_katex(visits):
    problems = []
    for page, (_, _, _, layouts) in visits.items():
        layout = layouts[WIDTHS[0]]
        problems += [f"{page}: not typeset: {text}" for text in layout["unrendered"]]
        problems += [f"{page}: KaTeX error: {text}" for text in layout["errors"]]
        if page in WITH_FORMULAS and not layout["rendered"]:
            problems.append(f"{page}: no typeset formula")
    assert not problems, "\n".join(problems)


def test_the_landing_page_and_lessons_8_and_9_show_the_models_picture(visits):
    for page, name in (("index.html", "the audiovisual transformer"),
                       ("lessons/08_encoder_decoder_blocks.html", "architecture.png"),
                       ("lessons/09_audiovisual_transformer.html", "architecture.png")):
        report = visits[page][1]
        assert any(src.endswith("architecture.png") and width > 600
                   for src, _, width in report["images"]), (page, report["images"])


def test_the_exercises_page_is_in_the_sidebar_and_links_each_lesson_page(book, visits):
    site, base, _ = book
    page = visits["lessons/exercises/index.html"][1]["links"]
    for lesson in LESSONS:
        if find_exercises(ROOT / "lessons" / "exercises", lesson.number):
            assert f"{base}lessons/{lesson.stem}.html" in page, lesson.stem
    assert not [link for link in page if link.endswith(".py")]
    index = visits["index.html"][1]["links"]
    assert f"{base}lessons/exercises/index.html" in index        # the sidebar, on every page


def test_the_book_has_every_lesson_and_docs_page(book, visits):
    pages = set(visits)
    assert {f"lessons/{lesson.stem}.html" for lesson in LESSONS} <= pages
    assert {f"docs/{p.stem}.html" for p in (ROOT / "docs").glob("*.md")} <= pages
    assert {"index.html", "lessons/index.html"} <= pages


def test_every_page_loads_without_console_errors_failed_or_outside_requests(book, visits):
    _, base, requests = book
    problems = []
    for page, (errors, report, *_) in visits.items():
        problems += [f"{page}: console: {e}" for e in errors]
        problems += [f"{page}: requested outside the site: {name}"
                     for name, _ in report["resources"] if not name.startswith(base)]
        problems += [f"{page}: {name} answered {status}" for name, status in report["resources"]
                     if status >= 400]
    problems += [f"server answered {status} to {path}" for path, status in requests
                 if status >= 400]
    assert not problems, "\n".join(problems)


def test_every_picture_decodes(visits):
    broken = [f"{page}: {src} (complete={complete}, naturalWidth={width})"
              for page, (_, report, *_) in visits.items()
              for src, complete, width in report["images"] if not (complete and width > 0)]
    assert not broken, "\n".join(broken)
    assert sum(len(report["images"]) for _, report, *_ in visits.values()) >= 20


def test_every_internal_link_answers_200(book, visits):
    _, base, _ = book
    targets = {link.split("#", 1)[0] for _, report, *_ in visits.values()
               for link in report["links"] if link.startswith(base)}
    assert len(targets) > len(LESSONS)
    failed = []
    for url in sorted(targets):
        try:
            with urllib.request.urlopen(url, timeout=PAGE_TIMEOUT) as answer:
                if answer.status != 200:
                    failed.append(f"{url}: {answer.status}")
        except OSError as error:
            failed.append(f"{url}: {error}")
    assert not failed, "\n".join(failed)


@pytest.mark.parametrize("lesson", LESSONS, ids=[lesson.stem for lesson in LESSONS])
def test_lesson_page_shows_its_output_and_each_announced_picture_after_its_cell(lesson, visits):
    blocks = visits[f"lessons/{lesson.stem}.html"][2]
    segments = []                                         # one per code cell: what follows it
    for block in blocks:
        if block["kind"] == "cell":
            segments.append({"printed": "", "pictures": []})
        elif segments and block["kind"] == "output":
            segments[-1]["printed"] += block["text"] + "\n"
        elif segments:
            segments[-1]["pictures"].append(block["alt"])
    assert segments, f"{lesson.stem}: no code cells on its page"
    printed = "".join(s["printed"] for s in segments)
    assert printed.strip(), f"{lesson.stem}: no printed output on its page"
    announced = ANNOUNCED_PICTURE.findall(printed)
    if lesson.stem in NO_PICTURES:
        assert not announced and not any(s["pictures"] for s in segments)
        return
    assert PICTURE_FOLDER.findall(printed) == [f"lesson_output/{lesson.stem}"]
    assert announced, f"{lesson.stem}: its page announces no picture"
    for k, segment in enumerate(segments):
        for name in ANNOUNCED_PICTURE.findall(segment["printed"]):
            assert Path(name).name in segment["pictures"], (
                f"{lesson.stem}: {name} is announced by code cell {k + 1} but not shown "
                f"right after it (pictures there: {segment['pictures']})")


@pytest.mark.parametrize("lesson", LESSONS, ids=[lesson.stem for lesson in LESSONS])
def test_lesson_page_links_each_exercise_and_shows_its_command(lesson, book, visits):
    site, base, _ = book
    exercises = find_exercises(ROOT / "lessons" / "exercises", lesson.number)
    links = visits[f"lessons/{lesson.stem}.html"][1]["links"]
    text = (site / "lessons" / f"{lesson.stem}.html").read_text(encoding="utf-8")
    for path in exercises:
        assert f"{base}lessons/exercises/{path.stem}.html" in links
        assert f"lessons/exercises/{path.name}</span>" in text or path.name in text
        back = visits[f"lessons/exercises/{path.stem}.html"][1]["links"]
        assert f"{base}lessons/{lesson.stem}.html" in back, f"{path.name} links no lesson"
    if not exercises:
        assert 'class="admonition example"' not in text


def test_search_finds_a_word_of_a_lesson(book, browser):
    site, base, _ = book
    found_over_http = search(browser, base + "index.html", "Jacobian")
    assert any("Lesson 3" in title or "Lesson 5" in title for title in found_over_http)


def test_the_site_opened_from_disk_asks_for_nothing_outside_its_folder(book, browser):
    site, _, _ = book
    folder = site.resolve().as_uri() + "/"
    for page in ("index.html", f"lessons/{LESSONS[4].stem}.html", "docs/attention.html",
                 "404.html"):
        errors, report = open_page(browser, folder + page)
        assert not errors, (page, errors)
        outside = [name for name, _ in report["resources"] if not name.startswith(folder)]
        assert not outside, (page, outside)
        assert all(width > 0 for _, _, width in report["images"]), (page, report["images"])
        header = browser.execute_script(          # mkdocs-material's stylesheet gives it a colour
            "const h = document.querySelector('.md-header');"
            "return h ? getComputedStyle(h).backgroundColor : 'no header';")
        assert header not in ("no header", "rgba(0, 0, 0, 0)", "transparent"), (page, header)
    titles = search(browser, folder + "index.html", "Jacobian")
    assert titles, "search finds nothing when the site is opened from disk"


def search(driver, url, word):
    """Type `word` into the search box of `url`; the titles of the results."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait
    driver.get(url)
    box = driver.find_element(By.CSS_SELECTOR, "input.md-search__input")
    box.click()
    box.send_keys(word)
    WebDriverWait(driver, PAGE_TIMEOUT).until(lambda d: d.find_elements(
        By.CSS_SELECTOR, ".md-search-result__item"))
    return [e.text for e in driver.find_elements(By.CSS_SELECTOR, ".md-search-result__article h1")]
