"""The "real or fake?" test (gan_lab.quiz): the Wilson interval, the trials, the score, and the
page version clicked in a real browser (Chromium through Playwright, from a file: no server, no
book build, no request may leave the page)."""
from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from gan_lab.quiz import (make_trials, nearest_neighbour_observer, observe, percent, real_or_fake, score,
                          score_row, wilson_interval)
from gan_lab.utils import GanLabError

CHROMIUM = next((p for p in ("/usr/bin/chromium", shutil.which("chromium") or "",
                             shutil.which("chromium-browser") or "") if p and Path(p).exists()), None)


# ---------------------------------------------------------------------------------------------
# the Wilson score interval
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("k, n, lo, hi", [
    # by hand from the formula with z = 1.95996: k = 0 gives (0, z^2 / (n + z^2)) = (0, 3.8415 / 13.8415)
    (0, 10, 0.0, 0.27753),
    (10, 10, 0.72247, 1.0),
    # p = 1/2: centre 1/2, half-width z / (1 + z^2/n) * sqrt(1/(4n) + z^2/(4n^2)) = 1.41600 * 0.18602
    (5, 10, 0.23659, 0.76341),
    # p = 0.05: centre (0.05 + 0.09604) / 1.19208 = 0.12251, half 1.64416 * 0.06911 = 0.11362
    (1, 20, 0.00888, 0.23613),
])
def test_wilson_interval_matches_hand_computed_values(k, n, lo, hi):
    got = wilson_interval(k, n)
    assert got == pytest.approx((lo, hi), abs=6e-5)


def test_wilson_interval_matches_scipy_and_behaves_like_an_interval():
    stats = pytest.importorskip("scipy.stats")
    for n in (1, 2, 7, 20, 64, 500):
        for k in range(0, n + 1, max(1, n // 9)):
            ci = stats.binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
            lo, hi = wilson_interval(k, n)
            assert (lo, hi) == pytest.approx((ci.low, ci.high), abs=1e-9), (k, n)
            assert 0.0 <= lo <= k / n <= hi <= 1.0
    # the width at p = 1/2 shrinks like 1 / sqrt(n): 4x the answers, half the width
    w = lambda n: np.diff(wilson_interval(n // 2, n))[0]
    assert w(400) / w(1600) == pytest.approx(2.0, rel=0.01)
    assert wilson_interval(0, 0) == (0.0, 1.0)
    for k, n in ((3, 2), (-1, 5)):
        with pytest.raises(GanLabError, match="0 <= k <= n"):
            wilson_interval(k, n)


def test_percent_rounds_half_up_like_the_page():
    assert percent(1 / 16) == "6.3 %"          # 6.25: Python's format alone would print 6.2
    assert percent(0.0) == "0.0 %" and percent(1.0) == "100.0 %" and percent(2 / 3) == "66.7 %"


# ---------------------------------------------------------------------------------------------
# the trials and the score
# ---------------------------------------------------------------------------------------------
def _sets(n_real=30, n_fake=30, size=8):
    """Real images: index i coded in the first pixel, value < 128; generated: >= 128."""
    real = torch.zeros(n_real, 1, size, size, dtype=torch.uint8)
    fake = torch.full((n_fake, 1, size, size), 200, dtype=torch.uint8)
    real[:, 0, 0, 0] = torch.arange(n_real)
    fake[:, 0, 0, 0] = 128 + torch.arange(n_fake)
    return real, fake


def _ids(trials):
    return [tuple(int(p[0, 0, 0]) for p in t.pixels) for t in trials]


def test_trials_are_seeded_counted_and_shuffled():
    real, fake = _sets()
    trials = make_trials(real, fake, n=21, seed=3)
    assert len(trials) == 21
    assert sum(t.real for t in trials) == 10 and sum(not t.real for t in trials) == 11
    for t in trials:                             # the key says what the pixels are
        assert t.real == (t.pixels[0][0, 0, 0] < 128)
    ids = [i for (i,) in _ids(trials)]
    assert len(set(ids)) == 21, "images are drawn without replacement"
    assert _ids(make_trials(real, fake, n=21, seed=3)) == _ids(trials), "same seed, same test"
    assert _ids(make_trials(real, fake, n=21, seed=4)) != _ids(trials)
    order = [t.real for t in trials]
    assert order != sorted(order) and order != sorted(order, reverse=True), "real and fake are mixed"
    # shown upscaled to at least 160 px: 8 px -> 20x
    from PIL import Image
    import base64
    import io
    assert Image.open(io.BytesIO(base64.b64decode(trials[0].png[0]))).size == (160, 160)
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(base64.b64decode(trials[0].png[0]))))[::20, ::20],
                          trials[0].pixels[0][0]), "the PNG shows the trial's pixels, upscaled"


def test_pairs_hold_one_real_and_one_generated_image_on_both_sides():
    real, fake = _sets()
    trials = make_trials(real, fake, n=20, seed=0, pairs=True)
    assert len(trials) == 20
    for t in trials:
        assert len(t.pixels) == 2 and t.real in (0, 1)
        assert t.pixels[t.real][0, 0, 0] < 128 <= t.pixels[1 - t.real][0, 0, 0]
    assert 0 < sum(t.real for t in trials) < 20, "the real image is sometimes left, sometimes right"


def test_bad_inputs_get_one_line_errors():
    real, fake = _sets(n_real=4)
    with pytest.raises(GanLabError, match="need 5 real images, got 4"):
        make_trials(real, fake, n=10)
    with pytest.raises(GanLabError, match="same shape"):
        make_trials(real, fake[:, :, :4, :4], n=4)
    with pytest.raises(GanLabError, match=r"\(N, C, H, W\)"):
        make_trials(real[:, 0], fake, n=4)
    with pytest.raises(GanLabError, match="at least 2"):
        make_trials(real, fake, n=1)
    with pytest.raises(GanLabError, match="answers for"):
        score(make_trials(real, fake, n=4), [True] * 5)


def test_score_counts_fakes_called_real():
    real, fake = _sets()
    trials = make_trials(real, fake, n=10, seed=1)
    key = [t.real for t in trials]
    right = score(trials, key)
    assert (right["fooled"], right["fakes"], right["correct"], right["fool_rate"], right["accuracy"]) == (0, 5, 10, 0, 1)
    assert right["fool_ci"] == pytest.approx(wilson_interval(0, 5))
    gullible = score(trials, [True] * 10)          # calls everything real
    assert (gullible["fooled"], gullible["reals_called_fake"], gullible["accuracy"]) == (5, 0, 0.5)
    assert gullible["fool_rate"] == 1.0
    partial = score(trials, [not k for k in key[:4]])   # four answers, all wrong
    assert partial["answered"] == 4 and partial["correct"] == 0
    assert partial["fooled"] == partial["fakes"] == sum(not k for k in key[:4])
    pairs = make_trials(real, fake, n=8, seed=2, pairs=True)
    wrong = score(pairs, [1 - t.real for t in pairs])
    assert (wrong["fooled"], wrong["fakes"], wrong["fool_rate"], wrong["accuracy"]) == (8, 8, 1.0, 0.0)
    row = score_row(wrong, "G", "toy", "me")
    assert row[:5] == ["G", "toy", "me", "8 of 8", "8 of 8"] and row[5] == "100.0 %"


def test_nearest_neighbour_observer_tells_separable_sets_apart_and_guesses_on_equal_ones():
    real, fake = _sets()
    judge = nearest_neighbour_observer(real[20:], fake[20:])     # references apart from the test's images
    trials = make_trials(real[:20], fake[:20], n=20, seed=0)
    assert score(trials, observe(trials, judge))["accuracy"] == 1.0
    pairs = make_trials(real[:20], fake[:20], n=10, seed=0, pairs=True)
    assert score(pairs, observe(pairs, judge))["fooled"] == 0
    # two halves of the same noise: the judge is right about as often as a coin
    gen = torch.Generator().manual_seed(0)
    noise = torch.randint(0, 256, (400, 1, 6, 6), generator=gen, dtype=torch.uint8)
    judge = nearest_neighbour_observer(noise[:100], noise[100:200])
    same = make_trials(noise[200:300], noise[300:], n=100, seed=0)
    lo, hi = score(same, observe(same, judge))["accuracy_ci"]
    assert lo < 0.5 < hi


# ---------------------------------------------------------------------------------------------
# the page version and the live version
# ---------------------------------------------------------------------------------------------
def test_page_version_is_self_contained_and_hides_the_key():
    real, fake = _sets()
    quiz = real_or_fake(real, fake, n=10, seed=0, model="G", data="toy")
    html = quiz.html()
    assert "://" not in re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "", html)
    assert "localStorage" not in html and "fetch(" not in html and "XMLHttpRequest" not in html
    visible = re.sub(r"<script.*?</script>|<style.*?</style>|<[^>]+>", " ", html, flags=re.S)
    assert "Real" in visible and "Fake" in visible and "Trial 1 of 10" in visible
    alts = re.findall(r'alt="([^"]*)"', html)
    assert alts and all("real or generated?" in a for a in alts), "alt text must not give the answer away"
    bundle = quiz._repr_mimebundle_()
    assert "text/html" in bundle and "application/vnd.jupyter.widget-view+json" not in bundle   # no kernel here


def test_live_widget_scores_clicks_with_the_same_rules(monkeypatch):
    pytest.importorskip("ipywidgets")
    import gan_lab.quiz as quiz_module

    real, fake = _sets()
    quiz = real_or_fake(real, fake, n=6, seed=0, model="G", data="toy")
    box = quiz.widget()
    real_button, fake_button, restart = box.children[2].children
    assert "Trial 1 of 6" in box.children[0].value
    for t in quiz.trials:                       # answer every trial right
        (real_button if t.real else fake_button).click()
    assert box.answers == quiz.key()
    table = box.children[3].value
    assert "0 of 3" in table and "100.0 %" in table and real_button.disabled
    assert box.children[4].value.count("<figure>") == 6       # the review shows every image
    restart.click()
    for _ in quiz.trials:
        real_button.click()
    assert "3 of 3" in box.children[3].value and "50.0 %" in box.children[3].value
    monkeypatch.setattr(quiz_module, "kernel_running", lambda: True)
    assert "application/vnd.jupyter.widget-view+json" in quiz._repr_mimebundle_()


# ---------------------------------------------------------------------------------------------
# in the browser
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def chromium():
    playwright = pytest.importorskip("playwright.sync_api")
    if CHROMIUM is None:
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield browser
        browser.close()


class Page:
    """The test's HTML as a file in a fresh browser context, with console errors and requests."""

    def __init__(self, browser, html: str, path: Path, clock: bool = False):
        path.write_text(f"<!doctype html><html><head><meta charset='utf-8'></head><body>{html}</body></html>")
        self.context = browser.new_context()
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))

        def route(r):
            url = r.request.url
            if url.startswith("data:") or url == path.as_uri():
                r.continue_()
            else:
                self.requests.append(url)
                r.abort()

        self.page.route("**/*", route)
        if clock:                       # the page's timers run only when the test advances this clock
            self.page.clock.install(time=0)
            self.page.clock.pause_at(1000)
        self.page.goto(path.as_uri(), wait_until="load")

    def row(self) -> list[str]:
        return [c.strip() for c in self.page.eval_on_selector_all(".rof-table tbody td", "cs => cs.map(c => c.textContent)")]

    def click(self, text: str):
        self.page.get_by_role("button", name=text, exact=True).click()

    def close(self):
        self.context.close()


def _faces(n=30, size=28, seed=0):
    """Noise images, float in [-1, 1]: the page does not care what the pictures are."""
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(n, 1, size, size, generator=gen) * 2 - 1


@pytest.mark.browser
@pytest.mark.slow
def test_clicks_in_the_browser_change_the_score(chromium, tmp_path):
    quiz = real_or_fake(_faces(seed=0), _faces(seed=1), n=10, seed=5, model="DCGAN", data="noise")
    page = Page(chromium, quiz.html(), tmp_path / "quiz.html")
    try:
        assert page.row() == score_row(quiz.score([]), "DCGAN", "noise", "you")
        assert page.row()[3:6] == ["0 of 10", "0 of 0", "–"]
        first = page.page.get_attribute(".rof-image", "src")
        key = quiz.key()
        # every answer right: fool rate 0 %, accuracy 100 %, the page's Wilson interval = Python's
        for i, real in enumerate(key):
            page.click("Real" if real else "Fake")
            assert page.row() == score_row(quiz.score(key[:i + 1]), "DCGAN", "noise", "you"), i
            if i == 0:
                assert page.page.get_attribute(".rof-image", "src") != first, "the next image is shown"
        assert page.row()[3:9] == ["10 of 10", "0 of 5", "0.0 %", score_row(quiz.score(key), "", "", "")[6],
                                   "100.0 %", score_row(quiz.score(key), "", "", "")[8]]
        assert page.page.is_disabled("button.rof-answer >> nth=0")
        assert page.page.locator(".rof-review figure").count() == 10
        # again, calling everything real: every fake fooled the judge
        page.click("Start again")
        assert page.row()[3] == "0 of 10" and page.page.locator(".rof-review figure").count() == 0
        for _ in key:
            page.click("Real")
        assert page.row()[4:6] == ["5 of 5", "100.0 %"] and page.row()[7] == "50.0 %"
        assert page.row() == score_row(quiz.score([True] * 10), "DCGAN", "noise", "you")
        # and calling everything fake: no fake fooled the judge, every real image was missed
        page.click("Start again")
        for _ in key:
            page.click("Fake")
        assert page.row()[4:6] == ["0 of 5", "0.0 %"] and page.row()[7] == "50.0 %"
        assert page.row() == score_row(quiz.score([False] * 10), "DCGAN", "noise", "you")
        assert page.errors == [] and page.requests == []
    finally:
        page.close()


@pytest.mark.browser
@pytest.mark.slow
def test_pairs_in_the_browser_score_picks_of_the_fake(chromium, tmp_path):
    quiz = real_or_fake(_faces(seed=2), _faces(seed=3), n=7, seed=1, pairs=True, model="G", data="noise")
    page = Page(chromium, quiz.html(), tmp_path / "pairs.html")
    try:
        assert page.page.locator(".rof-image").count() == 2
        answers = []
        for i, t in enumerate(quiz.trials):       # right on the even trials, fooled on the odd ones
            pick = t.real if i % 2 == 0 else 1 - t.real
            page.click("Left is real" if pick == 0 else "Right is real")
            answers.append(pick)
        assert page.row()[4:6] == ["3 of 7", percent(3 / 7)]
        assert page.row() == score_row(quiz.score(answers), "G", "noise", "you")
        assert page.page.locator(".rof-review figure").count() == 14
        assert page.errors == [] and page.requests == []
    finally:
        page.close()


@pytest.mark.browser
@pytest.mark.slow
def test_exposure_time_hides_the_images_until_the_next_trial(tmp_path, chromium):
    with pytest.raises(GanLabError, match="positive number of seconds"):
        real_or_fake(_faces(), _faces(seed=1), n=4, seconds=0)
    quiz = real_or_fake(_faces(seed=0), _faces(seed=1), n=4, seed=0, seconds=0.4)
    page = Page(chromium, quiz.html(), tmp_path / "brief.html", clock=True)
    visible = lambda: page.page.eval_on_selector(".rof-image", "i => getComputedStyle(i).visibility")
    try:
        assert "shown for 0.4 s" in page.page.inner_text(".rof-progress")
        page.page.clock.run_for(300)
        assert visible() == "visible"
        page.page.clock.run_for(200)
        assert visible() == "hidden"
        page.click("Real")                       # the next trial is shown, for 0.4 s again
        assert visible() == "visible" and "Trial 2 of 4" in page.page.inner_text(".rof-progress")
        page.page.clock.run_for(300)
        assert visible() == "visible"
        page.page.clock.run_for(200)
        assert visible() == "hidden"
        assert page.errors == [] and page.requests == []
    finally:
        page.close()


def test_live_widget_hides_the_images_after_the_exposure_time(monkeypatch):
    pytest.importorskip("ipywidgets")
    import threading

    timers = []

    class Timer:
        """A timer the test fires by hand."""

        def __init__(self, interval, function):
            self.interval, self.function, self.started, self.cancelled = interval, function, False, False
            timers.append(self)

        def start(self):
            self.started = True

        def cancel(self):
            self.cancelled = True

    monkeypatch.setattr(threading, "Timer", Timer)
    quiz = real_or_fake(_faces(seed=0), _faces(seed=1), n=4, seed=0, seconds=0.5)
    box = quiz.widget()
    image = box.children[1].children[0]
    assert "shown for 0.5 s" in box.children[0].value and image.layout.visibility == "visible"
    assert len(timers) == 1 and timers[0].interval == 0.5 and timers[0].started
    timers[0].function()
    assert image.layout.visibility == "hidden"
    box.children[2].children[0].click()           # answering shows the next trial and restarts the clock
    assert image.layout.visibility == "visible" and "Trial 2 of 4" in box.children[0].value
    assert timers[0].cancelled and len(timers) == 2 and timers[1].started
