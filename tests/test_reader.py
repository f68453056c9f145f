"""The fast book read as a student reads it: in a real browser that clicks.

Playwright drives the system Chromium (never a downloaded one) over every chapter of the fast build
(``GAN_LAB_FAST=1 bash scripts/build_book.sh``), served from 127.0.0.1. On every page: the math was
typeset, the console shows no error, no request leaves 127.0.0.1, the fast build says it is fast,
nothing runs past the text column, figures have alt text. On every control: moving a slider or
pressing play changes the picture it controls, and every solution opens. With
``GAN_LAB_READER_BOOK=_build/html`` the same checks read the full build (and require no banner).
"""
from __future__ import annotations

import functools
import os
import hashlib
import http.server
import re
import shutil
import threading
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
FAST_BOOK = ROOT / "_build" / "fast" / "_build" / "html"
# GAN_LAB_READER_BOOK=_build/html runs the same checks on the full build (which has no banner)
BOOK = Path(os.environ.get("GAN_LAB_READER_BOOK", FAST_BOOK)).resolve()
IS_FAST = BOOK == FAST_BOOK.resolve()
CHROMIUM = next((p for p in ("/usr/bin/chromium", shutil.which("chromium") or "",
                             shutil.which("chromium-browser") or "") if p and Path(p).exists()), None)
CHAPTERS = sorted(p.stem for p in BOOK.glob("book/*.html")) if BOOK.exists() else []
# the pages the table of contents numbers (chapters), as opposed to the intro, bibliography, ...
_TOC = yaml.safe_load((ROOT / "_toc.yml").read_text())
NUMBERED = {Path(ch["file"]).stem for part in _TOC["parts"] if part.get("numbered") for ch in part["chapters"]}

pytestmark = [pytest.mark.browser, pytest.mark.slow,
              pytest.mark.skipif(not CHAPTERS, reason="the fast book is not built "
                                                      "(GAN_LAB_FAST=1 bash scripts/build_book.sh)")]


class _Server:
    """A static file server on 127.0.0.1 (quiet)."""

    def __init__(self, directory: Path):
        class Handler(http.server.SimpleHTTPRequestHandler):
            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                                     functools.partial(Handler, directory=str(directory)))
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def browser():
    playwright = pytest.importorskip("playwright.sync_api")
    if CHROMIUM is None:
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    server = _Server(BOOK)
    with playwright.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield chromium, server.base
        chromium.close()
    server.close()


class Reader:
    """One page open in a fresh browser context, with its console errors and foreign requests."""

    def __init__(self, browser, name):
        chromium, base = browser
        self.context = chromium.new_context(viewport={"width": 1280, "height": 900})
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.foreign: list[str] = []
        self.page.on("console", lambda m: self.errors.append(f"console.{m.type}: {m.text}")
                     if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(f"uncaught: {e}"))

        def route(r):
            url = r.request.url
            if url.startswith(base) or url.startswith("data:") or url.startswith("blob:"):
                r.continue_()
            else:
                self.foreign.append(url)
                r.abort()

        self.page.route("**/*", route)
        self.page.goto(f"{base}/book/{name}.html", wait_until="load")
        # MathJax 3 has typeset the page when its startup promise resolves (pages without math
        # do not load it)
        if self.page.query_selector("script[src*='tex-chtml']"):
            self.page.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise",
                                        timeout=20_000)
            self.page.evaluate("() => MathJax.startup.promise")
        self.page.wait_for_timeout(1500)     # widget managers, animations

    def close(self):
        self.context.close()


@pytest.fixture(scope="module", params=CHAPTERS)
def reader(browser, request):
    """One page load per chapter, shared by the checks on that chapter (pytest runs them together);
    the checks that only read run first, the console check after the controls were used."""
    r = Reader(browser, request.param)
    yield r
    r.close()


# the picture a control drives: every image (and canvas) in the same cell output
_PICTURE = """(el) => {
  const box = el.closest('.cell_output') || el.closest('.cell') || el.parentElement;
  return Array.from(box.querySelectorAll('img, canvas')).map(
      i => i.tagName === 'IMG' ? i.currentSrc || i.src : i.toDataURL()).join('|');
}"""


def _digest(s: str) -> str:
    return hashlib.sha1(s.encode()).hexdigest()[:12]


def _sliders(page):
    """Every slider a reader can drag: HTML range inputs and ipywidgets' (noUiSlider) handles."""
    return [("range", el) for el in page.query_selector_all("article input[type=range]")] + \
           [("ipywidgets", el) for el in page.query_selector_all("article .widget-slider .noUi-handle")]


def _move(page, kind, el):
    el.scroll_into_view_if_needed()
    if kind == "range":
        el.evaluate("""(e) => { const n = Number(e.max) - Number(e.min);
            e.value = Number(e.value) > Number(e.min) + n / 2 ? Number(e.min) : Number(e.max);
            e.dispatchEvent(new Event('input', {bubbles: true}));
            e.dispatchEvent(new Event('change', {bubbles: true})); }""")
    else:
        el.focus()
        for key in ("Home", "ArrowRight", "ArrowRight", "ArrowRight"):
            el.press(key)
    page.wait_for_timeout(400)


def test_every_slider_changes_its_picture(reader):
    page = reader.page
    sliders = _sliders(page)
    dead = []
    for kind, el in sliders:
        before = _digest(el.evaluate(_PICTURE))
        _move(page, kind, el)
        after = _digest(el.evaluate(_PICTURE))
        if before == after:
            label = el.evaluate("e => (e.closest('.widget-slider, .frame-slider, .animation') || e).innerText")
            dead.append(f"{kind} slider {label.strip()[:60]!r}")
    assert not dead, f"sliders that change nothing: {dead}"


def test_every_play_control_animates(reader):
    page = reader.page
    buttons = page.query_selector_all("article button[title='Play'], article button[aria-label='Play']")
    still = []
    for button in buttons:
        button.scroll_into_view_if_needed()
        # rewind first: a slider test may have left the animation on its last frame
        button.evaluate("""b => { const box = b.closest('.cell_output') || b.parentElement;
            for (const r of box.querySelectorAll('input[type=range]')) {
              r.value = r.min; r.dispatchEvent(new Event('input', {bubbles: true})); } }""")
        page.wait_for_timeout(300)
        seen = {_digest(button.evaluate(_PICTURE))}
        button.click()
        for _ in range(8):           # sample while it plays: a short loop may wrap back to the start
            page.wait_for_timeout(150)
            seen.add(_digest(button.evaluate(_PICTURE)))
        pause = button.evaluate_handle("b => b.parentElement.querySelector(\"button[title='Pause']\")")
        if pause.as_element():
            pause.as_element().click()
        if len(seen) < 2:
            still.append(button.evaluate("b => b.outerHTML")[:80])
    assert not still, f"play buttons that animate nothing: {still}"


def test_every_solution_opens(reader):
    page = reader.page
    solutions = page.query_selector_all("article .solution.dropdown, article div.solution")
    for sol in solutions:
        sol.scroll_into_view_if_needed()
        toggle = sol.query_selector("button.toggle-button") or sol.query_selector(".admonition-title")
        assert toggle is not None, "a solution without a toggle"
        hidden_before = sol.evaluate("s => s.classList.contains('toggle-hidden')")
        toggle.click()
        page.wait_for_timeout(300)
        body = sol.query_selector(":scope > :not(.admonition-title):not(button)")
        assert hidden_before and body is not None and body.is_visible(), "a solution that does not open"


def test_math_is_typeset_and_nothing_is_raw(reader):
    page = reader.page
    name = page.url.rsplit("/", 1)[-1]
    n = page.eval_on_selector_all("article mjx-container", "els => els.length")
    raw = page.eval_on_selector_all(
        "article .math", "els => els.filter(e => !e.querySelector('mjx-container')).map(e => e.textContent)")
    assert raw == [], f"math left as TeX: {raw[:3]}"
    if name.removesuffix(".html") in NUMBERED:
        assert n > 0


def test_console_is_clean_and_nothing_leaves_localhost(reader):
    assert reader.foreign == [], f"requests to other hosts: {reader.foreign}"
    assert reader.errors == [], "\n".join(reader.errors)


def test_fast_build_says_so(reader):
    banner = reader.page.query_selector(".bd-header-announcement")
    text = banner.inner_text().lower() if banner is not None else ""
    if IS_FAST:
        assert "fast build" in text, "no fast-build banner"
    else:
        assert "fast build" not in text, "the full build must not carry the fast banner"


def test_nothing_runs_past_the_column(reader):
    page = reader.page
    wide = page.evaluate("""() => {
      const out = [];
      for (const e of document.querySelectorAll('article mjx-container[display=true], article pre')) {
        const box = e.closest('.math-wrapper, .highlight, .cell_output, .output') || e.parentElement;
        const scroller = e.tagName === 'PRE' ? e : box;
        if (scroller.scrollWidth > scroller.clientWidth + 2 || e.getBoundingClientRect().right >
            document.querySelector('article').getBoundingClientRect().right + 2)
          out.push(e.textContent.slice(0, 60));
      }
      return out; }""")
    assert wide == [], f"scrolls sideways: {wide}"


def test_figures_have_alt_text(reader):
    missing = reader.page.eval_on_selector_all(
        "article img", "els => els.filter(i => !(i.alt || '').trim() || /\\.png$/.test(i.alt)).map(i => i.src.slice(-50))")
    assert missing == [], f"images without alt text: {missing}"


def test_no_blank_output_gaps(reader):
    gaps = reader.page.eval_on_selector_all("article .cell_output", """els => els.filter(e => {
        const r = e.getBoundingClientRect();
        return r.height > 8 && !e.innerText.trim() && !e.querySelector('img, canvas, svg, input, mjx-container');
      }).map(e => e.outerHTML.slice(0, 120))""")
    assert gaps == [], f"blank outputs: {gaps}"


def test_chapters_and_exercises_are_numbered(reader):
    page = reader.page
    name = page.url.rsplit("/", 1)[-1].removesuffix(".html")
    if name not in NUMBERED:
        return
    title = page.inner_text("article h1")
    m = re.match(r"\s*(\d+)\.", title)
    assert m, f"chapter title without a number: {title!r}"
    chapter = m.group(1)
    labels = page.eval_on_selector_all("article .exercise .admonition-title, article .exercise p.admonition-title",
                                       "els => els.map(e => e.innerText)")
    for label in labels:
        assert re.search(rf"Exercise {chapter}\.\d+", label), f"exercise {label!r} in chapter {chapter}"


def test_tables_that_cells_display_render_as_tables(reader):
    """A Markdown table printed by a cell (``Markdown("| a | b |\\n|---|---|...")``) must be a table on the
    page, not a paragraph of pipes (myst-nb renders such output as CommonMark unless told otherwise)."""
    raw = reader.page.eval_on_selector_all(
        "article p, article li",
        r"els => els.filter(e => !e.closest('pre, code') && /\|\s*(?:-{3,}|\u2014|\u2013)\s*\|/.test(e.textContent))"
        r".map(e => e.textContent.slice(0, 80))")
    assert raw == [], f"Markdown tables shown as text: {raw}"


def test_no_raw_markup_or_citation_keys(reader):
    """Roles, directives and citation keys must render, never show as source text."""
    text = reader.page.inner_text("article")
    leftovers = re.findall(r"\{(?:cite|glue|doc|ref|literalinclude|numref)(?::[\w-]+)?\}`?[^`\s]*`?|```\{\w+\}", text)
    assert leftovers == [], leftovers
    keys = re.findall(r"@\w+\{([^,]+),", (ROOT / "book" / "references.bib").read_text())
    printed = [k for k in keys + ["dcgan-thesis-mnist-afhq"] if k in text]
    assert printed == [], f"raw citation keys in the text: {printed}"
