"""The book builds, works offline and keeps its controls, checked in a real (headless) browser.

The browser tests build a one-page book with the repository's ``_config.yml`` (a figure, a
slider animation from ``gan_lab.viz``, an ipywidgets slider and some math), serve it on
127.0.0.1, open it in headless Chromium with a network log, and check that the math was typeset,
the widget was rendered by the locally served JavaScript, the animation's controls are there, no
asset is missing and the page asked nothing of any other host. If the fast book has been built
(``GAN_LAB_FAST=1 bash scripts/build_book.sh``), every chapter page gets the same network check.
"""
from __future__ import annotations

import functools
import http.server
import json
import re
import shutil
import subprocess
import threading
from pathlib import Path

import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FAST_BOOK = ROOT / "_build" / "fast" / "_build" / "html"
EXTERNAL = re.compile(r'<(?:script|link|img|iframe)\b[^>]*\b(?:src|href)="(?:https?:)?//[^"]*"', re.I)


# ---------------------------------------------------------------------------------------------
# configuration (no browser needed)
# ---------------------------------------------------------------------------------------------
def test_config_serves_every_script_locally():
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    sphinx = config["sphinx"]["config"]
    assert "://" not in sphinx["mathjax_path"]
    assert sphinx["nb_ipywidgets_js"], "the widget manager must be configured, or myst-nb uses its CDN default"
    assert all("://" not in src for src in sphinx["nb_ipywidgets_js"])
    assert "_vendor" in sphinx["html_static_path"]
    assert not (ROOT / "_static").exists(), "Jupyter Book would put every .js under _static/ on every page"
    assert config["execute"]["execute_notebooks"] == "cache"
    assert config["execute"]["allow_errors"] is False
    extensions = sphinx["extensions"]
    assert "sphinx_exercise" in extensions and "sphinxcontrib.bibtex" in extensions
    assert "sphinx_thebe" not in extensions, "thebe declares THEBE_JS_URL twice per page and points at a CDN"
    assert config["bibtex_bibfiles"] == ["book/references.bib"]
    assert (ROOT / "book" / "references.bib").is_file()
    # the static version of a gan_lab.book.explore control outranks its live widget in the HTML
    assert ["html", "application/vnd.jupyter.widget-view+json", 35] in sphinx["nb_mime_priority_overrides"]
    assert sphinx["html_context"]["default_mode"] in ("light", "dark", "auto")


def test_toc_numbers_the_chapters_and_lists_the_bibliography():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [ch["file"] for part in toc["parts"] for ch in part["chapters"]]
    assert "book/bibliography" in files
    for part in toc["parts"]:
        if any(ch["file"] != "book/bibliography" and not ch["file"].endswith("instructors") for ch in part["chapters"]):
            assert part.get("numbered") is True, part["caption"]


def test_toc_lists_existing_chapters_and_notebooks_have_no_outputs():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]] + [ch["file"] for part in toc["parts"] for ch in part["chapters"]]
    for name in files:
        matches = list(ROOT.glob(name + ".*"))
        assert matches, f"{name} is in _toc.yml but has no file"
        for path in matches:
            if path.suffix == ".ipynb":
                nb = nbformat.read(path, as_version=4)
                for cell in nb.cells:
                    if cell.cell_type == "code":
                        assert not cell.outputs and cell.execution_count is None, f"{path} is committed with outputs"


def test_bibliography_parses_and_holds_every_cited_key():
    """references.bib is valid BibTeX (a missing brace stops the whole build) and every {cite} role of
    every page names one of its entries, each entry once."""
    from pybtex.database import parse_string

    text = (ROOT / "book" / "references.bib").read_text()
    keys = re.findall(r"^@\w+\{([^,\s]+),", text, flags=re.M)
    assert len(keys) == len(set(keys)), sorted(k for k in keys if keys.count(k) > 1)
    entries = parse_string(text, "bibtex").entries          # raises on a syntax error
    assert sorted(entries) == sorted(keys)
    cited = set()
    for page in [*(ROOT / "book").glob("*.ipynb"), *(ROOT / "book").glob("*.md")]:
        for group in re.findall(r"\{cite(?::[a-z]+)?\}`([^`]+)`", page.read_text()):
            cited.update(key.strip() for key in group.split(","))
    assert cited and cited <= set(entries), sorted(cited - set(entries))


def test_external_reference_pattern_can_fail():
    assert EXTERNAL.search('<script src="https://cdn.jsdelivr.net/npm/x.js"></script>')
    assert EXTERNAL.search('<link rel="stylesheet" href="//maxcdn.bootstrapcdn.com/a.css">')
    assert not EXTERNAL.search('<script src="../_static/require.min.js"></script>')
    assert not EXTERNAL.search('<a href="https://arxiv.org/abs/1406.2661">paper</a>')


# ---------------------------------------------------------------------------------------------
# helpers for the browser checks
# ---------------------------------------------------------------------------------------------
class _Server:
    """A static file server on 127.0.0.1 that records every request path and status."""

    def __init__(self, directory: Path):
        self.requests: list[tuple[str, int]] = []
        outer = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def log_request(self, code="-", size="-"):
                outer.requests.append((self.path, int(code) if str(code).isdigit() else 0))

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                                     functools.partial(Handler, directory=str(directory)))
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def _open_in_chromium(url: str, workdir: Path) -> tuple[str, list[str]]:
    """Load ``url`` in headless Chromium; return the DOM after scripts ran, and the http(s) URLs
    the *page* requested (Chromium's own background requests have no page initiator)."""
    workdir.mkdir(parents=True, exist_ok=True)
    netlog = workdir / "net.json"
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", "--no-first-run",
           f"--user-data-dir={workdir / 'profile'}", f"--log-net-log={netlog}",
           "--virtual-time-budget=20000", "--dump-dom", url]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr[-2000:]
    log = json.loads(netlog.read_text())
    event_types = {v: k for k, v in log["constants"]["logEventTypes"].items()}
    page_requests = []
    for event in log["events"]:
        params = event.get("params") or {}
        if event_types.get(event["type"]) == "URL_REQUEST_START_JOB" and "url" in params:
            if params.get("initiator") not in (None, "not an origin"):
                page_requests.append(params["url"])
    return result.stdout, page_requests


def _foreign(urls: list[str]) -> list[str]:
    return [u for u in urls if re.match(r"https?://", u) and not u.startswith("http://127.0.0.1:")]


_PAGE = [
    ("md", "# Browser check\n\nInline math $D^*(x) = p_{data}(x) / (p_{data}(x) + p_g(x))$ and a display:\n\n"
           "$$V(D^*, G) = -\\log 4 + 2\\,\\mathrm{JSD}(p_{data} \\| p_g)$$"),
    ("code", "import numpy as np\nimport matplotlib.pyplot as plt\nfrom IPython.display import HTML, display\n"
             "from gan_lab import viz\nx = np.linspace(-3, 3, 100)\np = np.exp(-x**2 / 2) / np.sqrt(2 * np.pi)\n"
             "viz.density_1d(x, p, np.roll(p, 10), d=p / (p + np.roll(p, 10)))\nplt.show()"),
    ("code", "frames = [{'step': s, 'p_g': np.roll(p, 10 - 2 * s), 'd': np.full(100, 0.5)} for s in range(4)]\n"
             "display(HTML(viz.density_1d_animation(x, p, frames)))"),
    ("code", "import ipywidgets as widgets\nwidgets.IntSlider(value=3, min=0, max=9, description='snapshot')"),
]


@pytest.fixture(scope="module")
def small_book(tmp_path_factory):
    if CHROMIUM is None:
        pytest.skip("headless Chromium is not installed (apt-get install chromium)")
    if shutil.which("jupyter-book") is None:
        pytest.skip("jupyter-book is not installed")
    if not (ROOT / "_vendor" / "require.min.js").exists():
        if shutil.which("npm") is None:
            pytest.skip("npm is needed to fetch the page assets")
        subprocess.run(["bash", str(ROOT / "scripts" / "build_book.sh"), "assets"], check=True, cwd=ROOT,
                       capture_output=True, timeout=600)
    src = tmp_path_factory.mktemp("book")
    shutil.copy(ROOT / "_config.yml", src / "_config.yml")
    shutil.copytree(ROOT / "_vendor", src / "_vendor")
    (src / "book").mkdir()
    shutil.copy(ROOT / "book" / "references.bib", src / "book" / "references.bib")   # bibtex_bibfiles
    (src / "_toc.yml").write_text("format: jb-book\nroot: page\n")
    cells = [nbformat.v4.new_markdown_cell(s) if kind == "md" else nbformat.v4.new_code_cell(s) for kind, s in _PAGE]
    nb = nbformat.v4.new_notebook(cells=cells, metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                                        "language": "python"}})
    nbformat.write(nb, src / "page.ipynb")
    result = subprocess.run(["jupyter-book", "build", str(src), "-W", "--keep-going"], capture_output=True,
                            text=True, timeout=900, cwd=src, env={**__import__("os").environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return src / "_build" / "html"


# ---------------------------------------------------------------------------------------------
# browser checks
# ---------------------------------------------------------------------------------------------
@pytest.mark.browser
@pytest.mark.slow
def test_network_check_can_fail(tmp_path):
    """Control: a page that loads a script from a CDN is caught by the same check."""
    if CHROMIUM is None:
        pytest.skip("headless Chromium is not installed (apt-get install chromium)")
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "index.html").write_text(
        '<html><body><script src="https://cdn.jsdelivr.net/npm/requirejs@2.3.6/require.js"></script>hi</body></html>')
    with _Server(tmp_path / "site") as server:
        _, requests = _open_in_chromium(server.base + "/index.html", tmp_path / "chromium")
    assert any("cdn.jsdelivr.net" in u for u in _foreign(requests))


@pytest.mark.browser
@pytest.mark.slow
def test_small_book_renders_offline_in_chromium(small_book, tmp_path):
    html_path = small_book / "page.html"
    html = html_path.read_text()
    assert not EXTERNAL.findall(html), EXTERNAL.findall(html)
    with _Server(small_book) as server:
        dom, requests = _open_in_chromium(server.base + "/page.html", tmp_path / "chromium")
        served = list(server.requests)
    assert _foreign(requests) == [], f"the page asked other hosts for {_foreign(requests)}"
    missing = [path for path, code in served if code >= 400 and path != "/favicon.ico"]
    assert missing == [], f"assets missing from the build: {missing}"
    assert any("embed-amd.js" in path for path, _ in served), "the widget manager was not loaded from the book"
    assert any("tex-chtml.js" in path for path, _ in served), "MathJax was not loaded from the book"
    # math typeset by MathJax
    assert dom.count("<mjx-container") >= 2
    # the static figure and the animation (frames, slider, buttons)
    assert re.search(r'<img[^>]+src="[^"]*\.png"', dom)
    assert "anim-slider" in dom and 'type="range"' in dom and "Play" in dom
    # the ipywidgets slider rendered from the embedded state by the local widget manager
    assert "widget-slider" in dom and "snapshot" in dom


FAST_PAGES = sorted(FAST_BOOK.glob("book/*.html")) if FAST_BOOK.exists() else []
#: pages of prose without computed figures: the introduction, the instructors' page, the references
TEXT_PAGES = ("intro", "instructors", "bibliography")


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.skipif(not FAST_PAGES, reason="the fast book is not built (GAN_LAB_FAST=1 bash scripts/build_book.sh)")
@pytest.mark.parametrize("page", FAST_PAGES, ids=[p.stem for p in FAST_PAGES])
def test_built_chapter_is_offline_and_complete(page, tmp_path):
    if CHROMIUM is None:
        pytest.skip("headless Chromium is not installed")
    html = page.read_text()
    assert not EXTERNAL.findall(html), EXTERNAL.findall(html)
    with _Server(FAST_BOOK) as server:
        dom, requests = _open_in_chromium(f"{server.base}/book/{page.name}", tmp_path / "chromium")
        served = list(server.requests)
    assert _foreign(requests) == []
    assert [p for p, code in served if code >= 400 and p != "/favicon.ico"] == []
    if page.stem not in TEXT_PAGES:
        assert dom.count("<mjx-container") > 0
        assert re.search(r'<img[^>]+src="[^"]*\.png"', dom), "a chapter without a figure"


# ---------------------------------------------------------------------------------------------
# gan_lab.book's page helpers (no browser needed)
# ---------------------------------------------------------------------------------------------
def test_explore_renders_every_combination_and_drives_them_from_the_page():
    import base64

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from gan_lab.book import explore
    from gan_lab.utils import GanLabError

    drawn = []

    def render(a, b):
        drawn.append((a, b))
        fig, ax = plt.subplots(figsize=(2, 1))
        ax.plot([0, 1], [a, b])
        return fig

    control = explore(render, {"a": [0, 1, 2], "b": [0.5, 1.5]}, value={"a": 1}, alt="two numbers")
    frames = control.frames()
    assert drawn == [(a, b) for a in (0, 1, 2) for b in (0.5, 1.5)]          # the last one varies fastest
    assert len(set(frames)) == 6 and all(base64.b64decode(f)[:4] == b"\x89PNG" for f in frames)
    html = control.html()
    assert html.count('type="range"') == 2 and 'title="Play"' in html and 'alt="two numbers"' in html
    assert f'src="data:image/png;base64,{frames[2]}"' in html                   # starts at a=1, b=0.5
    assert "://" not in html.replace("data:image/png;base64,", "")              # nothing fetched
    bundle = control._repr_mimebundle_()
    assert "text/html" in bundle and "application/vnd.jupyter.widget-view+json" not in bundle   # no kernel here
    assert not plt.get_fignums(), "explore must close the figures it rendered"
    with pytest.raises(GanLabError, match="not one of its values"):
        explore(render, {"a": [0, 1]}, value={"a": 5}, alt="x")
    with pytest.raises(GanLabError, match="at least one"):
        explore(render, {"a": []}, alt="x")


def test_readable_figures_keep_the_smallest_text_legible():
    """An 11-inch-wide figure shrunk to the ~730 px text column keeps its smallest text at 10 px."""
    import matplotlib

    from gan_lab.book import readable_figures

    with matplotlib.rc_context():
        readable_figures()
        rc = matplotlib.rcParams
        sizes = [rc["legend.fontsize"], rc["xtick.labelsize"], rc["ytick.labelsize"], rc["font.size"]]
        smallest_pt = min(s if isinstance(s, (int, float)) else rc["font.size"] * 0.833 for s in sizes)
    assert smallest_pt / 72 * 730 / 11 >= 10


def test_show_source_and_with_alt():
    from gan_lab import losses
    from gan_lab.book import show_source, with_alt

    md = show_source(losses.d_loss_minimax).data
    assert md.startswith("```python\n# gan_lab/losses.py\ndef d_loss_minimax(") and md.endswith("```")
    assert "{literalinclude}" not in md
    html = with_alt('<div><img id="_anim_img1"></div>', 'a "moving" picture')
    assert '<img alt="a &quot;moving&quot; picture" id="_anim_img1">' in html


@pytest.mark.browser
@pytest.mark.slow
def test_small_book_console_is_clean_with_a_live_widget(small_book):
    """The ipywidgets embed manager typesets with MathJax 2's API while the book loads MathJax 3;
    widgets-config.js maps the call. A page with a rendered widget and math has no console error."""
    playwright = pytest.importorskip("playwright.sync_api")
    errors = []
    with _Server(small_book) as server, playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page()
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.route("**/favicon.ico", lambda r: r.fulfill(status=204))    # the browser's own request
        page.goto(server.base + "/page.html", wait_until="load")
        page.wait_for_selector(".widget-slider", timeout=20_000)
        page.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise")
        page.evaluate("() => MathJax.startup.promise")
        page.wait_for_timeout(1000)
        has_hub = page.evaluate("() => typeof (MathJax.Hub && MathJax.Hub.Queue) === 'function'")
        browser.close()
    assert errors == [], errors
    assert has_hub


def test_explore_live_sliders_match_the_values():
    pytest.importorskip("ipywidgets")
    import numpy as np

    from gan_lab.book import _slider_widget

    assert type(_slider_widget(list(range(1, 4)), 2, "scale")).__name__ == "IntSlider"
    assert type(_slider_widget([np.int64(0), np.int64(1)], 0, "i")).__name__ == "IntSlider"
    f = _slider_widget([-0.5, -0.25, 0.0, 0.25], 0.0, "theta")
    assert type(f).__name__ == "FloatSlider" and (f.min, f.max, f.step, f.value) == (-0.5, 0.25, 0.25, 0.0)
    assert type(_slider_widget([1, 2, 4], 2, "k")).__name__ == "SelectionSlider"


def test_explore_offers_the_live_widget_next_to_the_static_page_in_a_kernel(monkeypatch):
    pytest.importorskip("ipywidgets")
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    import gan_lab.book as book

    def render(k):
        fig, ax = plt.subplots(figsize=(2, 1))
        ax.set_title(str(k))
        return fig

    monkeypatch.setattr(book, "kernel_running", lambda: True)
    bundle = book.explore(render, {"k": [1, 2, 3]}, alt="k")._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle and "text/html" in bundle
    plt.close("all")


def test_static_controls_switch_turns_the_live_widget_off(monkeypatch):
    """The build script sets GAN_LAB_STATIC_CONTROLS=1: inside a kernel, explore() then makes no live widget."""
    import sys
    import types

    pytest.importorskip("ipywidgets")
    from gan_lab import book

    monkeypatch.setitem(sys.modules, "ipykernel", sys.modules.get("ipykernel") or types.ModuleType("ipykernel"))
    monkeypatch.setattr("IPython.get_ipython", lambda: types.SimpleNamespace(kernel=object()))
    monkeypatch.delenv("GAN_LAB_STATIC_CONTROLS", raising=False)
    assert book.kernel_running()
    monkeypatch.setenv("GAN_LAB_STATIC_CONTROLS", "1")
    assert not book.kernel_running()
