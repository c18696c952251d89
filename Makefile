# deepsigns - build, test, run.
#   make            build build/deepsigns and build/libdeepsigns.a
#   make deps       install missing Debian packages (apt-get; as root or via sudo)
#   make test       build and run every test; ends with "N passed, N failed"
#   make run        deps + build + the default experiment on real data
#   make bench      throughput against PyTorch CPU, sgemm share, verify time, GEMM backends
#   make bench-gemm OpenBLAS, BLIS, libxsmm, oneDNN sgemm and oneDNN conv on our shapes
#   make SANITIZER=address|undefined ...   build with a sanitizer (separate build dir)
#   make V=1 ...    show the commands
#   make DNNL=0 ... convolutions on im2col + OpenBLAS instead of oneDNN
#   make fuzz FUZZ_SECONDS=N   libFuzzer targets (clang) in build-fuzz/, N s each (docs/fuzzing.md)
#   make valgrind   train, embed, attack, verify and their error paths under valgrind memcheck

CC ?= gcc
ifeq ($(origin CC),default)
CC = gcc
endif

HDF5_PC := $(shell pkg-config --exists hdf5 2>/dev/null && echo hdf5 || echo hdf5-serial)
PKGS := $(HDF5_PC) openblas libfyaml libsodium zlib ompi-c

OPT ?= -O3
# Target ISA (-march=$(ARCH)). The default is portable across the nodes of a
# cluster: x86-64-v2 (SSE4.2, POPCNT: Intel since Nehalem, 2008; AMD since 2011), so a binary
# built on a login node runs on older compute nodes; OpenBLAS and oneDNN pick their
# kernels for the CPU they run on at run time, whatever this says. ARCH=native
# tunes for the build machine (opt-in: it can die with SIGILL elsewhere); ARCH=
# (empty) passes no -march at all (the default on other than x86-64). Our own hot
# loops (ReLU, adds, batch norm) are compiled once per ISA and picked at load time
# (src/nn/clones.h), so the portable build keeps their AVX2/AVX-512 speed. Results
# do not depend on it (no FP contraction, no reassociation), only speed does
# (docs/performance.md, "Portable build"). Changing it rebuilds everything.
ARCH ?= $(if $(filter x86_64,$(shell uname -m)),x86-64-v2,)
ARCH_FLAGS := $(if $(strip $(ARCH)),-march=$(strip $(ARCH)),)
ifneq ($(ARCH_FLAGS),)
ifneq ($(shell $(CC) $(ARCH_FLAGS) -E -x c /dev/null -o /dev/null 2>/dev/null && echo ok),ok)
$(error ARCH=$(ARCH): $(CC) does not take $(ARCH_FLAGS) (e.g. ARCH=x86-64-v2, ARCH=native, or ARCH= for none))
endif
endif
WARN := -Wall -Wextra -Wshadow -Wno-unused-parameter -Wstrict-prototypes
CSTD := -std=c11 -ffp-contract=off -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE
DEPFLAGS = -MMD -MP

BUILD := build
SANITIZERS := address undefined address,undefined thread leak
ifneq ($(SANITIZER),)
ifeq ($(filter $(SANITIZER),$(SANITIZERS)),)
$(error SANITIZER=$(SANITIZER): expected one of $(SANITIZERS))
endif
BUILD := build-$(SANITIZER)
SANFLAGS := -fsanitize=$(SANITIZER) -fno-omit-frame-pointer -fno-sanitize-recover=all
endif

PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) gsl 2>/dev/null)
# GSL links against OpenBLAS for its CBLAS, never gslcblas.
GSL_LIBS := $(shell pkg-config --define-variable=GSL_CBLAS_LIB=-lopenblas --libs gsl 2>/dev/null)
PKG_LIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null) $(GSL_LIBS)

# Convolution backend (kernels.h, ds_conv_plan): DNNL=1 runs the conv nodes on
# oneDNN's primitives (libdnnl-dev, OpenMP pool pinned to OpenBLAS's thread
# count; the default: 1.15-1.35x faster CNN training than DNNL=0 on a Zen 5
# with AVX-512, measured side by side on our shapes); DNNL=0 on im2col + OpenBLAS sgemm. $(BUILD)/gen/backend.h
# records the choice, so switching rebuilds what depends on it.
DNNL ?= 1
ifeq ($(DNNL),1)
BACKEND_DEF := \#define DS_DNNL 1
BACKEND_LIBS := -ldnnl -lgomp
else
BACKEND_DEF := /* DS_DNNL off: im2col + OpenBLAS */
BACKEND_LIBS :=
endif

ALL_CFLAGS := $(CSTD) $(OPT) $(ARCH_FLAGS) -g $(WARN) $(SANFLAGS) -Iinclude -Isrc -I$(BUILD)/gen $(PKG_CFLAGS) $(CFLAGS)
ALL_LDFLAGS := $(SANFLAGS) $(LDFLAGS)
LIBS := $(PKG_LIBS) $(BACKEND_LIBS) -lm -lpthread

ifeq ($(V),1)
Q :=
else
Q := @
endif

LIB_SRC := $(sort $(wildcard src/core/*.c src/nn/*.c src/data/*.c src/io/*.c src/stats/*.c src/wm/*.c src/attack/*.c src/exp/*.c))
CLI_SRC := $(sort $(wildcard src/cli/*.c))
TEST_SRC := $(sort $(wildcard tests/test_*.c))
BENCH_SRC := $(sort $(wildcard tests/bench/*.c))

LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
CLI_OBJ := $(CLI_SRC:%.c=$(BUILD)/obj/%.o)
TEST_BIN := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
BENCH_BIN := $(BENCH_SRC:tests/bench/%.c=$(BUILD)/bench/%)

.PHONY: all deps test run bench bench-gemm clean check-deps tests valgrind
all: $(BUILD)/deepsigns

# The git revision recorded in results files: $(BUILD)/gen/git_rev.h is
# rewritten only when the revision (or its -dirty mark) changes, so only the
# objects that include it rebuild.
GIT_REV := $(shell git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)$(shell git diff --quiet HEAD -- 2>/dev/null || echo -dirty)
$(shell mkdir -p $(BUILD)/gen && echo '#define DS_GIT_REV "$(GIT_REV)"' > $(BUILD)/gen/git_rev.h.tmp && \
  (cmp -s $(BUILD)/gen/git_rev.h.tmp $(BUILD)/gen/git_rev.h || mv $(BUILD)/gen/git_rev.h.tmp $(BUILD)/gen/git_rev.h); \
  rm -f $(BUILD)/gen/git_rev.h.tmp)
$(shell mkdir -p $(BUILD)/gen && echo '$(BACKEND_DEF)' > $(BUILD)/gen/backend.h.tmp && \
  (cmp -s $(BUILD)/gen/backend.h.tmp $(BUILD)/gen/backend.h || mv $(BUILD)/gen/backend.h.tmp $(BUILD)/gen/backend.h); \
  rm -f $(BUILD)/gen/backend.h.tmp)

# The compiler flags of this build dir: rewritten when they change (another ARCH,
# OPT, SANITIZER or CFLAGS), so every object that depends on it rebuilds.
FLAGS_FILE := $(BUILD)/gen/cflags
$(shell mkdir -p $(BUILD)/gen && echo '$(CC) $(ALL_CFLAGS)' > $(FLAGS_FILE).tmp && \
  (cmp -s $(FLAGS_FILE).tmp $(FLAGS_FILE) || mv $(FLAGS_FILE).tmp $(FLAGS_FILE)); rm -f $(FLAGS_FILE).tmp)

$(BUILD)/obj/%.o: %.c $(FLAGS_FILE)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(ALL_CFLAGS) $(DEPFLAGS) -c $< -o $@

$(BUILD)/libdeepsigns.a: $(LIB_OBJ)
	@$(if $(Q),echo "  AR      $@")
	$(Q)rm -f $@ && ar rcs $@ $^

$(BUILD)/deepsigns: $(CLI_OBJ) $(BUILD)/libdeepsigns.a
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $(CLI_OBJ) $(BUILD)/libdeepsigns.a $(LIBS)

$(BUILD)/tests/%: tests/%.c tests/check.h tests/testutil.h $(BUILD)/libdeepsigns.a $(FLAGS_FILE)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(ALL_CFLAGS) -Itests -o $@ $< $(BUILD)/libdeepsigns.a $(ALL_LDFLAGS) $(LIBS)

$(BUILD)/bench/%: tests/bench/%.c $(BUILD)/libdeepsigns.a $(FLAGS_FILE)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(ALL_CFLAGS) -o $@ $< $(BUILD)/libdeepsigns.a $(ALL_LDFLAGS) $(BENCH_LDFLAGS) $(LIBS)

# bench_train times every cblas_sgemm that libdeepsigns.a issues (its share of the step).
$(BUILD)/bench/bench_train: BENCH_LDFLAGS := -Wl,--wrap=cblas_sgemm

# bench_gemm: the GEMM/conv backends on our shapes (libdnnl-dev, libxsmm-dev, libblis-dev,
# installed by scripts/deps.sh --bench). BLIS is opened with dlopen: it exports the same
# CBLAS names as OpenBLAS. Built only by `make bench` and `make bench-gemm`.
$(BUILD)/bench/bench_gemm: tests/bench/bench_gemm.c $(BUILD)/libdeepsigns.a
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(ALL_CFLAGS) -o $@ $< $(BUILD)/libdeepsigns.a $(ALL_LDFLAGS) -ldnnl -lxsmm -lrt -ldl $(LIBS)

tests: $(BUILD)/deepsigns $(TEST_BIN)

test: check-deps tests
	$(Q)BUILD=$(BUILD) bash tests/run.sh

# every command on a tiny model under valgrind memcheck: no error, no leak (tests/valgrind/run.sh).
# A build of its own (build-valgrind/, ARCH=: no -march): valgrind 3.19 does not
# decode AVX-512, which ARCH=native emits on such CPUs (SIGILL under valgrind).
# DNNL=0: oneDNN's JIT kernels read whole vectors past the end of oneDNN's own
# buffers (memcheck reports them; the bytes are inside its aligned allocations),
# so memcheck checks our code on the im2col + OpenBLAS path.
VG_BUILD := build-valgrind$(if $(SANITIZER),-$(SANITIZER))
valgrind: check-deps
	$(Q)$(MAKE) --no-print-directory BUILD=$(VG_BUILD) ARCH= DNNL=0 $(VG_BUILD)/deepsigns
	$(Q)BUILD=$(VG_BUILD) bash tests/valgrind/run.sh

check-deps:
	$(Q)bash scripts/deps.sh --check

deps:
	$(Q)bash scripts/deps.sh

run: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)bash scripts/run-default.sh

# deps first (torch, oneDNN, libxsmm, BLIS), then the bench programs
bench: check-deps
	$(Q)bash scripts/deps.sh --bench
	$(Q)$(MAKE) --no-print-directory $(BUILD)/deepsigns $(BENCH_BIN)
	$(Q)BUILD=$(BUILD) bash tests/bench/run.sh

# the GEMM/conv backends alone (tests/bench/bench_gemm.c), 1 and 2 threads
bench-gemm: check-deps
	$(Q)bash scripts/deps.sh --bench
	$(Q)$(MAKE) --no-print-directory $(BUILD)/bench/bench_gemm
	$(Q)for t in 1 2; do OPENBLAS_NUM_THREADS=$$t OMP_NUM_THREADS=$$t BLIS_NUM_THREADS=$$t \
	  $(BUILD)/bench/bench_gemm --tsv $(BUILD)/bench/gemm-$$t.tsv || exit 1; done

clean:
	rm -rf build build-address build-undefined build-valgrind $(FUZZ_BUILD)

-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d)

# ---- fuzzing (docs/fuzzing.md): libFuzzer targets built with clang, ASan and
# UBSan in build-fuzz/, separate from build/. The dependencies are not instrumented.
FUZZ_CC ?= clang
FUZZ_BUILD := build-fuzz
FUZZ_SECONDS ?= 60
FUZZ_TARGETS := idx cifar spec model key model_edit key_edit
FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_CFLAGS := $(CSTD) -O1 -g $(WARN) $(FUZZ_SAN) -fsanitize=fuzzer-no-link -Iinclude -Isrc \
  -I$(BUILD)/gen $(PKG_CFLAGS)
FUZZ_LIB_OBJ := $(LIB_SRC:%.c=$(FUZZ_BUILD)/obj/%.o)
FUZZ_BIN := $(FUZZ_TARGETS:%=$(FUZZ_BUILD)/fuzz_%)

.PHONY: fuzz fuzz-build clean-fuzz
fuzz-build: $(FUZZ_BIN)

# every target FUZZ_SECONDS s (after replaying tests/fuzz/regressions/); FUZZ_TARGETS= picks some
fuzz: $(FUZZ_BIN)
	$(Q)FUZZ_BUILD=$(FUZZ_BUILD) bash tests/fuzz/run.sh --replay $(FUZZ_TARGETS)
	$(Q)FUZZ_BUILD=$(FUZZ_BUILD) bash tests/fuzz/run.sh --seconds $(FUZZ_SECONDS) $(FUZZ_TARGETS)

$(FUZZ_BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  FUZZCC  $<")
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) $(DEPFLAGS) -c $< -o $@

$(FUZZ_BUILD)/libdeepsigns.a: $(FUZZ_LIB_OBJ)
	@$(if $(Q),echo "  AR      $@")
	$(Q)rm -f $@ && ar rcs $@ $^

$(FUZZ_BUILD)/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz_util.h tests/fuzz/h5edit.h $(FUZZ_BUILD)/libdeepsigns.a
	@$(if $(Q),echo "  FUZZLD  $@")
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -Itests/fuzz -o $@ $< $(FUZZ_BUILD)/libdeepsigns.a \
	  $(LIBS)

clean-fuzz:
	rm -rf $(FUZZ_BUILD)

-include $(FUZZ_LIB_OBJ:.o=.d)
