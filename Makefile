# A thin driver around CMake. Targets: deps, build, demo, test (stages
# test-default, test-asan, test-tsan, test-fuzz, test-valgrind, test-abi),
# abi-baseline, fuzz, stress, format, format-check, clean. Build trees live under
# build/: default (RelWithDebInfo), asan and tsan (Debug), fuzz (clang).

BUILD_DIR := build
JOBS      ?= 2
CMAKE_CONFIGURE := cmake -G "Unix Makefiles" -S .
CTEST_FLAGS := --output-on-failure --no-tests=error
FORMAT_FILES = $(shell find core tests examples -name '*.[ch]' 2>/dev/null)

.PHONY: all deps build demo test abi-baseline format format-check clean \
        test-default test-asan test-tsan test-valgrind test-abi

all: build

deps:
	scripts/install-deps.sh

build: deps
	$(CMAKE_CONFIGURE) -B $(BUILD_DIR)/default -DCMAKE_BUILD_TYPE=RelWithDebInfo
	cmake --build $(BUILD_DIR)/default -j$(JOBS)

demo: build
	scripts/demo.sh $(BUILD_DIR)/default

# The test stages, in order; the first that fails stops the run.
TEST_STAGES := test-default test-asan test-tsan test-fuzz test-valgrind test-abi test-matrix bench-quick

test: deps
	@for stage in $(TEST_STAGES); do \
	  echo "==> $$stage"; \
	  if $(MAKE) --no-print-directory $$stage; then \
	    echo "test: stage $${stage#test-} passed"; \
	  else \
	    echo "test: stage $${stage#test-} FAILED"; exit 1; \
	  fi; \
	done; \
	echo "test: all stages passed"

# (a) Every CTest test of the default build but the ABI check and the matrix
# (label matrix: its own stage, test-matrix).
test-default: build
	cd $(BUILD_DIR)/default && ctest $(CTEST_FLAGS) -j$(JOBS) -LE 'abi|matrix'

# (b) AddressSanitizer and UBSan; the install and ABI tests need a plain build.
test-asan: deps
	$(CMAKE_CONFIGURE) -B $(BUILD_DIR)/asan -DCMAKE_BUILD_TYPE=Debug \
	  -DXF_SANITIZE=address,undefined
	cmake --build $(BUILD_DIR)/asan -j$(JOBS)
	cd $(BUILD_DIR)/asan && UBSAN_OPTIONS=print_stacktrace=1 \
	  ctest $(CTEST_FLAGS) -j$(JOBS) -LE 'install|abi'

# (c) ThreadSanitizer on the C suites and the short stress run.
test-tsan: deps
	$(CMAKE_CONFIGURE) -B $(BUILD_DIR)/tsan -DCMAKE_BUILD_TYPE=Debug -DXF_SANITIZE=thread
	cmake --build $(BUILD_DIR)/tsan -j$(JOBS)
	cd $(BUILD_DIR)/tsan && TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" \
	  ctest $(CTEST_FLAGS) -j$(JOBS) -L 'csuite|stress'

# (d) valgrind memcheck on the C suites of the default build.
test-valgrind: build
	tests/valgrind.sh $(BUILD_DIR)/default

# (e) The ABI against the committed baseline.
test-abi: build
	cd $(BUILD_DIR)/default && ctest $(CTEST_FLAGS) -L abi

# The MPI executor's tests alone (label mpi: C and Python, under mpirun with
# 3 and 4 ranks); test-default and test-asan run them too.
.PHONY: test-mpi
test-mpi: build
	cd $(BUILD_DIR)/default && ctest $(CTEST_FLAGS) -L mpi

# The scenario matrix: every scenario of tests/matrix in every language, a
# table on stdout, report.html and junit.xml in build/default/matrix.
.PHONY: matrix test-matrix
matrix: build
	/usr/bin/python3 tests/matrix/run.py --build $(BUILD_DIR)/default

test-matrix: matrix

abi-baseline: build
	tests/abi/abi-check.sh $(BUILD_DIR)/default --update

format:
	$(if $(FORMAT_FILES),clang-format -i $(FORMAT_FILES))

format-check:
	$(if $(FORMAT_FILES),clang-format --dry-run --Werror $(FORMAT_FILES))

clean:
	rm -rf $(BUILD_DIR)

# The benchmarks (bench/run.py says what runs; the report and plots land in
# build/bench). bench: full sizes; bench-quick: small sizes, checking only
# that every benchmark runs and reports (the last stage of test).
BENCH_CONFIGURE = $(CMAKE_CONFIGURE) -B $(BUILD_DIR)/bench -DCMAKE_BUILD_TYPE=Release \
  -DXF_BENCH=ON -DXF_TESTS=OFF -DXF_EXAMPLES=OFF

.PHONY: bench bench-quick
bench: deps
	$(BENCH_CONFIGURE)
	cmake --build $(BUILD_DIR)/bench -j$(JOBS)
	/usr/bin/python3 bench/run.py --build $(BUILD_DIR)/bench

bench-quick: deps
	$(BENCH_CONFIGURE)
	cmake --build $(BUILD_DIR)/bench -j$(JOBS)
	/usr/bin/python3 bench/run.py --build $(BUILD_DIR)/bench --quick

# The report, its charts and its check in headless Chromium again, from the
# results of the last bench or bench-quick run, without measuring anything.
.PHONY: bench-report
bench-report:
	/usr/bin/python3 scripts/bench-report.py --build $(BUILD_DIR)/bench
	/usr/bin/python3 scripts/check-report.py --build $(BUILD_DIR)/bench

# The fuzzers of tests/fuzz (see its README.md), built with clang in
# build/fuzz. fuzz: each runs for a bounded time on its copy of the seed
# corpus (FUZZ_OPS_SECONDS for the operation-sequence fuzzer, FUZZ_SECONDS
# for the others) and any finding fails, with the reproducer's path.
# test-fuzz: the seeds replayed by CTest, then a minute of each fuzzer.
FUZZ_DIR := $(BUILD_DIR)/fuzz
FUZZ_OPS_SECONDS ?= 600
FUZZ_SECONDS ?= 180
FUZZ_CONFIGURE = CC=clang $(CMAKE_CONFIGURE) -B $(FUZZ_DIR) -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DXF_FUZZ=ON -DXF_PYTHON=OFF -DXF_LUA=OFF -DXF_NODE=OFF -DXF_EXAMPLES=OFF -DXF_TESTS=OFF

.PHONY: fuzz-build fuzz test-fuzz
fuzz-build: deps
	$(FUZZ_CONFIGURE)
	cmake --build $(FUZZ_DIR) -j$(JOBS) --target fuzz_ops fuzz_signature fuzz_value

fuzz: fuzz-build
	tests/fuzz/run.sh $(FUZZ_DIR) fuzz_ops:$(FUZZ_OPS_SECONDS) \
	  fuzz_signature:$(FUZZ_SECONDS) fuzz_value:$(FUZZ_SECONDS)

test-fuzz: fuzz-build
	cd $(FUZZ_DIR) && ctest $(CTEST_FLAGS) -L fuzz
	$(MAKE) --no-print-directory fuzz FUZZ_SECONDS=60 FUZZ_OPS_SECONDS=60

# The stress program of tests/stress, full size (10 million operations on 4
# threads; STRESS_ARGS adds options such as --ops, --threads, --seed), from
# a Release build in build/stress. CTest runs a short version (label
# stress) in the other builds.
STRESS_ARGS ?=
.PHONY: stress
stress: deps
	$(CMAKE_CONFIGURE) -B $(BUILD_DIR)/stress -DCMAKE_BUILD_TYPE=Release \
	  -DXF_PYTHON=OFF -DXF_LUA=OFF -DXF_NODE=OFF -DXF_EXAMPLES=OFF
	cmake --build $(BUILD_DIR)/stress -j$(JOBS) --target xf_stress
	$(BUILD_DIR)/stress/tests/stress/stress $(STRESS_ARGS)
