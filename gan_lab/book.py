"""What the book's chapters need from the package: a run that is trained once and then reused.

A chapter asks for a run by name, with the model, data and training settings it wants::

    from gan_lab.book import run_or_load
    run = run_or_load("03-vanilla-saturating", vanilla.Model(config), "fashion-mnist", TrainConfig(steps=2000))
    run.model        # trained, in eval mode
    run.history      # history.csv as a list of dicts
    run.dir          # the gan_lab.run.RunDir (samples, metrics.json, records)

:func:`run_or_load` looks in ``runs/book/fast`` or ``runs/book/full`` (the fast switch,
``GAN_LAB_FAST=1``, never shares runs with the full book) for a folder named after the run and
a hash of everything that defines it (family, model config, init kwargs, training settings).
A finished run is loaded, an interrupted one is resumed, and otherwise the run is trained. So a
rebuild of the book retrains nothing, and changing a setting in a chapter starts a new run
instead of reusing a stale one.
"""
from __future__ import annotations

import os
from dataclasses import asdict, dataclass, replace
from dataclasses import fields as dataclass_fields
from pathlib import Path

from gan_lab.data import load_data
from gan_lab.metrics.evaluate import evaluate_cached
from gan_lab.metrics.frechet import InceptionFeatures
from gan_lab.models import get_family, make_config
from gan_lab.models.base import GANModel
from gan_lab.run import RunDir
from gan_lab.train import TrainConfig, model_precision, saved_precision, train
from gan_lab.utils import GanLabError, fast_mode, pick_device, seed_everything, stable_hash

#: TrainConfig fields that do not change what a run computes (where it is written, how it reports)
_NOT_IDENTITY = ("out", "progress", "device")


@dataclass
class Run:
    """A finished run of the book: the trained model and its run directory."""

    model: GANModel
    dir: RunDir
    trained: bool        # True when this call trained or resumed it, False when it was loaded

    @property
    def history(self) -> list[dict]:
        return self.dir.history()

    @property
    def precision(self) -> str:
        """``"fp32"`` or ``"bf16"``: what the run trained in (recorded in its config.json)."""
        return saved_precision(self.dir.read_config().get("train_config", {}))

    def evaluate(self, data: str, metrics=("fid",), n: int = 500, *, n_real: int | None = None, seed: int = 0,
                 split: str = "test", use_ema: bool = True) -> dict[str, float]:
        """``{metric: value}`` of the finished model, measured once and then read from ``metrics.json``.

        The scores are those of :func:`gan_lab.metrics.evaluate.evaluate` (``"fid"``, ``"is"``,
        ``"fd-classifier"``) at the run's last step against ``data``'s ``split``, with ``n``
        generated images from ``seed`` and ``n_real`` real ones (default ``n``). A saved score whose
        protocol matches these settings is reused, so a rebuild runs no Inception pass; other
        settings are measured and added to the file. The Inception network is loaded once per process.
        """
        return evaluate_cached(self.model, self.dir, metrics, n=n, data=str(data), step=self.dir.finished_steps(),
                               n_real=n_real, split=split, seed=seed, use_ema=use_ema,
                               extractor=lambda: inception_features(self.model.device))

    def scores(self, metric: str) -> tuple[list[int], list[float]]:
        """``(steps, values)`` of ``metric`` in the run's metrics.json (e.g. a training callback's
        ``"fd-classifier"`` scores), in step order."""
        entries = sorted((e["protocol"]["step"], e["value"]) for e in self.dir.read_metrics().values()
                         if e.get("metric") == metric and e.get("protocol", {}).get("step") is not None)
        return [int(s) for s, _ in entries], [float(v) for _, v in entries]


_INCEPTION: dict = {}


def inception_features(device, dims: int = 2048) -> InceptionFeatures:
    """One pytorch-fid Inception network per device and feature size for the whole process (loading
    it takes seconds); the book's chapters and ``gan_lab.campaign`` share it."""
    key = (str(device), dims)
    if key not in _INCEPTION:
        _INCEPTION[key] = InceptionFeatures(device, dims=dims)
    return _INCEPTION[key]


def project_root(start: str | os.PathLike | None = None) -> Path:
    """The folder holding ``pyproject.toml`` above ``start`` (default: the working directory)."""
    here = Path(start or Path.cwd()).resolve()
    return next((p for p in (here, *here.parents) if (p / "pyproject.toml").is_file()), here)


def runs_root() -> Path:
    """``$GAN_LAB_BOOK_RUNS`` or ``<project>/runs/book``, then ``fast`` or ``full`` by the fast switch."""
    base = os.environ.get("GAN_LAB_BOOK_RUNS")
    root = Path(base).expanduser() if base else project_root() / "runs" / "book"
    return root / ("fast" if fast_mode() else "full")


def run_key(model: GANModel, config: TrainConfig) -> str:
    """The hash that names a run: everything that changes what training computes."""
    settings = {k: v for k, v in asdict(config).items() if k not in _NOT_IDENTITY}
    # "auto" names the precision this machine would choose: a run trained in bf16 on one machine is not
    # the run an fp32-only machine would train
    settings["precision"], _ = model_precision(model, config.precision, pick_device(config.device))
    settings.pop("amp", None)
    return stable_hash({"family": model.family, "model_config": model.config.to_dict(),
                        "init_kwargs": model.init_kwargs(), "train": settings})


def run_or_load(name: str, model: GANModel, data, config: TrainConfig, *, root: str | os.PathLike | None = None,
                callbacks=()) -> Run:
    """The finished run ``name`` for ``model`` (untrained, as built) and ``config``.

    ``data`` is what :func:`gan_lab.train.train` takes, or a function returning it (called only
    when the run has to train, so a cached chapter does not load its dataset). ``callbacks`` run
    only while training: what a chapter needs from them afterwards must be in the run directory
    (``metrics.json`` through :meth:`RunDir.save_scores`, or :meth:`RunDir.write_records`).
    """
    folder = Path(root) if root is not None else runs_root()
    out = folder / f"{name}-{run_key(model, config)}"
    run = RunDir(out)
    config = replace(config, out=str(out))
    if run.has_checkpoint() and run.finished_steps() >= config.steps:
        run.load(model, map_location=model.device)
        return Run(model.eval(), run, trained=False)
    data = data() if callable(data) and not hasattr(data, "batch") else data
    train(model, data, config, callbacks=callbacks, resume=run.has_checkpoint())
    return Run(model.eval(), run, trained=True)


#: Steps of every run of :func:`study_run` in the full book (``STUDY_STEPS_FAST`` in fast mode)
STUDY_STEPS = 1000
STUDY_STEPS_FAST = 20
#: kept checkpoints (``checkpoints/step_XXXXXX.pt``) and sample grids of a study run, every this many steps
STUDY_KEEP_EVERY = 250
STUDY_KEEP_EVERY_FAST = 10


def study_run(family: str, seed: int = 0, *, name: str | None = None, device=None, **overrides) -> Run:
    """One run of the Fashion-MNIST protocol shared by the chapters of part II b (loss volatility,
    Wasserstein GAN, VAE-GAN, DNFM-GAN), so that a table in one chapter and a figure in another
    are the same trained networks, trained once.

    The protocol: Fashion-MNIST's 60,000 training images at 28 px, one channel; batch 64;
    :data:`STUDY_STEPS` steps; family ``family``'s defaults with ``ngf = ndf = 32`` (and
    ``nef = 32`` where the family has an encoder) so a run takes minutes on a CPU, then
    ``overrides`` (Config fields, e.g. ``gamma=0.1``); ``precision="auto"``; every step's losses
    in ``history.csv``; a sample grid and a kept checkpoint every :data:`STUDY_KEEP_EVERY` steps.
    In fast mode the family's ``"tiny"`` preset and :data:`STUDY_STEPS_FAST` steps.
    The run is named ``study-<family>[-<field>=<value>...]-seed<seed>`` unless ``name`` is given.
    """
    fast = fast_mode()
    config_cls = get_family(family).Config
    fields = {f.name for f in dataclass_fields(config_cls)}
    unknown = sorted(set(overrides) - fields)
    if unknown:
        raise GanLabError(f"{family} has no config field {', '.join(unknown)}; its fields are: {', '.join(sorted(fields))}")
    config = make_config(family, "tiny" if fast else None, width=None if fast else 32, image_size=28, channels=1,
                         **overrides)
    steps = STUDY_STEPS_FAST if fast else STUDY_STEPS
    keep = STUDY_KEEP_EVERY_FAST if fast else STUDY_KEEP_EVERY
    device = pick_device("auto" if device is None else device)
    seed_everything(seed)                          # the nets' initial weights
    model = get_family(family).Model(config).to(device)
    settings = TrainConfig(steps=steps, batch_size=64, seed=seed, data="fashion-mnist", precision="auto",
                           sample_every=keep, checkpoint_every=keep, keep_every=keep, log_every=keep,
                           n_samples=64, progress=False)
    if name is None:
        parts = [f"{k}={v}" for k, v in sorted(overrides.items())]
        name = "-".join(["study", family, *parts, f"seed{seed}"]).replace(" ", "")
    return run_or_load(name, model, lambda: load_data("fashion-mnist", split="train"), settings)


__all__ = ["Run", "STUDY_STEPS", "inception_features", "project_root", "run_key", "run_or_load", "runs_root",
           "study_run"]


# ---------------------------------------------------------------------------------------------
# controls and code listings that work both in Jupyter and in the static book
# ---------------------------------------------------------------------------------------------
def readable_figures() -> None:
    """Matplotlib font sizes for the book's pages: a figure up to 11 inches wide is shrunk to the
    text column (about 730 px), and its smallest text (``"small"`` legends) must stay about 10 px
    there. Call once per chapter, after importing matplotlib."""
    import matplotlib

    matplotlib.rcParams.update({"font.size": 13, "axes.titlesize": 13, "axes.labelsize": 13,
                                "xtick.labelsize": 12, "ytick.labelsize": 12, "legend.fontsize": 11,
                                "figure.titlesize": 14})


def show_source(obj):
    """The source of a package function, class or method, as a Markdown code block.

    The book shows package code this way (a code cell whose input is hidden in the HTML), so the
    listing cannot drift from the package and reads the same in Jupyter as in the rendered page.
    """
    import inspect
    import textwrap

    from IPython.display import Markdown

    source = textwrap.dedent(inspect.getsource(obj)).rstrip()
    module = inspect.getmodule(obj)
    init = Path(module.__file__).name == "__init__.py"
    name = module.__name__.replace(".", "/") + ("/__init__.py" if init else ".py")   # e.g. gan_lab/losses.py
    return Markdown(f"```python\n# {name}\n{source}\n```")


def with_alt(html: str, alt: str) -> str:
    """``html`` of a matplotlib animation (``viz``'s ``*_animation``) with ``alt`` text on its
    picture, for readers who cannot see it."""
    import html as html_lib

    return html.replace("<img id=", f'<img alt="{html_lib.escape(alt)}" id=', 1)


def _slider_widget(values: list, value, label: str):
    """The ipywidgets slider for ``values``: integer steps of 1, evenly spaced floats, or a list."""
    import numbers

    import ipywidgets as widgets

    if all(isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in values) \
            and list(values) == list(range(values[0], values[-1] + 1)):
        return widgets.IntSlider(min=values[0], max=values[-1], value=value, description=label)
    if all(isinstance(v, float) for v in values) and len(values) > 1:
        steps = {round(b - a, 12) for a, b in zip(values, values[1:])}
        if len(steps) == 1:
            return widgets.FloatSlider(min=values[0], max=values[-1], step=steps.pop(), value=value,
                                       description=label)
    return widgets.SelectionSlider(options=values, value=value, description=label)


class Explorer:
    """A figure behind one slider per parameter, usable with and without a kernel.

    Made by :func:`explore`. Displayed, it offers two representations: ``text/html``, a slider
    (and a play button) over frames rendered in advance for every combination of the parameter
    values, driven by a few lines of plain JavaScript (no kernel, no network: the frames are PNGs
    inside the page); and, when a Jupyter kernel is running, the live ipywidgets version, which
    calls ``render`` again for every position. Jupyter shows the live one; the book, whose
    ``_config.yml`` ranks ``text/html`` above widget views, shows the static one.
    """

    def __init__(self, render, params: dict, value: dict, labels: dict, formats: dict, alt: str, dpi: int):
        self.render, self.params, self.value = render, params, value
        self.labels, self.formats, self.alt, self.dpi = labels, formats, alt, dpi
        self._frames: list[str] | None = None

    @property
    def names(self) -> list[str]:
        return list(self.params)

    def frames(self) -> list[str]:
        """Every frame as a base64 PNG, the last parameter varying fastest."""
        if self._frames is None:
            import base64
            import io
            import itertools

            import matplotlib.pyplot as plt

            frames = []
            for combo in itertools.product(*self.params.values()):
                fig = self.render(**dict(zip(self.names, combo)))
                buffer = io.BytesIO()
                fig.savefig(buffer, format="png", dpi=self.dpi)
                plt.close(fig)
                frames.append(base64.b64encode(buffer.getvalue()).decode("ascii"))
            self._frames = frames
        return self._frames

    def html(self) -> str:
        import html as html_lib
        import json
        import uuid

        frames = self.frames()
        uid = "explore-" + uuid.uuid4().hex[:12]
        index = [list(self.params[n]).index(self.value[n]) for n in self.names]
        strides = [1] * len(self.names)
        for i in range(len(self.names) - 2, -1, -1):
            strides[i] = strides[i + 1] * len(self.params[self.names[i + 1]])
        start = sum(i * s for i, s in zip(index, strides))
        shown = {n: [self.formats.get(n, "{}").format(v) for v in self.params[n]] for n in self.names}
        rows = []
        for n, i in zip(self.names, index):
            label = html_lib.escape(self.labels.get(n, n))
            rows.append(f'<label class="explore-row"><span class="explore-label">{label}</span>'
                        f'<input type="range" min="0" max="{len(self.params[n]) - 1}" step="1" value="{i}" '
                        f'data-param="{html_lib.escape(n)}" aria-label="{label}">'
                        f'<output>{html_lib.escape(shown[n][i])}</output></label>')
        play = (f'<button type="button" class="explore-play" title="Play" aria-label="Play">&#9654;</button>'
                f'<span class="explore-hint">steps {html_lib.escape(self.labels.get(self.names[0], self.names[0]))}'
                '</span>')
        data = json.dumps({"frames": frames, "strides": strides, "shown": [shown[n] for n in self.names]})
        return f"""<div class="frame-slider" id="{uid}">
<img class="explore-image" alt="{html_lib.escape(self.alt)}" src="data:image/png;base64,{frames[start]}">
<div class="explore-controls">{''.join(rows)}<div class="explore-row">{play}</div></div>
<script type="application/json" class="explore-data">{data}</script>
<script>
(function () {{
  var root = document.getElementById("{uid}");
  if (!root || root.dataset.ready) return;
  root.dataset.ready = "1";
  var data = JSON.parse(root.querySelector(".explore-data").textContent);
  var img = root.querySelector(".explore-image");
  var inputs = root.querySelectorAll("input[type=range]");
  var outputs = root.querySelectorAll("output");
  function draw() {{
    var k = 0;
    for (var i = 0; i < inputs.length; i++) {{
      var v = Number(inputs[i].value);
      k += v * data.strides[i];
      outputs[i].textContent = data.shown[i][v];
    }}
    img.src = "data:image/png;base64," + data.frames[k];
  }}
  for (var i = 0; i < inputs.length; i++) {{
    inputs[i].addEventListener("input", draw);
    inputs[i].addEventListener("change", draw);
  }}
  var button = root.querySelector(".explore-play"), timer = null;
  button.addEventListener("click", function () {{
    if (timer) {{
      clearInterval(timer); timer = null;
      button.title = "Play"; button.setAttribute("aria-label", "Play"); button.innerHTML = "&#9654;";
      return;
    }}
    button.title = "Pause"; button.setAttribute("aria-label", "Pause"); button.innerHTML = "&#10074;&#10074;";
    timer = setInterval(function () {{
      var s = inputs[0];
      s.value = (Number(s.value) + 1) % (Number(s.max) + 1);
      draw();
    }}, 350);
  }});
}})();
</script>
</div>"""

    def widget(self):
        """The live ipywidgets version (needs a kernel)."""
        import ipywidgets as widgets
        from IPython.display import display

        import matplotlib.pyplot as plt

        def show(**kwargs):
            fig = self.render(**kwargs)
            display(fig)
            plt.close(fig)

        controls = {n: _slider_widget(list(self.params[n]), self.value[n], self.labels.get(n, n))
                    for n in self.names}
        return widgets.interactive(show, **controls)

    def _repr_mimebundle_(self, include=None, exclude=None):
        bundle = {"text/plain": f"<explorer over {', '.join(self.names)}: {len(self.frames())} frames>",
                  "text/html": self.html()}
        if kernel_running():
            live = self.widget()
            live.update()
            bundle.update({k: v for k, v in live._repr_mimebundle_().items() if k != "text/plain"})
        return bundle


def kernel_running() -> bool:
    """True inside a running Jupyter kernel that has ipywidgets (the live controls need both).

    False when ``$GAN_LAB_STATIC_CONTROLS`` is ``1``, as the book's build script sets it: a built
    page shows the static controls only, and live widgets made while nbclient executed a chapter
    left the build waiting for ever on an idle kernel now and then (three times in CI, in
    chapters with a live control; jupyter/nbclient#312 reports the same)."""
    import importlib.util
    import sys

    if os.environ.get("GAN_LAB_STATIC_CONTROLS") == "1":
        return False
    if "ipykernel" not in sys.modules or importlib.util.find_spec("ipywidgets") is None:
        return False
    from IPython import get_ipython

    return getattr(get_ipython(), "kernel", None) is not None


def explore(render, params: dict, *, alt: str, value: dict | None = None, labels: dict | None = None,
            formats: dict | None = None, dpi: int = 90) -> Explorer:
    """A figure with a slider for each of ``params`` (name -> the values it takes), in Jupyter
    and in the static book alike.

    ``render(**{name: value, ...})`` draws one figure and returns it (a matplotlib ``Figure``,
    not shown). ``alt`` describes the figure for readers who cannot see it. ``value`` gives the
    starting positions (default: each parameter's first value), ``labels`` the slider labels,
    ``formats`` how a value is printed (``"{:.2f}"``). Display the result (last line of a cell).
    Every combination is rendered once, so keep the product of the value counts small (tens).
    """
    params = {n: list(v) for n, v in params.items()}
    if not params or any(len(v) == 0 for v in params.values()):
        raise GanLabError("explore needs at least one parameter, each with at least one value")
    value = {n: (value or {}).get(n, v[0]) for n, v in params.items()}
    for n, v in value.items():
        if v not in params[n]:
            raise GanLabError(f"the starting value {v!r} of {n!r} is not one of its values")
    return Explorer(render, params, value, dict(labels or {}), dict(formats or {}), alt, dpi)


__all__ += ["Explorer", "explore", "readable_figures", "show_source", "with_alt"]
