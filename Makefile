# Sync Analyzer — every target sets up what it needs on a fresh Debian machine with Python 3.11.
VENV   ?= .venv
PY     := $(VENV)/bin/python
HOST   ?= 0.0.0.0
PORT   ?= 8000
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
APT    := DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get

.PHONY: run worker test bench lint system-deps test-deps demo clean

$(VENV)/.installed: requirements.txt requirements-dev.txt
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements-dev.txt
	touch $@

## AI models (issue 7), for test and bench only: torch (CPU wheel on disk), transformers,
## onnxruntime, tensorflow + tensorflow-hub; silero-vad/basic-pitch --no-deps for their ONNX files.
$(VENV)/.installed-ai: $(VENV)/.installed requirements-ai.txt requirements-ai-nodeps.txt
	$(PY) -m pip install -q -r requirements-ai.txt
	$(PY) -m pip install -q --no-deps -r requirements-ai-nodeps.txt
	touch $@

## ffmpeg/ffprobe are the engine's decoders: installed with apt-get when missing.
system-deps:
	@command -v ffmpeg >/dev/null && command -v ffprobe >/dev/null || \
	  ($(APT) update -qq && $(APT) install -y -qq ffmpeg)

## the tests also speak dialogue with espeak-ng and mix real recordings that Debian ships;
## the dashboard test (tests/browser) drives Debian's chromium with Playwright and Debian's
## firefox-esr over Marionette (marionette-driver), no browser download.
## tests/scaleout starts real redis-server and PostgreSQL servers (and Celery workers) itself.
TEST_APT := espeak-ng tomatoes-data pushover-data boswars-data sound-theme-freedesktop chromium \
            firefox-esr redis-server postgresql
test-deps: system-deps
	@dpkg -s $(TEST_APT) >/dev/null 2>&1 || ($(APT) update -qq && $(APT) install -y -qq $(TEST_APT))

## start the service: python main.py runs uvicorn on HOST:PORT of the settings (.env, see
## .env.example; default 0.0.0.0:8000); make run HOST=127.0.0.1 PORT=9000 overrides them.
RUN_ENV := $(if $(filter command line,$(origin HOST)),HOST=$(HOST)) \
           $(if $(filter command line,$(origin PORT)),PORT=$(PORT))
run: system-deps $(VENV)/.installed
	$(RUN_ENV) $(PY) main.py

## a Celery worker for JOB_BACKEND=celery (README "Scaling out"): make worker QUEUES=gpu CONCURRENCY=1
QUEUES      ?= analysis
CONCURRENCY ?= 2
worker: system-deps $(VENV)/.installed
	$(VENV)/bin/celery -A app.worker worker -Q $(QUEUES) --concurrency $(CONCURRENCY) -l INFO

test: test-deps $(VENV)/.installed $(VENV)/.installed-ai
	$(PY) -m pytest -q

bench: test-deps $(VENV)/.installed
	$(PY) bench/run.py $(BENCH_ARGS)

lint: $(VENV)/.installed
	$(PY) -m ruff check .
	$(PY) -m mypy app

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache
