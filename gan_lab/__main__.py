import sys

try:
    from gan_lab.cli import main
except KeyboardInterrupt:        # Ctrl-C while the libraries load
    print("gan-lab: interrupted", file=sys.stderr)
    sys.exit(130)

sys.exit(main())
