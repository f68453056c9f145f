import os

import pytest
import torch

# Two cores: keep each test process from oversubscribing them.
torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


@pytest.fixture(scope="session")
def fashion_small():
    """The first 512 real Fashion-MNIST training images (28 px, 1 channel)."""
    from gan_lab.data import load_data

    return load_data("fashion-mnist", image_size=28, channels=1, limit=512)
