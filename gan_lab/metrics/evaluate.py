"""Scores of a generator: FID, Inception Score and the classifier-feature distance, with protocols.

:func:`evaluate` is what ``gan-lab eval`` runs. FID and IS share one pass of generated images
through the Inception network; the real-data statistics come from the cache when the protocol
matches. Each score is a dict::

    {"metric": "fid", "label": "FID", "value": 41.3, "protocol": {...}}

and the protocol names everything that changes the number: n_real, n_fake, reference data and
split, feature network, weights source, resize, seed, EMA or not, checkpoint step.
"""
from __future__ import annotations

from gan_lab.data import registry
from gan_lab.metrics.classifier import check_dataset, classifier_frechet_distance
from gan_lab.metrics.frechet import (InceptionFeatures, frechet_distance_from_features,
                                     generator_features, generator_protocol, inception_score,
                                     rank_note, real_statistics)
from gan_lab.utils import GanLabError

METRICS = ("fid", "is", "fd-classifier")


def parse_metrics(text: str | list[str]) -> list[str]:
    names = [m.strip().lower() for m in (text.split(",") if isinstance(text, str) else text) if m.strip()]
    unknown = [m for m in names if m not in METRICS]
    if unknown or not names:
        raise GanLabError(f"unknown metric(s) {', '.join(unknown) or '(none given)'}; choose from {', '.join(METRICS)}")
    return list(dict.fromkeys(names))


def evaluate(model, metrics=("fid",), n: int = 1000, data: str | None = None, n_real: int | None = None,
             split: str = "test", seed: int = 0, batch_size: int = 50, use_ema: bool = True, root=None,
             cache: bool = True, step: int | None = None, checkpoint: str | None = None, is_splits: int = 10,
             progress: bool = False, extractor: InceptionFeatures | None = None) -> list[dict]:
    """Compute ``metrics`` for ``model`` (on its own device) against ``data``'s ``split``.

    ``n`` generated images per metric; ``n_real`` real ones for FID (default ``n``; the
    classifier distance uses the whole split by default). Everything that could fail on the
    user's input (unknown metric, IS without classifier weights, a dataset without a classifier)
    fails before any image is generated.
    """
    metrics = parse_metrics(metrics)
    if n < 2:
        raise GanLabError(f"n must be at least 2 (thousands for a meaningful FID), got {n}")
    if ("fid" in metrics or "fd-classifier" in metrics) and data is None:
        raise GanLabError("the reference data is unknown: pass data= (e.g. 'fashion-mnist' or a folder)")
    device = next(model.parameters()).device
    context = {"step": step, "checkpoint": checkpoint, "data": data}
    inception = None
    if "fid" in metrics or "is" in metrics:
        inception = extractor or InceptionFeatures(device)
        if "is" in metrics:
            inception.require_classifier()
            if n < is_splits:
                raise GanLabError(f"the Inception Score needs n >= {is_splits} (one image per split)")
    if "fd-classifier" in metrics:
        check_dataset(str(data))

    scores = []
    if inception is not None:
        fake = generator_features(model, n, inception, batch_size, seed, use_ema, progress)
        gen_protocol = generator_protocol(model, n, seed, use_ema)
        if "fid" in metrics:
            c = model.config
            mu_r, sigma_r, protocol = real_statistics(str(data), inception, c.image_size, c.channels,
                                                      n_real if n_real is not None else n, split, root,
                                                      batch_size, cache=cache, progress=progress)
            protocol.update(gen_protocol, **context)
            notes = []
            value = frechet_distance_from_features(fake, mu_r, sigma_r, notes)
            score = {"metric": "fid", "label": "FID", "value": value, "protocol": protocol}
            rank = rank_note(n, protocol["n_real"], int(mu_r.shape[0]))
            protocol["rank_deficient"] = rank is not None
            if rank or notes:
                score["note"] = "; ".join(([rank] if rank else []) + notes)
            scores.append(score)
        if "is" in metrics:
            mean, std = inception_score(inception.class_probabilities(fake), is_splits)
            protocol = {**gen_protocol, **context, "splits": is_splits,
                        "feature_network": "pytorch-fid InceptionV3 pool3 -> 1008-way fc (logits without bias)",
                        "weights": inception.weights_source, "resize": inception.resize}
            scores.append({"metric": "is", "label": "Inception Score", "value": mean, "std": std,
                           "protocol": protocol})
    if "fd-classifier" in metrics:
        score = classifier_frechet_distance(model, str(data), n=n, n_real=n_real, split=split, seed=seed,
                                            use_ema=use_ema, root=root, cache=cache)
        score["protocol"].update(context)
        scores.append(score)
    return scores


def feature_label(dims: int) -> str:
    """The name of a Fréchet distance on Inception features of size ``dims``: the FID only for pool3."""
    return "FID" if dims == 2048 else f"Fréchet distance on {dims}-d Inception features (not FID)"


def evaluate_cached(model, run, metrics=("fid",), *, n: int, data: str, step: int, n_real: int | None = None,
                    split: str = "test", seed: int = 0, use_ema: bool = True, dims: int = 2048, root=None,
                    checkpoint: str | None = None, extractor=None, stamp: dict | None = None) -> dict[str, float]:
    """``{metric: value}`` of ``model`` at training step ``step``, measured once per protocol.

    A score in run directory ``run``'s ``metrics.json`` whose protocol matches these settings (the
    metric, ``n`` generated images from ``seed``, ``n_real`` real ones of ``data``'s ``split``, the step,
    EMA or not, the Inception features' size ``dims`` for FID, and every item of ``stamp``) is read
    back; the missing ones are measured with :func:`evaluate`, saved to the file (with ``stamp`` in
    their protocols) and returned. ``extractor`` is a function returning the Inception network of size
    ``dims``, called only when FID or IS has to be measured (callers share one network per process).
    """
    metrics = parse_metrics(metrics)
    n_real = n if n_real is None else n_real
    splits = (split,) if registry.resolve(str(data)) is not None else (split, "all (a folder or file has no splits)")
    ema = bool(use_ema and getattr(model, "G_ema", None) is not None)
    network = "inception-pool3" if dims == 2048 else f"inception-{dims}d"
    stamp = dict(stamp or {})

    def matches(entry: dict) -> bool:
        p, metric = entry.get("protocol", {}), entry.get("metric")
        if metric not in metrics or any(p.get(k) != v for k, v in stamp.items()):
            return False
        if (p.get("n_fake"), p.get("seed"), p.get("step"), p.get("data"), p.get("use_ema")) != (n, seed, step, str(data), ema):
            return False
        if metric == "is":
            return True
        if metric == "fid" and p.get("feature_network_id", "inception-pool3") != network:
            return False
        # a split smaller than n_real gives all it has; the request is what identifies the protocol
        return (p.get("n_real_requested", p.get("n_real")) == n_real
                and p.get("reference", {}).get("split") in splits)

    found = {e["metric"]: float(e["value"]) for e in run.read_metrics().values() if matches(e)}
    missing = [m for m in metrics if m not in found]
    if missing:
        net = extractor() if extractor is not None and {"fid", "is"} & set(missing) else None
        scores = evaluate(model, missing, n=n, data=str(data), n_real=n_real, split=split, seed=seed, use_ema=use_ema,
                          root=root, step=step, checkpoint=checkpoint, extractor=net)
        for score in scores:
            score["protocol"].update(stamp)
            if score["metric"] != "is":
                score["protocol"]["n_real_requested"] = n_real
            if score["metric"] == "fid":
                score["label"] = feature_label(dims)
        run.save_scores(scores)
        found.update({score["metric"]: float(score["value"]) for score in scores})
    return {m: found[m] for m in metrics}


def format_score(score: dict) -> str:
    """One line per score, and a second, indented ``note:`` line when the score carries a note."""
    p = score["protocol"]
    value = f"{score['value']:.3f}" + (f" ± {score['std']:.3f}" if "std" in score else "")
    n_real = f", n_real={p['n_real']}" if "n_real" in p else ""
    line = f"{score['label']}: {value}  (n_fake={p.get('n_fake')}{n_real}, weights: {p.get('weights')})"
    return line + (f"\n    note: {score['note']}" if score.get("note") else "")

