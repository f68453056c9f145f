"""GAN Lab: generative adversarial networks, implemented to be read, run and measured."""
__version__ = "0.1.0"
