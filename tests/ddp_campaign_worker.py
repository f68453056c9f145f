"""Run by tests/test_distributed.py under torchrun: ``gan-lab campaign`` with the arguments given, where
the vanilla GAN's discriminator step raises on the ranks listed in ``$FAIL_RANKS`` (comma-separated)."""
import os
import sys

from gan_lab.cli import main
from gan_lab.models import vanilla

rank = int(os.environ["RANK"])
if str(rank) in os.environ.get("FAIL_RANKS", "").split(","):
    def broken(self, x_real):
        raise RuntimeError(f"boom on rank {rank}")

    vanilla.Model.d_step = broken

sys.exit(main(sys.argv[1:]))
