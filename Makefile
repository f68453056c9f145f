# GAN Lab. `make book` builds the book (the main job), `make test` runs every test.
# Both install what they need first (scripts/install.sh; done once, remembered in .installed).
PY ?= python3
export PYTHON := $(PY)

.PHONY: install book train test test-fast clean

install: .installed

.installed: pyproject.toml scripts/install.sh
	bash scripts/install.sh
	touch .installed

book: install
	bash scripts/build_book.sh

train: install
	$(PY) -m gan_lab train --model dcgan --data fashion-mnist --steps 2000 --out runs/dcgan-fashion-mnist

# the fast build first: the browser tests then check every built chapter, not only a sample page
test: install
	GAN_LAB_FAST=1 GAN_LAB_OFFLINE=1 bash scripts/build_book.sh
	GAN_LAB_FAST=1 GAN_LAB_OFFLINE=1 GAN_LAB_STATIC_CONTROLS=1 $(PY) -m pytest -q tests book --nbval-lax -p no:cacheprovider

clean:
	rm -rf _build .installed
