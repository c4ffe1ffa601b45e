# ContextStore: build, test and tooling entry points. `make` lists them.

SHELL := /bin/bash
.DEFAULT_GOAL := help

SWIFT ?= $(shell command -v swift)
CLANG ?= $(shell command -v clang)
CLANG_FORMAT ?= $(shell command -v clang-format)
SWIFT_FORMAT ?= $(shell command -v swift-format)
# Extra arguments for every `swift build` / `swift test`, e.g. --scratch-path DIR.
SWIFTPM_FLAGS ?=
# Root needs no sudo (CI runs as root); anyone else does.
SUDO ?= $(if $(filter 0,$(shell id -u)),,sudo)

# Debian packages the build and the benchmark plots need.
DEPS_PACKAGES := libjemalloc-dev gnuplot-nox

# ---------------------------------------------------------------- the C harness
C_INCLUDE := Sources/CContextStore/include
C_SOURCES = $(wildcard Sources/CContextStore/*.c)
C_HEADERS = $(wildcard Sources/CContextStore/*.h $(C_INCLUDE)/*.h)
TEST_C_SOURCES = $(wildcard Tests/C/*.c)
TEST_C_HEADERS = $(wildcard Tests/C/*.h)
TEST_C_BUILD := Tests/C/build
TEST_C_BIN := $(TEST_C_BUILD)/test_core
TEST_C_TSAN_BIN := $(TEST_C_BUILD)/test_core_tsan

# The C harness and the fuzzer build the core with CTXS_CHECK_INVARIANTS
# (the trie's checker, shape introspection, and a check after every write
# of a map of up to 1,024 entries) and the jemalloc backend. Another
# CTXS_DEFAULT_BACKEND (a ctxs_backend value) can be tried with
# TEST_CDEFS=-DCTXS_DEFAULT_BACKEND=CTXS_BACKEND_MALLOC.
TEST_CDEFS ?=
TEST_CFLAGS := $(TEST_CDEFS) -std=c11 -g -O1 -Wall -Wextra -Werror -DCTXS_WITH_JEMALLOC -DCTXS_CHECK_INVARIANTS \
	-I$(C_INCLUDE)
ASAN_CFLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all
TSAN_CFLAGS := -fsanitize=thread
TEST_LDLIBS := -ljemalloc -lpthread
# lld when the toolchain has it (gold floods sanitizer builds with warnings).
TEST_LDFLAGS := $(if $(shell command -v ld.lld),-fuse-ld=lld)
# The Swift toolchain's TSan runtime carries libdispatch interceptors, so a C
# program linked with it needs the toolchain's libdispatch and BlocksRuntime.
TOOLCHAIN_LIBDIR := $(abspath $(dir $(realpath $(CLANG)))/../lib/swift/linux)
comma := ,
TSAN_LDFLAGS := $(if $(wildcard $(TOOLCHAIN_LIBDIR)/libdispatch.so),\
	-L$(TOOLCHAIN_LIBDIR) -Wl$(comma)-rpath$(comma)$(TOOLCHAIN_LIBDIR) -ldispatch -lBlocksRuntime)

ASAN_ENV := ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
TSAN_ENV := TSAN_OPTIONS=$${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1}

.PHONY: help deps build test test-c test-c-tsan tsan asan fuzz fuzz-replay fuzz-coverage fuzz-baggage fuzz-baggage-replay load example soak bench bench-fork bench-ratios bench-memory bench-backends bench-python bench-check bench-thresholds callgrind docs format format-check clean

help: ## List the targets
	@echo "ContextStore: make TARGET"
	@echo
	@grep -E '^[a-z][a-z-]*:.*## ' $(MAKEFILE_LIST) | \
		awk 'BEGIN { FS = ":.*## " } { printf "  %-19s %s\n", $$1, $$2 }'
	@echo
	@echo "Variables: SWIFT=$(SWIFT) CLANG=$(CLANG) SWIFTPM_FLAGS=$(SWIFTPM_FLAGS)"

deps: ## Install libjemalloc-dev and gnuplot-nox when missing
	@missing=""; \
	for p in $(DEPS_PACKAGES); do \
		dpkg -s "$$p" 2>/dev/null | grep -q '^Status: install ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -z "$$missing" ]; then \
		echo "deps: all present ($(DEPS_PACKAGES))"; \
	else \
		echo "deps: installing$$missing"; \
		$(SUDO) apt-get update && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $$missing; \
	fi

build: ## Build the Swift package
	$(SWIFT) build $(SWIFTPM_FLAGS)

test: deps ## All Swift tests, then the C harness under ASan+UBSan+LSan
	$(SWIFT) test $(SWIFTPM_FLAGS)
	$(MAKE) --no-print-directory test-c

$(TEST_C_BUILD):
	mkdir -p $@

$(TEST_C_BIN): $(C_SOURCES) $(C_HEADERS) $(TEST_C_SOURCES) $(TEST_C_HEADERS) Makefile | $(TEST_C_BUILD)
	@test -n "$(C_SOURCES)" || { echo "no Sources/CContextStore/*.c to test" >&2; exit 1; }
	$(CLANG) $(TEST_CFLAGS) $(ASAN_CFLAGS) $(C_SOURCES) $(TEST_C_SOURCES) -o $@ \
		$(TEST_LDFLAGS) $(TEST_LDLIBS)

$(TEST_C_TSAN_BIN): $(C_SOURCES) $(C_HEADERS) $(TEST_C_SOURCES) $(TEST_C_HEADERS) Makefile | $(TEST_C_BUILD)
	@test -n "$(C_SOURCES)" || { echo "no Sources/CContextStore/*.c to test" >&2; exit 1; }
	$(CLANG) $(TEST_CFLAGS) $(TSAN_CFLAGS) $(C_SOURCES) $(TEST_C_SOURCES) -o $@ \
		$(TEST_LDFLAGS) $(TSAN_LDFLAGS) $(TEST_LDLIBS)

test-c: deps $(TEST_C_BIN) ## The pure-C harness under ASan+UBSan with LeakSanitizer
	$(ASAN_ENV) ./$(TEST_C_BIN)

test-c-tsan: deps $(TEST_C_TSAN_BIN) ## The pure-C harness under ThreadSanitizer
	$(TSAN_ENV) ./$(TEST_C_TSAN_BIN)

tsan: ## Swift tests under ThreadSanitizer
	$(SWIFT) test --sanitize=thread $(SWIFTPM_FLAGS)

asan: ## Swift tests under AddressSanitizer (leak checks off: the runtime leaks)
	ASAN_OPTIONS=detect_leaks=0 $(SWIFT) test --sanitize=address $(SWIFTPM_FLAGS)

# ---------------------------------------------------------------- the example
EXAMPLE_DIR := Examples/RequestIDServer
# Extra arguments for the example's `swift test` (SWIFTPM_FLAGS name paths of the root package).
EXAMPLE_SWIFTPM_FLAGS ?=

example: ## The example server's end-to-end test over HTTP (builds Hummingbird and AsyncHTTPClient: minutes)
	cd $(EXAMPLE_DIR) && $(SWIFT) test $(EXAMPLE_SWIFTPM_FLAGS)

VAPOR_EXAMPLE_DIR := Examples/VaporRequestID

.PHONY: example-vapor
example-vapor: ## The Vapor example's end-to-end test over HTTP (builds Vapor: several minutes)
	cd $(VAPOR_EXAMPLE_DIR) && $(SWIFT) test $(EXAMPLE_SWIFTPM_FLAGS)

OTEL_EXAMPLE_DIR := Examples/OTelBaggage

.PHONY: example-otel
example-otel: ## swift-otel's tracer beside W3CBaggagePropagator, end to end over HTTP (builds swift-otel: minutes)
	cd $(OTEL_EXAMPLE_DIR) && $(SWIFT) test $(EXAMPLE_SWIFTPM_FLAGS)

# A load test of the example server: not part of CI (minutes), like the soak.
# Scripts/load.py says what it checks; aiohttp is installed if missing.
LOAD_REQUESTS ?= 30000
LOAD_CONCURRENCY ?= 300

.PHONY: load
load: ## Load test: the example server (release) under LOAD_REQUESTS requests, LOAD_CONCURRENCY at a time, every id checked
	@python3 -c "import aiohttp" 2>/dev/null || python3 -m pip install --quiet aiohttp
	cd $(EXAMPLE_DIR) && $(SWIFT) build -c release --product RequestIDServer
	python3 Scripts/load.py "$$(cd $(EXAMPLE_DIR) && $(SWIFT) build -c release --show-bin-path)/RequestIDServer" \
		--requests $(LOAD_REQUESTS) --concurrency $(LOAD_CONCURRENCY)

# ------------------------------------------------------------ the soak test
SOAK_DIR := Soak

soak: ## The soak test (release; minutes): SOAK_SCOPES, SOAK_SECONDS, SOAK_CONCURRENCY, SOAK_SEED
	cd $(SOAK_DIR) && $(SWIFT) build -c release $(SWIFTPM_FLAGS)
	cd $(SOAK_DIR) && "$$($(SWIFT) build -c release --show-bin-path $(SWIFTPM_FLAGS))/ContextStoreSoak"
# ------------------------------------------------------------ the fuzzer
# Tests/Fuzz/fuzz_core.c (with every other .c file there: FUZZ_SOURCES) checks
# the C core against a reference model under libFuzzer with ASan+UBSan
# (LeakSanitizer on). corpus/ is checked in and kept minimal; crashes/ holds
# every input that ever found a bug (CI replays both); build/ is scratch.
FUZZ_DIR := Tests/Fuzz
FUZZ_BUILD := $(FUZZ_DIR)/build
FUZZ_BIN := $(FUZZ_BUILD)/fuzz_core
FUZZ_COV_BIN := $(FUZZ_BUILD)/fuzz_core_cov
FUZZ_SOURCES = $(wildcard $(FUZZ_DIR)/*.c)
FUZZ_HEADERS = $(wildcard $(FUZZ_DIR)/*.h)
FUZZ_CORPUS := $(FUZZ_DIR)/corpus
FUZZ_CRASHES := $(FUZZ_DIR)/crashes
FUZZ_INPUTS = $(wildcard $(FUZZ_CORPUS) $(FUZZ_CRASHES))
# Seconds `make fuzz` runs, its niceness, and extra libFuzzer flags.
FUZZ_TIME ?= 300
FUZZ_NICE ?= 10
FUZZ_FLAGS ?=
FUZZ_CFLAGS := $(TEST_CFLAGS) -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
COV_CFLAGS := $(TEST_CFLAGS) -fsanitize=fuzzer -fprofile-instr-generate -fcoverage-mapping
# Inputs up to 4 KiB; one taking 30 s is a finding (a hang).
FUZZ_RUN_FLAGS := -max_len=4096 -timeout=30
TOOLCHAIN_BINDIR := $(dir $(realpath $(CLANG)))
LLVM_PROFDATA ?= $(firstword $(wildcard $(TOOLCHAIN_BINDIR)llvm-profdata) llvm-profdata)
LLVM_COV ?= $(firstword $(wildcard $(TOOLCHAIN_BINDIR)llvm-cov) llvm-cov)

$(FUZZ_BUILD):
	mkdir -p $@

$(FUZZ_BIN): $(C_SOURCES) $(C_HEADERS) $(FUZZ_SOURCES) $(FUZZ_HEADERS) Makefile | $(FUZZ_BUILD)
	$(CLANG) $(FUZZ_CFLAGS) $(C_SOURCES) $(FUZZ_SOURCES) -o $@ $(TEST_LDFLAGS) $(TEST_LDLIBS)

$(FUZZ_COV_BIN): $(C_SOURCES) $(C_HEADERS) $(FUZZ_SOURCES) $(FUZZ_HEADERS) Makefile | $(FUZZ_BUILD)
	$(CLANG) $(COV_CFLAGS) $(C_SOURCES) $(FUZZ_SOURCES) -o $@ $(TEST_LDFLAGS) $(TEST_LDLIBS)

fuzz: deps $(FUZZ_BIN) ## Fuzz the C core for FUZZ_TIME seconds (300), then re-minimise Tests/Fuzz/corpus
	rm -rf $(FUZZ_BUILD)/new $(FUZZ_BUILD)/merged
	mkdir -p $(FUZZ_BUILD)/new $(FUZZ_BUILD)/merged $(FUZZ_CORPUS) $(FUZZ_CRASHES)
	# New inputs go to build/new; a finding is written to crashes/ and fails the run.
	$(ASAN_ENV) nice -n $(FUZZ_NICE) ./$(FUZZ_BIN) $(FUZZ_RUN_FLAGS) -max_total_time=$(FUZZ_TIME) \
		-print_final_stats=1 -artifact_prefix=$(FUZZ_CRASHES)/ $(FUZZ_FLAGS) \
		$(FUZZ_BUILD)/new $(FUZZ_CORPUS)
	# A small set of inputs that covers what the old corpus and the new inputs did.
	$(ASAN_ENV) nice -n $(FUZZ_NICE) ./$(FUZZ_BIN) $(FUZZ_RUN_FLAGS) -set_cover_merge=1 \
		$(FUZZ_BUILD)/merged $(FUZZ_CORPUS) $(FUZZ_BUILD)/new
	find $(FUZZ_CORPUS) -type f -delete
	cp $(FUZZ_BUILD)/merged/* $(FUZZ_CORPUS)/
	@echo "fuzz: corpus now $$(ls $(FUZZ_CORPUS) | wc -l) files, $$(du -sk $(FUZZ_CORPUS) | cut -f1) KiB"

fuzz-replay: deps $(FUZZ_BIN) ## Run every input of Tests/Fuzz/corpus and Tests/Fuzz/crashes once; fail on any finding
	$(ASAN_ENV) ./$(FUZZ_BIN) $(FUZZ_RUN_FLAGS) -runs=0 $(FUZZ_INPUTS)

fuzz-coverage: deps $(FUZZ_COV_BIN) ## Line and branch coverage of the C core reached by replaying the fuzz inputs
	rm -f $(FUZZ_BUILD)/coverage.profraw
	LLVM_PROFILE_FILE=$(FUZZ_BUILD)/coverage.profraw ./$(FUZZ_COV_BIN) $(FUZZ_RUN_FLAGS) -runs=0 \
		$(FUZZ_INPUTS)
	$(LLVM_PROFDATA) merge -sparse $(FUZZ_BUILD)/coverage.profraw -o $(FUZZ_BUILD)/coverage.profdata
	$(LLVM_COV) report $(FUZZ_COV_BIN) -instr-profile=$(FUZZ_BUILD)/coverage.profdata $(C_SOURCES)

# ------------------------------------------------------------ the baggage fuzzer
# Tests/BaggageFuzz/BaggageFuzz.swift checks the W3C Baggage codec
# (W3CBaggage.parse and serialize) under libFuzzer with ASan: no crash; what
# parse keeps obeys the grammar and the limits, is written whole by
# serialize and parses back the same; parse agrees with a reference parser;
# and its counted work stays under a bound linear in the input and constant
# past the bytes it reads. The codec's files depend on nothing else, so
# swiftc compiles them with the target into one module (no package), which
# lets the target read the parser's step count. seeds/ holds hand-made
# inputs (the spec's examples, OpenTelemetry Python's headers, the limits,
# hostile ones; Tests/BaggageFuzz/make_seeds.py writes them) and is never
# rewritten; corpus/ is libFuzzer's, kept minimal; crashes/ holds every input
# that ever found a bug. CI replays all three. FUZZ_TIME, FUZZ_NICE and
# FUZZ_FLAGS are shared with `make fuzz`.
SWIFTC ?= $(shell command -v swiftc)
BAGGAGE_FUZZ_DIR := Tests/BaggageFuzz
BAGGAGE_FUZZ_BUILD := .build/baggage-fuzz
BAGGAGE_FUZZ_BIN := $(BAGGAGE_FUZZ_BUILD)/fuzz_baggage
BAGGAGE_CODEC_SOURCES := $(addprefix Sources/ContextStoreTracing/,\
	W3CBaggage.swift W3CBaggage+Codec.swift _BaggageOctets.swift _BaggageParser.swift)
BAGGAGE_FUZZ_SOURCES = $(wildcard $(BAGGAGE_FUZZ_DIR)/*.swift)
BAGGAGE_FUZZ_SEEDS := $(BAGGAGE_FUZZ_DIR)/seeds
BAGGAGE_FUZZ_CORPUS := $(BAGGAGE_FUZZ_DIR)/corpus
BAGGAGE_FUZZ_CRASHES := $(BAGGAGE_FUZZ_DIR)/crashes
BAGGAGE_FUZZ_INPUTS = $(wildcard $(BAGGAGE_FUZZ_SEEDS) $(BAGGAGE_FUZZ_CORPUS) $(BAGGAGE_FUZZ_CRASHES))
BAGGAGE_FUZZ_SWIFTFLAGS := -sanitize=fuzzer,address -parse-as-library -O -g -swift-version 6 -warnings-as-errors \
	-module-name BaggageFuzz $(if $(shell command -v ld.lld),-use-ld=lld)
# Inputs up to 20 KiB, past the 16 KiB parse reads, so that edge is fuzzed
# too; one taking 30 s is a finding (a hang). The Swift runtime's backtracer
# is off, so that a failed check is reported by libFuzzer alone.
BAGGAGE_FUZZ_RUN_FLAGS := -max_len=20480 -timeout=30
BAGGAGE_FUZZ_ENV := ASAN_OPTIONS=detect_leaks=1 SWIFT_BACKTRACE=enable=no

$(BAGGAGE_FUZZ_BUILD):
	mkdir -p $@

$(BAGGAGE_FUZZ_BIN): $(BAGGAGE_CODEC_SOURCES) $(BAGGAGE_FUZZ_SOURCES) Makefile | $(BAGGAGE_FUZZ_BUILD)
	$(SWIFTC) $(BAGGAGE_FUZZ_SWIFTFLAGS) $(BAGGAGE_CODEC_SOURCES) $(BAGGAGE_FUZZ_SOURCES) -o $@

fuzz-baggage: $(BAGGAGE_FUZZ_BIN) ## Fuzz the W3C Baggage codec for FUZZ_TIME seconds (300), then re-minimise its corpus
	rm -rf $(BAGGAGE_FUZZ_BUILD)/new $(BAGGAGE_FUZZ_BUILD)/merged
	mkdir -p $(BAGGAGE_FUZZ_BUILD)/new $(BAGGAGE_FUZZ_BUILD)/merged $(BAGGAGE_FUZZ_CORPUS) $(BAGGAGE_FUZZ_CRASHES)
	# New inputs go to build/new; a finding is written to crashes/ and fails the run.
	$(BAGGAGE_FUZZ_ENV) nice -n $(FUZZ_NICE) ./$(BAGGAGE_FUZZ_BIN) $(BAGGAGE_FUZZ_RUN_FLAGS) \
		-max_total_time=$(FUZZ_TIME) -print_final_stats=1 -artifact_prefix=$(BAGGAGE_FUZZ_CRASHES)/ $(FUZZ_FLAGS) \
		$(BAGGAGE_FUZZ_BUILD)/new $(BAGGAGE_FUZZ_CORPUS) $(BAGGAGE_FUZZ_SEEDS)
	# corpus/ becomes what the old corpus and the new inputs cover beyond the seeds.
	cp $(BAGGAGE_FUZZ_SEEDS)/* $(BAGGAGE_FUZZ_BUILD)/merged/
	$(BAGGAGE_FUZZ_ENV) nice -n $(FUZZ_NICE) ./$(BAGGAGE_FUZZ_BIN) $(BAGGAGE_FUZZ_RUN_FLAGS) -set_cover_merge=1 \
		$(BAGGAGE_FUZZ_BUILD)/merged $(BAGGAGE_FUZZ_CORPUS) $(BAGGAGE_FUZZ_BUILD)/new
	find $(BAGGAGE_FUZZ_CORPUS) -type f -delete
	for input in $(BAGGAGE_FUZZ_BUILD)/merged/*; do \
		test -e $(BAGGAGE_FUZZ_SEEDS)/$$(basename $$input) || cp $$input $(BAGGAGE_FUZZ_CORPUS)/; \
	done
	@echo "fuzz-baggage: corpus now $$(ls $(BAGGAGE_FUZZ_CORPUS) | wc -l) files, $$(du -sk $(BAGGAGE_FUZZ_CORPUS) | cut -f1) KiB"

fuzz-baggage-replay: $(BAGGAGE_FUZZ_BIN) ## Run every input of Tests/BaggageFuzz/{seeds,corpus,crashes} once; fail on any finding
	$(BAGGAGE_FUZZ_ENV) ./$(BAGGAGE_FUZZ_BIN) $(BAGGAGE_FUZZ_RUN_FLAGS) -runs=0 $(BAGGAGE_FUZZ_INPUTS)

# ------------------------------------------------------------ the benchmarks
BENCH_DIR := Benchmarks
BENCH_RAW := $(BENCH_DIR)/Results/raw
BENCH_VENV := $(BENCH_DIR)/.venv-bench
# BENCH_ENV: environment for the benchmark process itself (set after the
# cd, or it would apply to the cd alone).
BENCH_ENV ?=
BENCH_PLUGIN = cd $(BENCH_DIR) && $(BENCH_ENV) $(SWIFT) package --disable-sandbox --allow-writing-to-package-directory \
	benchmark --no-progress --format histogramSamples --path Results/raw
BACKEND_CFLAGS := -std=c11 -O2 -I$(C_INCLUDE)

bench: deps ## The benchmark suite (release): writes Benchmarks/RESULTS.md, the chart and the README summary
	rm -rf $(BENCH_RAW) && mkdir -p $(BENCH_RAW)
	$(BENCH_PLUGIN) --skip-target Memory --skip-target Fork --skip-target Request
	$(MAKE) --no-print-directory bench-fork bench-memory bench-backends bench-python bench-ratios
	python3 $(BENCH_DIR)/Scripts/report.py

# Fork runs on one CPU: on two vCPUs a task's create + await is bimodal
# (about 1.1 us when the child runs on the thread that awaits it, about
# 2 us when another worker takes it), and which mode each benchmark landed
# in varied from run to run, so medians compared modes, not costs.
# The first CPU this process may run on (CPU 0 may be outside a container's set).
BENCH_CPU = $(shell python3 -c 'import os; print(min(os.sched_getaffinity(0)))' 2>/dev/null || echo 0)
bench-fork: BENCH_ENV = taskset -c $(BENCH_CPU)
bench-fork: ## Scopes, tasks and the request workload, on one CPU (part of `make bench`)
	$(BENCH_PLUGIN) --target Fork --target Request

# The targets: each a ratio whose two sides run interleaved, round by round
# (Benchmarks/Sources/Ratios), on one CPU like the task benchmarks; CPython's
# side of the first-write targets runs in the venv of bench-python. Then reads
# under contention, on every CPU (reported, not a target).
#
# Two kinds of drift are not the machine's. Code placement: in an ordinary
# build a loop's alignment moved a ratio by up to 20% when unrelated code
# changed (run(inheriting: .copy), sync: 1.5 or 1.8 with the same library
# code, depending on another target's presence), so Ratios is built with every
# function aligned to 64 bytes and every branch target to 32 (both sides
# alike; its own build directory). Process layout (ASLR): each pass is a new
# process, and a target's figure is the median of RATIOS_PASSES passes
# (report.py), with the spread over all of them.
RATIOS_FLAGS ?= --rounds 11
RATIOS_PASSES ?= 3
RATIOS_BUILD = cd $(BENCH_DIR) && $(SWIFT) build -c release --build-path .build-aligned \
	-Xswiftc -Xllvm -Xswiftc -align-all-functions=6 -Xswiftc -Xllvm -Xswiftc -align-all-nofallthru-blocks=5 \
	-Xcc -falign-functions=64
bench-ratios: ## The targets as interleaved ratios, with their spread (part of `make bench`)
	mkdir -p $(BENCH_RAW)
	rm -f $(BENCH_RAW)/ratios.*.tsv
	test -x $(BENCH_VENV)/bin/python || python3 -m venv $(BENCH_VENV)
	$(RATIOS_BUILD) --product Ratios
	for pass in $$(seq 1 $(RATIOS_PASSES)); do \
		BENCH_PYTHON=$(abspath $(BENCH_VENV))/bin/python BENCH_REFERENCE=$(abspath $(BENCH_DIR))/Python/reference.py \
		taskset -c $(BENCH_CPU) "$$($(RATIOS_BUILD) --show-bin-path)/Ratios" \
			$(RATIOS_FLAGS) > $(BENCH_RAW)/ratios.$$pass.tsv || exit 1; \
	done
	"$$($(RATIOS_BUILD) --show-bin-path)/Ratios" --contention --rounds 11 \
		> $(BENCH_RAW)/contention.tsv

# Memory runs with glibc's thread cache off, so that mallinfo2 counts every
# allocation (a chunk reused from the cache does not move it).
bench-memory: BENCH_ENV = GLIBC_TUNABLES=glibc.malloc.tcache_count=0
bench-memory: ## Bytes per set and per key (part of `make bench`)
	$(BENCH_PLUGIN) --target Memory

bench-backends: deps ## The C core's allocator backends side by side (part of `make bench`)
	mkdir -p $(BENCH_RAW) $(TEST_C_BUILD)
	$(CLANG) $(BACKEND_CFLAGS) $(C_SOURCES) $(BENCH_DIR)/C/backends.c -o $(TEST_C_BUILD)/backends -lpthread
	$(CLANG) $(BACKEND_CFLAGS) -DCTXS_WITH_JEMALLOC $(C_SOURCES) $(BENCH_DIR)/C/backends.c \
		-o $(TEST_C_BUILD)/backends_jemalloc -ljemalloc -lpthread
	{ $(TEST_C_BUILD)/backends 1 2 && $(TEST_C_BUILD)/backends_jemalloc 3; } > $(BENCH_RAW)/backends.tsv

bench-python: ## CPython contextvars and aiotask-context 0.6.1, for reference (part of `make bench`)
	mkdir -p $(BENCH_RAW)
	test -x $(BENCH_VENV)/bin/python || python3 -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -c "import aiotask_context" 2>/dev/null || \
		$(BENCH_VENV)/bin/pip install --quiet aiotask-context==0.6.1
	$(BENCH_VENV)/bin/python $(BENCH_DIR)/Python/reference.py > $(BENCH_RAW)/python.tsv

bench-check: deps ## Fail if any benchmark allocates more than its threshold in Benchmarks/Thresholds
	rm -rf $(BENCH_RAW) && mkdir -p $(BENCH_RAW)
	$(BENCH_PLUGIN) --skip-target Memory --metric mallocCountTotal
	python3 $(BENCH_DIR)/Scripts/report.py --check

# Instructions per operation under callgrind: reproducible on a noisy VM,
# so a change to the core can show it costs nothing (CALLGRIND_OPS: which).
CALLGRIND_OPS ?=
callgrind: ## Instructions per operation (typed get, set + remove, replace, copy scope, ...) under callgrind
	cd $(BENCH_DIR) && $(SWIFT) build -c release --product InstructionCounts
	python3 $(BENCH_DIR)/Scripts/instructions.py \
		"$$(cd $(BENCH_DIR) && $(SWIFT) build -c release --show-bin-path)/InstructionCounts" $(CALLGRIND_OPS)

bench-thresholds: ## Record the last run's malloc counts as the thresholds
	python3 $(BENCH_DIR)/Scripts/report.py --write-thresholds

# ------------------------------------------------------------ documentation
DOCS_DIR := .build/docs
# The targets with a DocC catalog or public API worth a page; each gets an
# archive in $(DOCS_DIR)/<target>. Targets not in this package are skipped.
DOCS_TARGETS ?= ContextStore ContextStoreLogging ContextStoreTracing ContextStoreMetrics

docs: ## DocC archives (swift-docc-plugin) in .build/docs, failing on any DocC warning
	mkdir -p $(DOCS_DIR)
	@for target in $(DOCS_TARGETS); do \
		test -d Sources/$$target || { echo "docs: no target $$target, skipped"; continue; }; \
		echo "docs: $$target -> $(DOCS_DIR)/$$target"; \
		rm -rf $(DOCS_DIR)/$$target; \
		$(SWIFT) package $(SWIFTPM_FLAGS) --allow-writing-to-directory $(DOCS_DIR) \
			generate-documentation --target $$target --disable-indexing --warnings-as-errors \
			--output-path $(DOCS_DIR)/$$target || exit 1; \
	done

FORMAT_C_FILES = $(C_SOURCES) $(C_HEADERS) $(TEST_C_SOURCES) $(TEST_C_HEADERS) $(FUZZ_SOURCES) $(FUZZ_HEADERS)
FORMAT_SWIFT_DIRS = $(wildcard Sources Tests Benchmarks Examples Soak Package.swift)

format: ## Format C (clang-format) and Swift (swift-format) sources in place
	@if [ -n "$(CLANG_FORMAT)" ]; then \
		$(CLANG_FORMAT) -i --style=file $(FORMAT_C_FILES); \
	else \
		echo "format: clang-format not found (apt-get install clang-format); C files skipped"; \
	fi
	@if [ -n "$(SWIFT_FORMAT)" ]; then \
		$(SWIFT_FORMAT) format --in-place --recursive --parallel \
			--configuration .swift-format $(FORMAT_SWIFT_DIRS); \
	else \
		echo "format: swift-format not found; Swift files skipped"; \
	fi

format-check: ## Fail if any C or Swift source is not formatted
	@if [ -n "$(CLANG_FORMAT)" ]; then \
		$(CLANG_FORMAT) --dry-run -Werror --style=file $(FORMAT_C_FILES); \
	else \
		echo "format-check: clang-format not found; C files skipped"; \
	fi
	@if [ -n "$(SWIFT_FORMAT)" ]; then \
		$(SWIFT_FORMAT) lint --strict --recursive --parallel \
			--configuration .swift-format $(FORMAT_SWIFT_DIRS); \
	else \
		echo "format-check: swift-format not found; Swift files skipped"; \
	fi

clean: ## Remove build products
	rm -rf .build $(TEST_C_BUILD) $(FUZZ_BUILD) $(BENCH_DIR)/.build $(BENCH_RAW) $(EXAMPLE_DIR)/.build $(VAPOR_EXAMPLE_DIR)/.build $(OTEL_EXAMPLE_DIR)/.build $(SOAK_DIR)/.build
