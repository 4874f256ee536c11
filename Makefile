# The two commands of the README: `make bench` and `make test`. Everything else is a helper.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.edgelab-installed
BENCH_MODELS := ppocr_cls,face_landmark
BENCH_VARIANTS := fp32,fp16,int8,int8-dynamic,int8-weight
PYTEST_WORKERS ?= 2

.PHONY: bench test install system-deps models variants clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --disable-pip-version-check -q --upgrade pip
	$(BIN)/pip install --disable-pip-version-check -q -e '.[engines,coreml,convert,test,ios]'
	# --no-deps: pnnx's and onnx2torch's declared dependencies pull torchvision/a second torch;
	# litert-torch/litert-converter pin xdsl, whose typing-extensions<4.13 pin sends pip's resolver
	# backtracking for >10 min (their other dependencies are in the convert extra, pyproject.toml)
	$(BIN)/pip install --disable-pip-version-check -q --no-deps 'pnnx>=20240410' 'onnx2torch>=1.5' \
	  'litert-torch>=0.10,<0.11' 'litert-converter>=0.5,<0.6' 'xdsl==0.28.0'
	touch $(STAMP)

install: $(STAMP)

models: $(STAMP)
	$(BIN)/python -m harness models fetch --model ppocr_cls --model face_landmark

variants: models
	$(BIN)/python -m harness models build --model ppocr_cls --model face_landmark

# Run the lab's suites on this machine and print where the report is. Cells that fail (e.g. a
# variant whose outputs drift from FP32) are findings recorded in the report, so pytest's exit 1
# does not fail `make bench`; usage errors, internal errors, "no tests ran", edgelab's 6 (nothing
# measured) and 7 (report not written) do (docs/foundation.md, "How a run ends").
bench: variants
	$(BIN)/python -m pytest suites/ --device=host --model=$(BENCH_MODELS) \
	  --variant=$(BENCH_VARIANTS) -p no:cacheprovider -q; rc=$$?; \
	  echo "report: $$(readlink -f reports/latest)/report.html"; \
	  test $$rc -le 1

# System packages the integration and browser tests drive (real adb server, real Chromium, and
# mksh, Android's shell, which runs the phone sampler's script in tests/unit/test_telemetry_script.py).
# Installed only when missing and when we may (root + apt); otherwise those tests say why they skip.
system-deps:
	@missing=""; command -v adb >/dev/null || missing="$$missing adb"; \
	 command -v mksh >/dev/null || missing="$$missing mksh"; \
	 test -x /usr/bin/chromium || missing="$$missing chromium"; \
	 if [ -n "$$missing" ]; then \
	   if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	     echo "installing system packages:$$missing"; \
	     (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null) \
	       || echo "warning: could not install$$missing"; \
	   else echo "note: missing$$missing (not root / no apt): the tests needing them will skip"; fi; \
	 fi

# The harness's own tests. pytest's exit code 5 (no tests ran) is a failure here too. The
# per-test timeout (pytest-timeout) is set here, not in pyproject: suites/ share that ini file and
# a long benchmark cell on a slow phone must not be killed by it.
test: models system-deps
	$(BIN)/python -m pytest tests -p no:cacheprovider -n $(PYTEST_WORKERS) --dist loadgroup -q --timeout 600 \
	  -m "not device"; rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "error: no tests ran"; exit 1; fi; exit $$rc

clean:
	rm -rf $(VENV) reports/2* reports/latest models/build
