"""Bad ``--set`` values are one-line errors (exit 2), not tracebacks from inside torch."""
import pytest

from gan_lab.cli import main


@pytest.mark.parametrize("value, words", [
    ("lr_g=nan", "lr_g"), ("lr_g=inf", "lr_g"), ("lr_d=-1e-4", "lr_d"), ("lr_g=0", "lr_g"),
    ("betas=0.5", "betas"), ("betas=2,3", "betas"), ("betas=0.5,nan", "betas"),
    ("betas=0.5,0.9,0.1", "betas"), ("ngf=0", "ngf"), ("ndf=-2", "ndf"),
    ("latent_dim=0", "latent_dim"), ("ema_decay=1.5", "ema_decay"),
])
def test_bad_set_value_is_one_line_error(tmp_path, capsys, value, words):
    try:
        code = main(["train", "--model", "dcgan", "--fast", "--steps", "1", "--no-progress",
                     "--set", value, "--out", str(tmp_path / "run")])
    except SystemExit as e:
        code = e.code
    assert code == 2
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err
    assert not (tmp_path / "run" / "last.pt").exists()
