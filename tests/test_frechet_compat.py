"""The Fréchet distance keeps working where pytorch-fid 0.3.0's own code does not (SciPy without sqrtm(disp=))."""
import numpy as np
import pytest

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
    expected = frechet.frechet_distance(*stats)
    monkeypatch.setattr(fid_score, "calculate_frechet_distance", broken)
    assert frechet.frechet_distance(*stats) == pytest.approx(expected, rel=1e-9)


def test_one_dimensional_statistics():
    """SciPy 1.17's sqrtm(disp=False) returns a bare array (no (root, error) pair) for a 1x1 matrix, so
    pytorch-fid's unpacking fails there; the 1-D distance must still be (m1 - m2)^2 + (s1 - s2)^2."""
    value = frechet.frechet_distance(np.array([0.0]), np.array([[1.0]]), np.array([1.5]), np.array([[0.25]]))
    assert value == pytest.approx(1.5 ** 2 + 0.5 ** 2, rel=1e-12)
