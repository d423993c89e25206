# swift-postcopy: the commands a person runs. See README.md.
SWIFT ?= swift
# System packages: the two the build links against (found with pkg-config),
# iproute2 for the tests that put source and destination in network namespaces,
# and procps (pgrep, pkill) for Tests/run-with-deadline.sh.
SYSTEM_PACKAGES := liburing-dev libelf-dev pkg-config iproute2 procps

.PHONY: all deps build test tsan demo bench fuzz soak clean

all: build

# Installs the system packages when any is missing (Debian; needs root).
deps:
	@missing=""; \
	for package in $(SYSTEM_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$package 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$package"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $$missing; \
	fi

build: deps
	$(SWIFT) build

# The whole test suite. userfaultfd tests need root (CI runs as root).
# Bounded by TEST_DEADLINE_SECONDS (it takes well under a minute on 2 CPUs):
# past it, Tests/run-with-deadline.sh says where every thread waits and stops
# the run. stdbuf keeps standard output line by line when it goes to a pipe,
# so what a stopped run printed last is what it did last.
TEST_DEADLINE_SECONDS ?= 900
test: deps
	$(SWIFT) build --build-tests
	Tests/run-with-deadline.sh $(TEST_DEADLINE_SECONDS) stdbuf -oL $(SWIFT) test --skip-build --disable-xctest

# The whole test suite under ThreadSanitizer, in its own build directory.
# POSTCOPY_TSAN swaps LockedValue's Mutex for a pthread mutex TSan can see.
# Tests run one at a time: TSan makes each several times slower, and many at
# once on 2 CPUs starve each other past the watchdog. Any report fails the run
# (exit 66). SWIFT_BACKTRACE=enable=no leaves the signals of children that
# are meant to die (SIGBUS, SIGSEGV) to the kernel.
TSAN_TIMEOUT_SECONDS ?= 2400
tsan: deps
	$(SWIFT) build --build-tests --sanitize thread -Xswiftc -DPOSTCOPY_TSAN --scratch-path .build-tsan
	SWIFT_BACKTRACE=enable=no POSTCOPY_TEST_WATCHDOG_SECONDS=600 \
	  TSAN_OPTIONS="halt_on_error=1 exitcode=66 handle_segv=0 handle_sigbus=0" \
	  Tests/run-with-deadline.sh $(TSAN_TIMEOUT_SECONDS) stdbuf -oL \
	  .build-tsan/debug/swift-postcopyPackageTests.xctest --testing-library swift-testing --no-parallel

# The main job on its built-in default: a 1 GiB region migrated between two
# processes (release build). DEMO_ARGS adds options, e.g. DEMO_ARGS="--size 4G".
demo: deps
	$(SWIFT) build -c release --product postcopy
	.build/release/postcopy demo $(DEMO_ARGS)

# Benchmarks live in their own package so tests never build them. The whole
# suite: uffd-bench (local faults, scan, codec, floors), postcopy bench-faults
# (fault latency inside a migration against the C floors), the migration sweep
# (1-8 GiB, free 0/0.5/0.9, skipping on and off; needs ~20 GiB of memory), and
# the plots (matplotlib, installed with pip if missing). See bench/RESULTS.md.
bench: deps
	$(SWIFT) build -c release --product postcopy
	cd bench && $(SWIFT) build -c release && .build/release/uffd-bench
	.build/release/postcopy bench-faults --pages 16384 --rounds 5 --json bench/results/bench-faults.json
	cd bench && python3 migration-sweep.py
	python3 -c "import matplotlib" 2>/dev/null || pip install matplotlib
	cd bench && python3 plot.py

# The soak test alone, for many rounds, bounded by SOAK_SECONDS.
SOAK_SECONDS ?= 120
soak: deps
	$(SWIFT) build --build-tests
	POSTCOPY_SOAK_ROUNDS=100000 POSTCOPY_SOAK_SECONDS=$(SOAK_SECONDS) \
	  $(SWIFT) test --skip-build --disable-xctest --filter SoakTests

# libFuzzer over the wire frame decoder and the bitmap codec, from the committed
# seed corpus, for a fixed number of inputs (FUZZ_RUNS). Inputs it finds
# interesting go to fuzz/.build-corpus, never into the committed seeds.
# --sanitize instruments the fuzz target alone; -Xswiftc/-Xcc instrument the
# library's modules too, or libFuzzer runs blind (4 counters, not ~29,000).
FUZZ_RUNS ?= 200000
fuzz: deps
	cd fuzz && $(SWIFT) build --sanitize fuzzer --sanitize address \
	  -Xswiftc -sanitize=fuzzer,address -Xcc -fsanitize=fuzzer-no-link,address --product fuzz-decoders
	mkdir -p fuzz/.build-corpus
	fuzz/.build/debug/fuzz-decoders -runs=$(FUZZ_RUNS) -max_len=16384 -timeout=10 \
	  -artifact_prefix=fuzz/.build-corpus/ fuzz/.build-corpus fuzz/corpus

clean:
	rm -rf .build bench/.build
