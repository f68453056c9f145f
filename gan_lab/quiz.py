""""Real or fake?": a human test of a generator, in the rendered book and live in Jupyter.

The DNFM-GAN thesis (``li2024dnfm``, its Table 4.10) scores four generators by an Amazon
Mechanical Turk study: people are shown images and asked whether each is real. This module
puts the same test in the reader's hands::

    from gan_lab.quiz import real_or_fake
    real_or_fake(real_images, fake_images, n=20, seed=0)             # one image at a time
    real_or_fake(real_images, fake_images, n=10, seed=0, pairs=True) # which of the two is real?

One Python description of the trials (:func:`make_trials`: which images, in which shuffled
order, which are real) feeds two views. In the rendered book a few lines of plain JavaScript
show the trials, take the clicks and keep the score: the images are PNG data URIs inside the
page, nothing is fetched or stored, and the answer key is only read after an answer. In
Jupyter the same trials drive an ipywidgets version (buttons, image, label) scored by
:func:`score`. The book's ``_config.yml`` ranks ``text/html`` above widget views, so the page
shows the kernel-free version (as for :func:`gan_lab.book.explore`).

The score is the generator's **fool rate**: the share of generated images the judge called real
(in pairs: the share of pairs where the judge picked the generated image). 50 % means the judge
cannot tell generated from real images; 0 % means every fake was caught. Each rate comes with a
95 % Wilson score interval (Wilson, 1927), which stays inside [0, 1] and keeps its coverage
at the few tens of answers a reader gives (Brown, Cai & DasGupta, 2001).
"""
from __future__ import annotations

import base64
import functools
import html as html_lib
import io
import json
import math
import uuid
from dataclasses import dataclass

import numpy as np
import torch

from gan_lab.book import kernel_running
from gan_lab.data import to_uint8
from gan_lab.utils import GanLabError

#: the 97.5 % quantile of the standard normal distribution (a two-sided 95 % interval)
Z95 = 1.959963984540054


def wilson_interval(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    r"""The Wilson score interval for a proportion: ``k`` successes in ``n`` trials.

    .. math::
        \frac{\hat p + \frac{z^2}{2n}}{1 + \frac{z^2}{n}} \pm
        \frac{z}{1 + \frac{z^2}{n}} \sqrt{\frac{\hat p (1 - \hat p)}{n} + \frac{z^2}{4 n^2}},
        \qquad \hat p = k / n

    (Wilson, 1927). Unlike the textbook interval :math:`\hat p \pm z \sqrt{\hat p(1-\hat p)/n}`
    it never leaves [0, 1] and has a width at ``k = 0`` or ``k = n``. With ``n = 0`` nothing is
    known: ``(0.0, 1.0)``.
    """
    if n < 0 or k < 0 or k > n:
        raise GanLabError(f"a proportion needs 0 <= k <= n, got k={k}, n={n}")
    if n == 0:
        return 0.0, 1.0
    p = k / n
    shrink = 1.0 + z * z / n                                   # the denominator of both terms
    centre = (p + z * z / (2 * n)) / shrink                    # pulled from p towards 1/2
    half = z / shrink * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    # at k = 0 (k = n) the bound is exactly 0 (1): no rounding residue of centre - half
    return (0.0 if k == 0 else centre - half), (1.0 if k == n else centre + half)


def percent(x: float) -> str:
    """``x`` (a share) as a percentage with one decimal, rounded half up, as the page's
    JavaScript prints it (``Math.round(x * 1000) / 10``), so both views show the same digits."""
    return f"{math.floor(x * 1000 + 0.5) / 10:.1f} %"


@dataclass(frozen=True, eq=False)
class Trial:
    """One question: one image (``real`` is True or False) or a pair (``real`` is the index of
    the real image, 0 = left). ``pixels`` are the images as uint8 arrays (C, H, W) at their own
    size; :attr:`png` the PNGs (base64) that are shown, ``scale`` times larger."""

    pixels: tuple[np.ndarray, ...]
    real: bool | int
    scale: int = 1

    @functools.cached_property
    def png(self) -> tuple[str, ...]:
        """The shown images, encoded when first asked for (a judge's long test never is)."""
        return tuple(_png(x, self.scale) for x in self.pixels)


def _as_uint8(images, name: str) -> np.ndarray:
    """Images (N, C, H, W) as uint8: a float tensor/array in [-1, 1] or uint8 already."""
    if isinstance(images, np.ndarray):
        images = torch.from_numpy(images)
    if not isinstance(images, torch.Tensor):
        raise GanLabError(f"{name} must be a tensor or array of images (N, C, H, W), got {type(images).__name__}")
    if images.ndim != 4 or images.shape[1] not in (1, 3):
        raise GanLabError(f"{name} must have the shape (N, C, H, W) with 1 or 3 channels, got {tuple(images.shape)}")
    if images.dtype == torch.uint8:
        return images.cpu().numpy()
    if not images.is_floating_point():
        raise GanLabError(f"{name} must be uint8 or float in [-1, 1], got {images.dtype}")
    return to_uint8(images.cpu()).numpy()


def _png(pixels: np.ndarray, scale: int) -> str:
    """A uint8 image (C, H, W) upscaled ``scale`` times (nearest neighbour), as base64 PNG."""
    from PIL import Image

    big = pixels.repeat(scale, axis=1).repeat(scale, axis=2)
    array = big[0] if big.shape[0] == 1 else big.transpose(1, 2, 0)
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(array)).save(buffer, format="PNG", optimize=True)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def make_trials(real_images, fake_images, n: int = 20, seed: int = 0, pairs: bool = False,
                scale: int | None = None) -> list[Trial]:
    """The trials of one test, in the order they are shown.

    Single images: ``n`` trials, ``n // 2`` real and ``n - n // 2`` generated, drawn without
    replacement from the two sets and shuffled together. Pairs: ``n`` trials, each a real and a
    generated image, the real one on the left or right at random. Everything depends only on
    ``seed``. ``scale`` enlarges the shown images (default: to at least 160 pixels, so that the
    page shows them pixel for pixel, without the blur of a browser's scaling).
    """
    real, fake = _as_uint8(real_images, "real_images"), _as_uint8(fake_images, "fake_images")
    if real.shape[1:] != fake.shape[1:]:
        raise GanLabError(f"real and generated images must have the same shape, got {real.shape[1:]} "
                          f"and {fake.shape[1:]}: resize one set")
    if n < 2:
        raise GanLabError(f"a test needs at least 2 trials, got n={n}")
    n_real, n_fake = (n, n) if pairs else (n // 2, n - n // 2)
    for name, have, need in (("real", len(real), n_real), ("generated", len(fake), n_fake)):
        if have < need:
            raise GanLabError(f"{n} trials need {need} {name} images, got {have}: pass more or lower n")
    scale = scale or max(1, math.ceil(160 / real.shape[-1]))
    rng = np.random.default_rng(seed)
    pick_real = real[rng.choice(len(real), n_real, replace=False)]
    pick_fake = fake[rng.choice(len(fake), n_fake, replace=False)]
    if pairs:
        left_is_real = rng.random(n) < 0.5
        trials = []
        for r, f, left in zip(pick_real, pick_fake, left_is_real):
            shown = (r, f) if left else (f, r)
            trials.append(Trial(shown, 0 if left else 1, scale))
        return trials
    items = [(x, True) for x in pick_real] + [(x, False) for x in pick_fake]
    order = rng.permutation(len(items))
    return [Trial((items[i][0],), items[i][1], scale) for i in order]


def score(trials: list[Trial], answers: list) -> dict:
    """The score of ``answers`` to the first ``len(answers)`` trials.

    An answer is ``True`` ("real") or ``False`` ("fake") for a single image, and the index of
    the image called real (0 left, 1 right) for a pair. Returned: the counts, the fool rate
    (generated images called real, or pairs where the generated image was picked) and the
    accuracy, each with its 95 % Wilson interval.
    """
    if len(answers) > len(trials):
        raise GanLabError(f"{len(answers)} answers for {len(trials)} trials")
    pairs = len(trials[0].pixels) == 2 if trials else False
    fakes = fooled = reals = reals_missed = correct = 0
    for trial, answer in zip(trials, answers):
        if pairs:
            fakes += 1
            hit = int(answer) == trial.real
            fooled += not hit
        elif trial.real:
            reals += 1
            hit = bool(answer)
            reals_missed += not hit
        else:
            fakes += 1
            hit = not answer
            fooled += not hit
        correct += hit
    answered = len(answers)
    return {"trials": len(trials), "answered": answered, "fakes": fakes, "fooled": fooled,
            "reals": reals, "reals_called_fake": reals_missed, "correct": correct,
            "fool_rate": fooled / fakes if fakes else float("nan"), "fool_ci": wilson_interval(fooled, fakes),
            "accuracy": correct / answered if answered else float("nan"),
            "accuracy_ci": wilson_interval(correct, answered)}


def observe(trials: list[Trial], observer) -> list:
    """The answers of an automatic judge: ``observer(images)`` takes a uint8 array (B, C, H, W)
    and returns one "realness" score per image. A single image is called real when its score
    is above 0; of a pair, the image with the higher score (the left one on a tie)."""
    answers = []
    for trial in trials:
        s = np.asarray(observer(np.stack(trial.pixels)), dtype=float).reshape(-1)
        answers.append(int(s[1] > s[0]) if len(trial.pixels) == 2 else bool(s[0] > 0))
    return answers


def nearest_neighbour_observer(real_reference, fake_reference):
    """A judge that has seen labelled examples: an image is as real as it is closer to its
    nearest real reference image than to its nearest generated one (Euclidean distance between
    pixels). Score = distance to the nearest generated image - distance to the nearest real one.
    The references must not contain the test's images (the 1-nearest-neighbour two-sample test)."""
    real = torch.from_numpy(_as_uint8(real_reference, "real_reference")).flatten(1).float()
    fake = torch.from_numpy(_as_uint8(fake_reference, "fake_reference")).flatten(1).float()
    if real.shape[1] != fake.shape[1]:
        raise GanLabError("the real and generated reference images must have the same shape")

    def judge(images: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(np.ascontiguousarray(images)).flatten(1).float()
        if x.shape[1] != real.shape[1]:
            raise GanLabError(f"the judge knows images of {real.shape[1]} values, got {x.shape[1]}")
        return (torch.cdist(x, fake).min(1).values - torch.cdist(x, real).min(1).values).numpy()

    return judge


#: the columns of the score table (the layout of the thesis's Table 4.10: one row per model and
#: data set, here with the number of answers and the interval beside each rate)
COLUMNS = ("Model", "Data", "Judge", "Answered", "Fooled", "Fool rate", "95 % CI", "Accuracy", "95 % CI")


def score_row(result: dict, model: str, data: str, judge: str) -> list[str]:
    """One row of the score table, as text (the page's JavaScript builds the same cells)."""
    lo, hi = result["fool_ci"]
    alo, ahi = result["accuracy_ci"]
    fool = percent(result["fool_rate"]) if result["fakes"] else "–"
    acc = percent(result["accuracy"]) if result["answered"] else "–"
    return [model, data, judge, f"{result['answered']} of {result['trials']}", f"{result['fooled']} of {result['fakes']}",
            fool, _range(lo, hi), acc, _range(alo, ahi)]


def _range(lo: float, hi: float) -> str:
    """An interval as ``"5.7–51.0 %"``."""
    return f"{percent(lo)[:-2]}–{percent(hi)}"


def score_table(rows: list[list[str]]) -> str:
    """An HTML table of :func:`score_row` rows."""
    head = "".join(f"<th>{html_lib.escape(c)}</th>" for c in COLUMNS)
    body = "".join("<tr>" + "".join(f"<td>{html_lib.escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f'<table class="rof-table"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def results(rows: list[list[str]]):
    """The score table of ``rows`` (:func:`score_row`) for a notebook cell, styled like the test's."""
    from IPython.display import HTML

    return HTML(f'<div class="real-or-fake">{_STYLE}{score_table(rows)}</div>')


_STYLE = """<style>
.real-or-fake { margin: 0.5em 0 1em; max-width: 100%; }
.real-or-fake .rof-images { display: flex; gap: 1em; margin: 0.4em 0; }
.real-or-fake .rof-images img { max-width: 100%; height: auto; image-rendering: pixelated; border: 1px solid #999; }
.real-or-fake .rof-buttons { display: flex; gap: 0.6em; flex-wrap: wrap; margin: 0.4em 0; }
.real-or-fake button { min-width: 6em; padding: 0.3em 0.8em; cursor: pointer; }
.real-or-fake button:disabled { cursor: default; opacity: 0.5; }
.real-or-fake .rof-table { font-size: 0.85em; border-collapse: collapse; margin: 0.5em 0; display: block; overflow-x: auto; max-width: 100%; }
.real-or-fake .rof-table th, .real-or-fake .rof-table td { padding: 0.15em 0.5em; border-bottom: 1px solid #ccc; text-align: left; }
.real-or-fake .rof-table td:nth-child(n+4) { white-space: nowrap; }
.real-or-fake .rof-review { display: flex; flex-wrap: wrap; gap: 0.4em; }
.real-or-fake .rof-review figure { margin: 0; font-size: 0.75em; text-align: center; }
.real-or-fake .rof-review img { width: 56px; height: 56px; image-rendering: pixelated; }
</style>"""


class RealOrFake:
    """A "real or fake?" test: the trials and how to show them (made by :func:`real_or_fake`).

    Displayed, it offers ``text/html`` (the kernel-free page version) and, inside a running
    Jupyter kernel, the live ipywidgets version; both score with the rules of :func:`score`.
    """

    def __init__(self, trials: list[Trial], model: str, data: str, judge: str, seconds: float | None = None):
        self.trials, self.model, self.data, self.judge = trials, model, data, judge
        self.seconds = seconds      # how long each trial's images stay visible (None: until answered)

    @property
    def pairs(self) -> bool:
        return len(self.trials[0].pixels) == 2

    def key(self) -> list:
        """The right answers, in the form :func:`score` takes them."""
        return [t.real for t in self.trials]

    def score(self, answers: list) -> dict:
        return score(self.trials, answers)

    def row(self, answers: list, judge: str | None = None) -> list[str]:
        return score_row(self.score(answers), self.model, self.data, judge or self.judge)

    def _question(self) -> str:
        question = "Which of the two images is real?" if self.pairs else "Is this image real or generated?"
        return question + (f" (shown for {self.seconds:g} s)" if self.seconds else "")

    def html(self) -> str:
        uid = "rof-" + uuid.uuid4().hex[:12]
        labels = ("Left is real", "Right is real") if self.pairs else ("Real", "Fake")
        n_img = 2 if self.pairs else 1
        where = ("Left image", "Right image") if self.pairs else ("Image",)
        imgs = "".join(f'<img class="rof-image" alt="{where[i]} of trial 1: real or generated?" '
                       f'src="data:image/png;base64,{self.trials[0].png[i]}">' for i in range(n_img))
        data = json.dumps({"images": [list(t.png) for t in self.trials], "model": self.model, "data": self.data,
                           "judge": self.judge, "pairs": self.pairs, "z": Z95, "seconds": self.seconds,
                           "question": self._question()})
        # the answer key travels apart from the images, as numbers, and is read only to score an answer
        key = json.dumps([int(t.real) for t in self.trials])
        buttons = "".join(f'<button type="button" class="rof-answer" data-answer="{a}">{html_lib.escape(lab)}</button>'
                          for a, lab in zip(((0, 1) if self.pairs else (1, 0)), labels))
        empty = score_row(self.score([]), self.model, self.data, self.judge)
        return f"""<div class="real-or-fake" id="{uid}">{_STYLE}
<p class="rof-progress" aria-live="polite">{html_lib.escape(self._question())} Trial 1 of {len(self.trials)}.</p>
<div class="rof-images">{imgs}</div>
<div class="rof-buttons">{buttons}<button type="button" class="rof-restart">Start again</button></div>
<div class="rof-score">{score_table([empty])}</div>
<div class="rof-review"></div>
<script type="application/json" class="rof-data">{data}</script>
<script type="application/json" class="rof-key">{key}</script>
<script>
(function () {{
  var root = document.getElementById("{uid}");
  if (!root || root.dataset.ready) return;
  root.dataset.ready = "1";
  var data = JSON.parse(root.querySelector(".rof-data").textContent);
  var key = function () {{ return JSON.parse(root.querySelector(".rof-key").textContent); }};
  var n = data.images.length, answers = [];
  var imgs = root.querySelectorAll(".rof-image");
  var progress = root.querySelector(".rof-progress");
  var answerButtons = root.querySelectorAll(".rof-answer");
  var question = data.question, timer = null;
  function pct(x) {{ return (Math.round(x * 1000) / 10).toFixed(1) + " %"; }}
  function range(ci) {{ return pct(ci[0]).slice(0, -2) + "\\u2013" + pct(ci[1]); }}
  function wilson(k, m) {{
    if (m === 0) return [0, 1];
    var z = data.z, p = k / m, shrink = 1 + z * z / m;
    var centre = (p + z * z / (2 * m)) / shrink;
    var half = z / shrink * Math.sqrt(p * (1 - p) / m + z * z / (4 * m * m));
    return [k === 0 ? 0 : centre - half, k === m ? 1 : centre + half];
  }}
  function cell(tag, text) {{ var c = document.createElement(tag); c.textContent = text; return c; }}
  function score() {{
    var truth = key(), fakes = 0, fooled = 0, correct = 0;
    for (var i = 0; i < answers.length; i++) {{
      var hit;
      if (data.pairs) {{ fakes++; hit = answers[i] === truth[i]; if (!hit) fooled++; }}
      else if (truth[i] === 1) {{ hit = answers[i] === 1; }}
      else {{ fakes++; hit = answers[i] === 0; if (!hit) fooled++; }}
      if (hit) correct++;
    }}
    var f = wilson(fooled, fakes), a = wilson(correct, answers.length);
    var row = [data.model, data.data, data.judge, answers.length + " of " + n, fooled + " of " + fakes,
               fakes ? pct(fooled / fakes) : "\\u2013", range(f),
               answers.length ? pct(correct / answers.length) : "\\u2013", range(a)];
    var tr = root.querySelector(".rof-table tbody tr");
    tr.innerHTML = "";
    row.forEach(function (t) {{ tr.appendChild(cell("td", t)); }});
  }}
  function review() {{
    var truth = key(), box = root.querySelector(".rof-review");
    box.innerHTML = "";
    for (var i = 0; i < n; i++) {{
      for (var j = 0; j < data.images[i].length; j++) {{
        var real = data.pairs ? truth[i] === j : truth[i] === 1;
        var said = data.pairs ? answers[i] === j : answers[i] === 1;
        var fig = document.createElement("figure"), img = document.createElement("img");
        img.src = "data:image/png;base64," + data.images[i][j];
        img.alt = "Trial " + (i + 1) + ": " + (real ? "a real" : "a generated") + " image, called " +
                  (said ? "real" : "generated");
        fig.appendChild(img);
        fig.appendChild(cell("figcaption", (i + 1) + ": " + (real ? "real" : "fake") +
                             (real === said ? " \\u2713" : " \\u2717")));
        box.appendChild(fig);
      }}
    }}
  }}
  function show() {{
    var done = answers.length >= n;
    clearTimeout(timer);
    answerButtons.forEach(function (b) {{ b.disabled = done; }});
    if (done) {{
      progress.textContent = "Done: " + n + " answers. The images, with the truth (\\u2713 right, \\u2717 wrong):";
      root.querySelector(".rof-images").style.display = "none";
      review();
      return;
    }}
    root.querySelector(".rof-images").style.display = "";
    root.querySelector(".rof-review").innerHTML = "";
    progress.textContent = question + " Trial " + (answers.length + 1) + " of " + n + ".";
    for (var j = 0; j < imgs.length; j++) {{
      imgs[j].src = "data:image/png;base64," + data.images[answers.length][j];
      imgs[j].alt = (data.pairs ? (j === 0 ? "Left" : "Right") + " image of trial " : "Image of trial ") +
                    (answers.length + 1) + ": real or generated?";
      imgs[j].style.visibility = "visible";
    }}
    if (data.seconds) {{
      timer = setTimeout(function () {{
        for (var j = 0; j < imgs.length; j++) imgs[j].style.visibility = "hidden";
      }}, data.seconds * 1000);
    }}
  }}
  answerButtons.forEach(function (b) {{
    b.addEventListener("click", function () {{
      if (answers.length >= n) return;
      answers.push(Number(b.dataset.answer));
      score();
      show();
    }});
  }});
  root.querySelector(".rof-restart").addEventListener("click", function () {{ answers = []; score(); show(); }});
  show();
}})();
</script>
</div>"""

    def widget(self):
        """The live ipywidgets version (needs a kernel): image(s), buttons, the score table."""
        import threading

        import ipywidgets as widgets

        answers: list = []
        n = len(self.trials)
        progress = widgets.HTML()
        images = [widgets.Image(format="png") for _ in self.trials[0].pixels]
        labels = ("Left is real", "Right is real") if self.pairs else ("Real", "Fake")
        values = (0, 1) if self.pairs else (True, False)
        buttons = [widgets.Button(description=lab) for lab in labels]
        restart = widgets.Button(description="Start again")
        table = widgets.HTML()
        review = widgets.HTML()
        timer: list = []

        def hide():
            for im in images:
                im.layout.visibility = "hidden"

        def show():
            while timer:
                timer.pop().cancel()
            done = len(answers) >= n
            for b in buttons:
                b.disabled = done
            table.value = score_table([self.row(answers)])
            if done:
                progress.value = f"Done: {n} answers. The images, with the truth:"
                review.value = self._review_html(answers)
                for im in images:
                    im.layout.display = "none"
                return
            review.value = ""
            progress.value = f"{self._question()} Trial {len(answers) + 1} of {n}."
            for im, png in zip(images, self.trials[len(answers)].png):
                im.value = base64.b64decode(png)
                im.layout.display = None
                im.layout.visibility = "visible"
            if self.seconds:
                timer.append(threading.Timer(self.seconds, hide))
                timer[-1].daemon = True
                timer[-1].start()

        def answer(value):
            def click(_):
                if len(answers) < n:
                    answers.append(value)
                    show()
            return click

        for b, v in zip(buttons, values):
            b.on_click(answer(v))

        def again(_):
            answers.clear()
            show()

        restart.on_click(again)
        show()
        box = widgets.VBox([progress, widgets.HBox(images), widgets.HBox([*buttons, restart]), table, review])
        box.answers = answers        # what the reader answered so far (for a cell that reads it)
        return box

    def _review_html(self, answers: list) -> str:
        cells = []
        for i, (trial, said) in enumerate(zip(self.trials, answers)):
            for j, png in enumerate(trial.png):
                real = trial.real == j if self.pairs else bool(trial.real)
                called_real = said == j if self.pairs else bool(said)
                mark = "&#10003;" if real == called_real else "&#10007;"
                cells.append(f'<figure><img src="data:image/png;base64,{png}" alt="trial {i + 1}"><figcaption>'
                             f'{i + 1}: {"real" if real else "fake"} {mark}</figcaption></figure>')
        return f'{_STYLE}<div class="real-or-fake"><div class="rof-review">{"".join(cells)}</div></div>'

    def _repr_mimebundle_(self, include=None, exclude=None):
        kind = "pairs" if self.pairs else "single images"
        bundle = {"text/plain": f"<real-or-fake test: {len(self.trials)} trials ({kind}) of {self.model} on {self.data}>",
                  "text/html": self.html()}
        if kernel_running():
            live = self.widget()
            bundle.update({k: v for k, v in live._repr_mimebundle_().items() if k != "text/plain"})
        return bundle


def real_or_fake(real_images, fake_images, n: int = 20, seed: int = 0, pairs: bool = False, *,
                 model: str = "generator", data: str = "real images", judge: str = "you",
                 scale: int | None = None, seconds: float | None = None) -> RealOrFake:
    """A "real or fake?" test of ``fake_images`` against ``real_images`` ((N, C, H, W), float in
    [-1, 1] or uint8), to display in a notebook or a book page.

    ``n`` trials (see :func:`make_trials`: half real, half generated, shuffled by ``seed``; or,
    with ``pairs=True``, ``n`` real-generated pairs). ``model``, ``data`` and ``judge`` name the
    row of the score table. ``seconds`` hides each trial's images after that time, as studies
    on Mechanical Turk do (the answer buttons stay); ``None`` shows them until answered.
    """
    if seconds is not None and not seconds > 0:
        raise GanLabError(f"seconds must be a positive number of seconds (or None), got {seconds}")
    trials = make_trials(real_images, fake_images, n=n, seed=seed, pairs=pairs, scale=scale)
    return RealOrFake(trials, model, data, judge, seconds)


__all__ = ["COLUMNS", "RealOrFake", "Trial", "Z95", "make_trials", "nearest_neighbour_observer", "observe",
           "percent", "real_or_fake", "results", "score", "score_row", "score_table", "wilson_interval"]
