"""Measuring GANs: FID and Inception Score (through pytorch-fid), a fast classifier-feature
distance, and training-stability measures from a run's history.

* :mod:`gan_lab.metrics.weights` - the Inception weights: pytorch-fid's download, or an offline build.
* :mod:`gan_lab.metrics.frechet` - features, statistics, Fréchet distance, Inception Score, folders.
* :mod:`gan_lab.metrics.evaluate` - :func:`evaluate` (what ``gan-lab eval`` runs).
* :mod:`gan_lab.metrics.store` - the real-data statistics cache (scores: :mod:`gan_lab.run`).
* :mod:`gan_lab.metrics.stability` - loss volatility, spikes, discriminator-loss-near-zero share.
* :mod:`gan_lab.metrics.classifier` - the small classifier and :func:`classifier_frechet_distance` (not FID).

Importing this package is light: pytorch-fid and scipy are imported when first used.
"""
from gan_lab.metrics.classifier import ClassifierFDTracker, classifier_frechet_distance
from gan_lab.metrics.evaluate import METRICS, evaluate, format_score
from gan_lab.metrics.frechet import (InceptionFeatures, feature_statistics, fid_folders, frechet_distance,
                                     frechet_distance_from_features, generator_features, image_features,
                                     inception_score, quantize, real_statistics)
from gan_lab.metrics.stability import (find_spikes, loss_volatility, near_zero_share, rolling_std,
                                       samples_near, stability_summary)
from gan_lab.metrics.store import cache_dir
from gan_lab.metrics.weights import ensure_inception_weights


__all__ = [
    "METRICS", "ClassifierFDTracker", "InceptionFeatures", "cache_dir", "classifier_frechet_distance", "ensure_inception_weights",
    "evaluate", "feature_statistics", "fid_folders", "find_spikes", "format_score", "frechet_distance",
    "frechet_distance_from_features", "generator_features", "image_features", "inception_score", "loss_volatility",
    "near_zero_share", "quantize", "real_statistics", "rolling_std", "samples_near", "stability_summary",
]
