# ngx_ws: build, test and run the WebSocket gateway module for nginx.
#
#   make deps          install the Debian packages (scripts/install-deps.sh)
#   make / make module build/ngx_http_ws_module.so and build/env.sh
#   make module-asan   build-asan/ngx_http_ws_module.so (ASan + UBSan)
#   make unit          core unit tests t/unit/*.c (plain and sanitized)
#   make fuzz          libFuzzer targets fuzz/fuzz_*.c, FUZZ_SECONDS each
#   make test-prove    prove -r t/ against build/
#   make test-asan     prove -r t/ against build-asan/ (sanitizers preloaded)
#   make test          all of the above, in that order
#   make run           the example: backend + nginx on 127.0.0.1:$(PORT)
#   make deb           the Debian package libnginx-mod-http-ws in build/deb/
#                      (scripts/build-deb.sh: Debian's nginx-dev, lintian)
#   make bench         delegates to bench/
#   make clean
#
# Variables (command line or environment):
#   NGINX_SRC       nginx tree to build against: Debian's nginx-dev tree
#                   (default /usr/share/nginx/src) or a full nginx source tree
#   NGX_WS_SRC_DIR  directory with the module's `config` and ngx_ws_module/
#                   (default: this directory)
#   FUZZ_SECONDS    time per fuzz target (default 30; `make test` uses 20)
#   PORT            port of `make run` (default 8080)

SHELL := /bin/bash
.DEFAULT_GOAL := module

NGINX_SRC      ?= /usr/share/nginx/src
NGX_WS_SRC_DIR ?= .
FUZZ_SECONDS   ?= 30
PORT           ?= 8080

BUILD      := build
ASAN_BUILD := build-asan

CORE_DIR  := $(NGX_WS_SRC_DIR)/ngx_ws_module
# the protocol core's sources: the same list as the module's `config`
CORE_SRCS := $(addprefix $(CORE_DIR)/,$(shell cat $(CORE_DIR)/core-sources))
CORE_LIBS := -lcrypto -ljansson
CORE_HDRS  = $(wildcard $(CORE_DIR)/*.h)

UNIT_DIR ?= t/unit
FUZZ_DIR ?= fuzz

CC    ?= cc
CLANG ?= clang

UNIT_CFLAGS      := -std=c99 -Wall -Wextra -Werror -O2 -I $(CORE_DIR) -I $(UNIT_DIR)
UNIT_ASAN_CFLAGS := -std=c99 -Wall -Wextra -Werror -O1 -g -fno-omit-frame-pointer \
                    -fsanitize=address,undefined -fno-sanitize-recover=all \
                    -I $(CORE_DIR) -I $(UNIT_DIR)
FUZZ_CFLAGS      := -g -O1 -fno-omit-frame-pointer \
                    -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
                    -I $(CORE_DIR)

UNIT_SRCS      = $(wildcard $(UNIT_DIR)/*.c)
UNIT_BINS      = $(patsubst $(UNIT_DIR)/%.c,$(BUILD)/unit/%,$(UNIT_SRCS))
UNIT_ASAN_BINS = $(patsubst $(UNIT_DIR)/%.c,$(BUILD)/unit-asan/%,$(UNIT_SRCS))
UNIT_HDRS      = $(wildcard $(UNIT_DIR)/*.h)

FUZZ_SRCS = $(wildcard $(FUZZ_DIR)/fuzz_*.c)
FUZZ_BINS = $(patsubst $(FUZZ_DIR)/%.c,$(BUILD)/fuzz/%,$(FUZZ_SRCS))

export NGINX_SRC NGX_WS_SRC_DIR

.PHONY: all deps module module-asan unit fuzz test-prove test-asan test run \
        deb bench clean

all: module

deps:
	scripts/install-deps.sh

# nginx's own make decides what to recompile; this is cheap when up to date.
module:
	scripts/build-module.sh $(BUILD)

module-asan: module
	scripts/build-module.sh --asan $(ASAN_BUILD) $(BUILD)

# ---------------------------------------------------------------- unit tests

$(BUILD)/unit/%: $(UNIT_DIR)/%.c $(CORE_SRCS) $(CORE_HDRS) $(UNIT_HDRS) \
                 $(CORE_DIR)/core-sources
	@mkdir -p $(@D)
	$(CC) $(UNIT_CFLAGS) -o $@ $< $(CORE_SRCS) $(CORE_LIBS)

$(BUILD)/unit-asan/%: $(UNIT_DIR)/%.c $(CORE_SRCS) $(CORE_HDRS) $(UNIT_HDRS) \
                      $(CORE_DIR)/core-sources
	@mkdir -p $(@D)
	$(CC) $(UNIT_ASAN_CFLAGS) -o $@ $< $(CORE_SRCS) $(CORE_LIBS)

unit: $(UNIT_BINS) $(UNIT_ASAN_BINS)
	@if [ -z "$(strip $(UNIT_SRCS))" ]; then \
	    echo "unit: no tests in $(UNIT_DIR)/"; exit 0; \
	fi; \
	pass=0; fail=0; failed=""; \
	for t in $(UNIT_BINS) $(UNIT_ASAN_BINS); do \
	    echo "unit: running $$t"; \
	    if ASAN_OPTIONS=abort_on_error=0:halt_on_error=1 \
	       UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ./$$t; then \
	        pass=$$((pass + 1)); \
	    else \
	        echo "unit: FAILED $$t"; fail=$$((fail + 1)); failed="$$failed $$t"; \
	    fi; \
	done; \
	echo "unit: $$pass passed, $$fail failed"; \
	[ $$fail -eq 0 ] || { echo "unit: failed:$$failed"; exit 1; }

# ---------------------------------------------------------------- fuzzing

$(BUILD)/fuzz/%: $(FUZZ_DIR)/%.c $(CORE_SRCS) $(CORE_HDRS)
	@mkdir -p $(@D)
	$(CLANG) $(FUZZ_CFLAGS) -o $@ $< $(CORE_SRCS) $(CORE_LIBS)

# Each target fuzz/fuzz_<name>.c runs FUZZ_SECONDS on a scratch copy of its
# committed seeds, fuzz/corpus/<name>/ (or fuzz/corpus/fuzz_<name>/), with
# the libFuzzer flags in fuzz/fuzz_<name>.flags if there is one; crashes
# land in build/fuzz/artifacts/.
fuzz: $(FUZZ_BINS)
	@if [ -z "$(strip $(FUZZ_BINS))" ]; then \
	    echo "fuzz: no targets in $(FUZZ_DIR)/"; exit 0; \
	fi; \
	for bin in $(FUZZ_BINS); do \
	    name=$$(basename $$bin); \
	    work=$(BUILD)/fuzz/corpus/$$name; \
	    rm -rf $$work; mkdir -p $$work $(BUILD)/fuzz/artifacts; \
	    for seeds in $(FUZZ_DIR)/corpus/$$name $(FUZZ_DIR)/corpus/$${name#fuzz_}; do \
	        if [ -d $$seeds ]; then cp -R $$seeds/. $$work/; break; fi; \
	    done; \
	    log=$(BUILD)/fuzz/$$name.log; \
	    flags=$$(cat $(FUZZ_DIR)/$$name.flags 2>/dev/null); \
	    echo "fuzz: $$name for $(FUZZ_SECONDS)s ($$(ls $$work | wc -l) seeds) $$flags"; \
	    if ! UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	         ./$$bin -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
	            -artifact_prefix=$(BUILD)/fuzz/artifacts/$$name- $$flags \
	            $$work >$$log 2>&1; then \
	        tail -n 60 $$log; \
	        echo "fuzz: $$name FAILED (log: $$log, artifacts: $(BUILD)/fuzz/artifacts/)"; \
	        exit 1; \
	    fi; \
	    execs=$$(sed -n 's/^stat::number_of_executed_units: *//p' $$log); \
	    echo "fuzz: $$name ok: $${execs:-?} executions, corpus $$(ls $$work | wc -l) inputs"; \
	done

# ---------------------------------------------------------------- prove

PROVE       ?= prove
PROVE_FLAGS ?= -r

define run_prove
	@if ! find t -name '*.t' 2>/dev/null | grep -q .; then \
	    echo "$@: no tests in t/"; exit 0; \
	fi; \
	. $(1)/env.sh && env | grep -E '^(NGX_WS_|NGINX_BIN|ASAN_|UBSAN_)' | sort && \
	$(PROVE) $(PROVE_FLAGS) t/
endef

test-prove: module
	$(call run_prove,$(BUILD))

test-asan: module-asan
	$(call run_prove,$(ASAN_BUILD))

# ---------------------------------------------------------------- everything

test:
	$(MAKE) --no-print-directory deps
	$(MAKE) --no-print-directory module
	$(MAKE) --no-print-directory module-asan
	$(MAKE) --no-print-directory unit
	$(MAKE) --no-print-directory fuzz FUZZ_SECONDS=20
	$(MAKE) --no-print-directory test-prove
	$(MAKE) --no-print-directory test-asan

# ---------------------------------------------------------------- example

run:
	$(MAKE) --no-print-directory deps
	$(MAKE) --no-print-directory module
	PORT=$(PORT) examples/run.sh

# ---------------------------------------------------------------- package

# always against Debian's nginx-dev, whatever NGINX_SRC says
deb:
	$(MAKE) --no-print-directory deps
	scripts/build-deb.sh

bench:
	$(MAKE) -C bench

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
