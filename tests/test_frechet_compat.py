"""The Fréchet distance keeps working where pytorch-fid 0.3.0's own code does not (SciPy without sqrtm(disp=))."""
import warnings

import numpy as np
import pytest

from gan_lab.utils import GanLabError

from gan_lab.metrics import frechet


def test_formula_by_hand():
    # 1-D: (0 - 1)^2 + 1 + 4 - 2 * sqrt(1 * 4) = 2
    assert frechet._frechet_formula(np.array([0.0]), np.array([[1.0]]), np.array([1.0]), np.array([[4.0]])) == \
        pytest.approx(2.0)


def test_formula_matches_pytorch_fid():
    from pytorch_fid.fid_score import calculate_frechet_distance

    rng = np.random.default_rng(0)
    for d in (3, 64):
        a, b = rng.normal(size=(400, d)), rng.normal(size=(400, d)) * 1.3 + 0.2
        stats = (a.mean(0), np.cov(a, rowvar=False), b.mean(0), np.cov(b, rowvar=False))
        assert frechet._frechet_formula(*stats) == pytest.approx(calculate_frechet_distance(*stats), rel=1e-9)


def test_falls_back_when_scipy_lacks_disp(monkeypatch):
    import pytorch_fid.fid_score as fid_score

    def broken(*args, **kwargs):
        raise TypeError("sqrtm() got an unexpected keyword argument 'disp'")

    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(300, 8)), rng.normal(size=(300, 8)) + 0.5
    stats = (a.mean(0), np.cov(a, rowvar=False), b.mean(0), np.cov(b, rowvar=False))
    expected = frechet.frechet_distance(*stats, method="pytorch-fid")
    monkeypatch.setattr(fid_score, "calculate_frechet_distance", broken)
    assert frechet.frechet_distance(*stats, method="pytorch-fid") == pytest.approx(expected, rel=1e-9)


def test_one_dimensional_statistics():
    """SciPy 1.17's sqrtm(disp=False) returns a bare array (no (root, error) pair) for a 1x1 matrix, so
    pytorch-fid's unpacking fails there; the 1-D distance must still be (m1 - m2)^2 + (s1 - s2)^2."""
    value = frechet.frechet_distance(np.array([0.0]), np.array([[1.0]]), np.array([1.5]), np.array([[0.25]]))
    assert value == pytest.approx(1.5 ** 2 + 0.5 ** 2, rel=1e-12)


@pytest.mark.parametrize("n, d", [(400, 3), (400, 64), (40, 64), (10, 64)])
def test_eigh_route_matches_pytorch_fid(n, d):
    """The default route (symmetric eigenvalues) gives pytorch-fid's value, with full-rank covariances
    and with singular ones (fewer samples than dimensions, as FID from 100 images in 2048-d)."""
    from pytorch_fid.fid_score import calculate_frechet_distance

    rng = np.random.default_rng(n + d)
    a, b = rng.normal(size=(n, d)), rng.normal(size=(n, d)) * 1.3 + 0.2
    stats = (a.mean(0), np.cov(a, rowvar=False), b.mean(0), np.cov(b, rowvar=False))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = calculate_frechet_distance(*stats)
    assert frechet.frechet_distance(*stats) == pytest.approx(expected, rel=1e-6)


def test_eigh_route_by_hand():
    # diagonal covariances: tr sqrt(S1 S2) = sum sqrt(s1_i s2_i) = sqrt(1 * 4) + sqrt(9 * 1) = 5;
    # |mu1 - mu2|^2 = 1 + 4 = 5; tr S1 + tr S2 = 10 + 5 = 15; distance 5 + 15 - 10 = 10
    mu1, mu2 = np.array([0.0, 0.0]), np.array([1.0, 2.0])
    s1, s2 = np.diag([1.0, 9.0]), np.diag([4.0, 1.0])
    assert frechet.frechet_distance(mu1, s1, mu2, s2) == pytest.approx(10.0, abs=1e-12)
    # a rotated copy of the same pair: the distance does not depend on the basis
    q, _ = np.linalg.qr(np.random.default_rng(0).normal(size=(2, 2)))
    assert frechet.frechet_distance(q @ mu1, q @ s1 @ q.T, q @ mu2, q @ s2 @ q.T) == pytest.approx(10.0, abs=1e-9)


def test_eigh_route_refuses_broken_statistics():
    mu, s = np.zeros(3), np.eye(3)
    with pytest.raises(GanLabError, match="NaN"):
        frechet.frechet_distance(mu, s * np.nan, mu, s)
    with pytest.raises(GanLabError, match="do not match"):
        frechet.frechet_distance(mu, s, np.zeros(2), np.eye(2))
    with pytest.raises(GanLabError, match="unknown Fréchet method"):
        frechet.frechet_distance(mu, s, mu, s, method="svd")


@pytest.mark.parametrize("n, d", [(10, 64), (40, 64), (64, 64), (65, 64), (400, 3)])
def test_feature_route_matches_pytorch_fid(n, d):
    """frechet_distance_from_features (the n x n route when n <= d, the d-dimensional one above) gives
    pytorch-fid's value for the Gaussian fitted to the features against given statistics."""
    from pytorch_fid.fid_score import calculate_frechet_distance

    rng = np.random.default_rng(7 * n + d)
    mixing = rng.normal(size=(d, d)) / np.sqrt(d)                # correlated features, as a network's are
    a = rng.normal(size=(n, d)) @ mixing + 0.3
    b = rng.normal(size=(5 * d, d)) @ mixing * 1.2
    mu_b, sigma_b = b.mean(0), np.cov(b, rowvar=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = calculate_frechet_distance(a.mean(0), np.cov(a, rowvar=False), mu_b, sigma_b)
    assert frechet.frechet_distance_from_features(a, mu_b, sigma_b) == pytest.approx(expected, rel=1e-6)
    assert frechet.frechet_distance_from_features(a, mu_b, sigma_b, notes=[], method="pytorch-fid") == \
        pytest.approx(expected, rel=1e-9)


def test_feature_route_by_hand():
    # two points in 2-d, (0, 0) and (2, 0): mean (1, 0), covariance diag(2, 0) (np.cov divides by n - 1 = 1);
    # against N((1, 1), diag(8, 3)): |mu1 - mu2|^2 = 1, tr S1 + tr S2 = 2 + 11 = 13,
    # tr sqrt(S1 S2) = sqrt(2 * 8) + sqrt(0 * 3) = 4; distance 1 + 13 - 8 = 6
    features = np.array([[0.0, 0.0], [2.0, 0.0]])
    assert frechet.frechet_distance_from_features(features, np.array([1.0, 1.0]), np.diag([8.0, 3.0])) == \
        pytest.approx(6.0, abs=1e-12)


def test_feature_route_refuses_broken_input():
    with pytest.raises(GanLabError, match="at least 2 feature vectors"):
        frechet.frechet_distance_from_features(np.zeros((1, 3)), np.zeros(3), np.eye(3))
    with pytest.raises(GanLabError, match="NaN"):
        frechet.frechet_distance_from_features(np.full((2, 3), np.nan), np.zeros(3), np.eye(3))
    with pytest.raises(GanLabError, match="do not match"):
        frechet.frechet_distance_from_features(np.zeros((2, 3)), np.zeros(2), np.eye(2))
