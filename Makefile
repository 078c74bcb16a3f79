# mockhub - a local Azure IoT Hub. Plain Makefile: `make` builds, `make run` starts the hub,
# `make test` installs what is missing, builds, and runs unit and integration tests.
#
# Variants: `make SANITIZE=address,undefined` builds into build-san-address-undefined/, `make SANITIZE=thread`
# into build-san-thread/ (one dir per sanitizer set, so objects never mix).

SHELL := /bin/bash
CC ?= cc
SANITIZE ?=
ifeq ($(SANITIZE),)
B := build
SANFLAGS :=
else
comma := ,
B := build-san-$(subst $(comma),-,$(SANITIZE))
SANFLAGS := -fsanitize=$(SANITIZE) -fno-omit-frame-pointer
endif

WARN := -Wall -Wextra -Wpedantic -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wformat=2 \
        -Wwrite-strings -Wvla -Wno-overlength-strings
WERROR ?= -Werror
OPT ?= -O2 -g
PKGS := libcjson sqlite3 libmicrohttpd libmosquitto libcurl openssl
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS = $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CFLAGS_ALL = -std=c11 -D_GNU_SOURCE $(OPT) $(WARN) $(WERROR) -fPIC -MMD -MP $(SANFLAGS) \
             -Icommon -Imockhub -Idevice -Iservice $(PKG_CFLAGS) $(CFLAGS)
LDLIBS_ALL = $(PKG_LIBS) -lpthread -lm $(LDLIBS)

# ---- sources (discovered, so adding a module needs no Makefile edit) ----
COMMON_SRC  := $(wildcard common/*.c)
# hub core: everything in mockhub/ and mockhub/query/ except the command's main
HUB_SRC     := $(filter-out mockhub/main.c,$(wildcard mockhub/*.c mockhub/query/*.c))
# the broker plugin links only plain modules: no libmosquitto client, no HTTP
PLUGIN_SRC  := $(wildcard mockhub/plugin/*.c) mockhub/devauth.c mockhub/topic.c mockhub/store.c \
               mockhub/twin.c mockhub/errors.c $(wildcard mockhub/store_*.c) $(COMMON_SRC)
DEVICE_SRC  := $(filter-out device/dmpatterns_%.c,$(wildcard device/*.c))
SERVICE_SRC := $(filter-out service/dmpatterns_%.c,$(wildcard service/*.c))
UNIT_SRC    := $(wildcard tests/unit/test_*.c)
BENCH_SRC   := $(wildcard bench/*.c)

obj = $(patsubst %.c,$(B)/obj/%.o,$(1))
COMMON_OBJ  := $(call obj,$(COMMON_SRC))
HUB_OBJ     := $(call obj,$(HUB_SRC))
PLUGIN_OBJ  := $(call obj,$(sort $(PLUGIN_SRC)))
DEVICE_OBJ  := $(call obj,$(DEVICE_SRC))
SERVICE_OBJ := $(call obj,$(SERVICE_SRC))

PROGS := $(B)/mockhub $(B)/mockhub_bridge.so
ifneq ($(wildcard device/dmpatterns_getstarted_device.c),)
PROGS += $(B)/dmpatterns_getstarted_device
endif
ifneq ($(wildcard service/dmpatterns_getstarted_service.c),)
PROGS += $(B)/dmpatterns_getstarted_service
endif
UNIT_BINS := $(patsubst tests/unit/%.c,$(B)/tests/%,$(UNIT_SRC))
BENCH_BINS := $(patsubst bench/%.c,$(B)/bench/%,$(filter bench/mh_%.c,$(BENCH_SRC)))

# Keep intermediate objects (bench and test objects are otherwise deleted after linking).
.SECONDARY:

.PHONY: all deps deps-test run test unit integration integration-san bench format format-check clean compose-check smoke-bench
all: $(PROGS)

$(B)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -c $< -o $@

$(B)/mockhub: $(call obj,mockhub/main.c) $(HUB_OBJ) $(COMMON_OBJ)
	$(CC) $(SANFLAGS) -o $@ $^ $(LDLIBS_ALL)

# The plugin must not pull libmosquitto's client symbols into the broker; -Wl,--no-undefined is not
# used because mosquitto_* broker functions resolve from the broker at load time.
$(B)/mockhub_bridge.so: $(PLUGIN_OBJ)
	$(CC) $(SANFLAGS) -shared -o $@ $^ $(shell pkg-config --libs libcjson sqlite3 openssl) -lpthread

$(B)/dmpatterns_getstarted_device: $(call obj,device/dmpatterns_getstarted_device.c) $(DEVICE_OBJ) $(COMMON_OBJ)
	$(CC) $(SANFLAGS) -o $@ $^ $(LDLIBS_ALL)

$(B)/dmpatterns_getstarted_service: $(call obj,service/dmpatterns_getstarted_service.c) $(SERVICE_OBJ) $(COMMON_OBJ)
	$(CC) $(SANFLAGS) -o $@ $^ $(LDLIBS_ALL)

# Unit tests: one Criterion binary per tests/unit/test_*.c, linked with every library object.
$(B)/tests/%: $(call obj,tests/unit/%.c) $(HUB_OBJ) $(COMMON_OBJ) $(DEVICE_OBJ) $(SERVICE_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(SANFLAGS) -o $@ $^ -lcriterion $(LDLIBS_ALL)

$(B)/bench/%: $(call obj,bench/%.c) $(filter-out $(call obj,bench/mh_%.c),$(call obj,$(BENCH_SRC))) $(DEVICE_OBJ) $(SERVICE_OBJ) $(COMMON_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(SANFLAGS) -o $@ $^ $(LDLIBS_ALL)

# ---- the two README commands ----
# deps: what `make run` needs (build + broker); deps-test adds the test tools and `npm ci`.
deps:
	@scripts/deps.sh run

deps-test:
	@scripts/deps.sh test

run: deps
	@$(MAKE) --no-print-directory all
	$(B)/mockhub run

unit: $(UNIT_BINS)
	@set -e; for t in $(UNIT_BINS); do echo "== $$t"; $$t --jobs 2 --short-filename; done

integration: all
	@tests/integration/run.sh

# The integration tests again with the daemon and C apps built with ASan+UBSan, then with TSan (the
# broker keeps the plain plugin: it cannot load a sanitizer .so); run.sh fails on any report in a log.
integration-san: all
	@set -e; for s in address,undefined thread; do \
	    $(MAKE) --no-print-directory SANITIZE=$$s all; \
	    echo "== integration tests, daemon built with -fsanitize=$$s"; \
	    MOCKHUB_BUILD_DIR=$(CURDIR)/build-san-$${s/,/-} MOCKHUB_PLUGIN=$(CURDIR)/build/mockhub_bridge.so \
	        ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1 \
	        TSAN_OPTIONS="halt_on_error=0 second_deadlock_stack=1" tests/integration/run.sh; \
	done

test: deps-test
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory compose-check
	@$(MAKE) --no-print-directory unit
	@$(MAKE) --no-print-directory SANITIZE=address,undefined unit
	@$(MAKE) --no-print-directory smoke-bench
	@$(MAKE) --no-print-directory integration
	@$(MAKE) --no-print-directory integration-san

compose-check:
	@docker-compose -f docker-compose.yml config -q && echo "docker-compose.yml: valid"

bench: deps-test all $(BENCH_BINS)
	@bench/run.sh

smoke-bench: all $(BENCH_BINS)
	@if [ -x bench/run.sh ]; then bench/run.sh --smoke; else echo "no bench yet"; fi

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

format-check:
	clang-format --dry-run --Werror $$(git ls-files '*.c' '*.h')

clean:
	rm -rf build build-san build-san-*

-include $(shell find $(B) -name '*.d' 2>/dev/null)
