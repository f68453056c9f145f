"""``python -m gan_lab``: the command line. Ctrl-C or SIGTERM before it is set up exits at once, quietly."""
import os
import signal
import sys


def _exit_at_once(signum, frame):
    os.write(2, b"gan-lab: interrupted\n")
    os._exit(128 + signum)


if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
    signal.signal(signal.SIGINT, _exit_at_once)
signal.signal(signal.SIGTERM, _exit_at_once)

from gan_lab.cli import main  # noqa: E402  (light: the library is imported once main() has its handlers)

sys.exit(main())
