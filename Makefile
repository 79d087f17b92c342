# Set-up and everyday commands. `make run` and `make test` work from a fresh clone.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test

.PHONY: run test setup clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)

# torch is installed first on its own so pip takes the pinned CPU build. spandrel (community models) goes
# in without its declared dependencies: it asks for torchvision, whose PyPI wheels are CUDA builds that do
# not load beside CPU torch; its real dependencies (einops, safetensors) are pinned in pyproject.toml, and
# sisr_core/models/torchvision_standin.py covers its two torchvision imports.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install torch==2.13.0
	$(BIN)/pip install -e .
	$(BIN)/pip install --no-deps spandrel==0.4.2 spandrel-extra-arches==0.2.0
	touch $@

$(TEST_STAMP): $(STAMP)
	$(BIN)/pip install -e ".[test]"
	touch $@

setup: $(STAMP)

run: $(STAMP)
	$(BIN)/python main.py $(ARGS)

test: $(TEST_STAMP)
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) build dist *.egg-info

# The one-folder app bundle dist/SISR Studio/ (pyinstaller.spec); check it with packaging/check_bundle.py.
PACKAGE_STAMP := $(VENV)/.installed-package
.PHONY: package

$(PACKAGE_STAMP): $(STAMP)
	$(BIN)/pip install -e ".[package]"
	touch $@

package: $(PACKAGE_STAMP)
	$(BIN)/pyinstaller --noconfirm pyinstaller.spec
	@du -sh "dist/SISR Studio"
