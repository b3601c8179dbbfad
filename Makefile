# Two entry points for a fresh machine: `make demo` and `make test`. Both set everything up first.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.ior-installed
DEMO_MODEL ?= runs/minilm-rt-cpu
DEMO_N     ?= 200
DEMO_WORKERS ?= 2
DEMO_IMAGE_MODEL ?= runs/cnn-fmnist
DEMO_IMAGE_N     ?= 500
PIP    := $(BIN)/python -m pip -q --disable-pip-version-check

.PHONY: setup data test demo demo-images bench clean

setup: $(STAMP)

# torch first and pinned: on these machines 2.13.0 is a local CPU build; an unpinned torch pulls CUDA.
$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install torch==2.13.0
	$(PIP) install -e ".[test]"
	# torchattacks declares an unpinned torch (a CUDA build here); it needs only torch, numpy, scipy, tqdm.
	$(PIP) install --no-deps torchattacks==3.5.1
	touch $(STAMP)

data: setup
	$(BIN)/ior data prepare

test: data
	$(BIN)/python -m pytest -q

# The cache then holds every resource of the four attacks (BAE's masked LM included).
demo: data
	$(BIN)/ior resources build-mlm
	$(BIN)/ior train --preset cpu --out $(DEMO_MODEL)
	$(BIN)/ior audit --model $(DEMO_MODEL) --dataset rt \
		--serve-temperature 1 0.01 1e6 --names baseline up-conf down-conf \
		--attack deepwordbug pwws --n-examples $(DEMO_N) --workers $(DEMO_WORKERS) --out demo

# The image twin of `make demo`: a Fashion-MNIST CNN served at T_d = 1, 0.01 and 1e6, attacked with
# PGD (cross-entropy: the loss a temperature can blind) and APGD-DLR (a ratio of logit gaps: it cannot).
demo-images: data
	$(BIN)/ior train --dataset fashion-mnist --arch cnn --out $(DEMO_IMAGE_MODEL)
	$(BIN)/ior audit --model $(DEMO_IMAGE_MODEL) --dataset fashion-mnist \
		--serve-temperature 1 0.01 1e6 --names baseline up-conf down-conf \
		--attack pgd apgd-dlr --n-examples $(DEMO_IMAGE_N) --n-opt 100 --out results/images

bench: data
	$(BIN)/python bench/attack_speed.py --model $(DEMO_MODEL)

clean:
	rm -rf $(VENV) demo runs .pytest_cache
