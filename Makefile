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
PKGS := libcjson sqlite3 libmicrohttpd libmosquitto libcurl openssl libqpid-proton
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS = $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CFLAGS_ALL = -std=c11 -D_GNU_SOURCE $(OPT) $(WARN) $(WERROR) -fPIC -MMD -MP $(SANFLAGS) $(PKG_CFLAGS) $(CFLAGS)
LDLIBS_ALL = $(PKG_LIBS) -lpthread -lm $(LDLIBS)

# ---- the layers (docs/INTERNALS.md). Each is a static library; its include path is all it may
# use, so a forbidden dependency is a compile error, not a review comment:
#   common    common/: protocol primitives shared with device/ and service/ (base64, SAS, URLs)
#   core      mockhub/core/: pure rules (SAS, topics, twins, errors, queries, the bus)
#   store     mockhub/store/: SQLite; uses core
#   daemon    mockhub/daemon/: the hub core and its transports (REST, MQTT link, WebSockets); core + store
#   launcher  mockhub/launcher/: the `mockhub` command, certificates, the broker process; everything
#   plugin    mockhub/plugin/: the Mosquitto plugin; core + the store's read-only key lookup only
#   device/, service/: the C client libraries; common/ only, never mockhub/
INC_CORE     := -Icommon -Imockhub/core
INC_STORE    := $(INC_CORE) -Imockhub/store
INC_DAEMON   := $(INC_STORE) -Imockhub/daemon
INC_LAUNCHER := $(INC_DAEMON) -Imockhub/launcher -Iservice
INC_PLUGIN   := $(INC_CORE) -Imockhub/store -Imockhub/plugin
INC_ALL      := $(INC_LAUNCHER) -Imockhub/plugin -Idevice -Iservice

# ---- sources (discovered, so adding a module needs no Makefile edit) ----
COMMON_SRC   := $(wildcard common/*.c)
CORE_SRC     := $(wildcard mockhub/core/*.c mockhub/core/query/*.c)
STORE_SRC    := $(wildcard mockhub/store/*.c)
DAEMON_SRC   := $(wildcard mockhub/daemon/*.c)
LAUNCHER_SRC := $(filter-out mockhub/launcher/main.c,$(wildcard mockhub/launcher/*.c))
PLUGIN_SRC   := $(wildcard mockhub/plugin/*.c)
# what of the store the plugin may link (the read-only device key lookup)
PLUGIN_STORE_SRC := $(wildcard mockhub/store/keys.c)
ifeq ($(PLUGIN_STORE_SRC),)
PLUGIN_STORE_SRC := $(STORE_SRC)
endif
DEVICE_SRC  := $(filter-out device/dmpatterns_%.c,$(wildcard device/*.c))
SERVICE_SRC := $(filter-out service/dmpatterns_%.c,$(wildcard service/*.c))
UNIT_SRC    := $(wildcard tests/unit/test_*.c)
BENCH_SRC   := $(wildcard bench/*.c)

obj = $(patsubst %.c,$(B)/obj/%.o,$(1))
LIB_COMMON   := $(B)/lib/libiotcommon.a
LIB_CORE     := $(B)/lib/libmhcore.a
LIB_STORE    := $(B)/lib/libmhstore.a
LIB_DAEMON   := $(B)/lib/libmhdaemon.a
LIB_LAUNCHER := $(B)/lib/libmhlauncher.a
LIB_DEVICE   := $(B)/lib/libiotdevice.a
LIB_SERVICE  := $(B)/lib/libiotservice.a
# link order: users before what they use
HUB_LIBS     := $(LIB_LAUNCHER) $(LIB_DAEMON) $(LIB_STORE) $(LIB_CORE) $(LIB_SERVICE) $(LIB_COMMON)

# per-layer include paths (pattern-specific; the last matching pattern wins in GNU make 4.3 for the
# most specific stem, so each folder gets exactly its own)
$(B)/obj/common/%.o:          INC := -Icommon
$(B)/obj/mockhub/core/%.o:    INC := $(INC_CORE)
$(B)/obj/mockhub/store/%.o:   INC := $(INC_STORE)
$(B)/obj/mockhub/daemon/%.o:  INC := $(INC_DAEMON)
$(B)/obj/mockhub/launcher/%.o: INC := $(INC_LAUNCHER)
$(B)/obj/mockhub/plugin/%.o:  INC := $(INC_PLUGIN)
$(B)/obj/device/%.o:          INC := -Icommon -Idevice
$(B)/obj/service/%.o:         INC := -Icommon -Iservice
$(B)/obj/tests/%.o:           INC := $(INC_ALL)
$(B)/obj/bench/%.o:           INC := $(INC_ALL)

PROGS := $(B)/mockhub $(B)/mockhub_bridge.so
ifneq ($(wildcard device/dmpatterns_getstarted_device.c),)
PROGS += $(B)/dmpatterns_getstarted_device
endif
ifneq ($(wildcard service/dmpatterns_getstarted_service.c),)
PROGS += $(B)/dmpatterns_getstarted_service
endif
# integration helper (tests/integration/c/): D2C telemetry from our C device library
PROGS += $(B)/iotd_send_events
UNIT_BINS := $(patsubst tests/unit/%.c,$(B)/tests/%,$(UNIT_SRC))
BENCH_BINS := $(patsubst bench/%.c,$(B)/bench/%,$(filter bench/mh_%.c,$(BENCH_SRC)))

# Keep intermediate objects (bench and test objects are otherwise deleted after linking).
.SECONDARY:

.PHONY: all deps deps-test run test unit integration integration-san bench format format-check clean \
        compose-check smoke-bench fresh-check container-check fuzz fuzz-smoke soak soak-short
all: $(PROGS)

# Objects depend on the Makefile too: a layout or flag change rebuilds them (stale .d files from an
# older layout would otherwise keep an object built against headers that moved).
$(B)/obj/%.o: %.c Makefile
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(INC) -c $< -o $@

$(B)/lib/%.a:
	@mkdir -p $(dir $@)
	@rm -f $@
	$(AR) rcs $@ $^

$(LIB_COMMON):   $(call obj,$(COMMON_SRC))
$(LIB_CORE):     $(call obj,$(CORE_SRC))
$(LIB_STORE):    $(call obj,$(STORE_SRC))
$(LIB_DAEMON):   $(call obj,$(DAEMON_SRC)) $(B)/obj/gen/ui_assets.o

# The web dashboard's files (mockhub/daemon/ui/) embedded in the binary as C arrays.
UI_FILES := $(sort $(wildcard mockhub/daemon/ui/*.html mockhub/daemon/ui/*.js mockhub/daemon/ui/*.css))
$(B)/gen/ui_assets.c: $(UI_FILES) scripts/embed_assets.sh
	@mkdir -p $(dir $@)
	sh scripts/embed_assets.sh $(UI_FILES) > $@.tmp && mv $@.tmp $@
$(B)/obj/gen/ui_assets.o: $(B)/gen/ui_assets.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(INC_DAEMON) -c $< -o $@
$(LIB_LAUNCHER): $(call obj,$(LAUNCHER_SRC))
$(LIB_DEVICE):   $(call obj,$(DEVICE_SRC))
$(LIB_SERVICE):  $(call obj,$(SERVICE_SRC))

$(B)/mockhub: $(call obj,mockhub/launcher/main.c) $(HUB_LIBS)
	$(CC) $(SANFLAGS) -o $@ $^ $(LDLIBS_ALL)

# The plugin: its own objects, the pure core and the store's key lookup; no libmosquitto client,
# no HTTP. It exports only Mosquitto's entry points (plugin/exports.map); mosquitto_* broker
# functions resolve from the broker at load time, so -Wl,--no-undefined is not used.
$(B)/mockhub_bridge.so: $(call obj,$(PLUGIN_SRC)) $(call obj,$(PLUGIN_STORE_SRC)) $(LIB_CORE) $(LIB_COMMON) mockhub/plugin/exports.map
	$(CC) $(SANFLAGS) -shared -Wl,--version-script=mockhub/plugin/exports.map -o $@ \
	    $(filter %.o %.a,$^) $(shell pkg-config --libs libcjson sqlite3 openssl) -lpthread

$(B)/dmpatterns_getstarted_device: $(call obj,device/dmpatterns_getstarted_device.c) $(LIB_DEVICE) $(LIB_COMMON)
	$(CC) $(SANFLAGS) -o $@ $^ $(LDLIBS_ALL)

$(B)/dmpatterns_getstarted_service: $(call obj,service/dmpatterns_getstarted_service.c) $(LIB_SERVICE) $(LIB_COMMON)
	$(CC) $(SANFLAGS) -o $@ $^ $(LDLIBS_ALL)

# integration helper: D2C telemetry from our C device library (eventhub_c.test.js); in PROGS above
$(B)/iotd_send_events: $(call obj,tests/integration/c/iotd_send_events.c) $(LIB_DEVICE) $(LIB_COMMON)
	$(CC) $(SANFLAGS) -o $@ $^ $(LDLIBS_ALL)

# Unit tests: one Criterion binary per tests/unit/test_*.c, linked with every library and the
# plugin's pure parts (all but bridge.c, whose mosquitto_* calls resolve only inside the broker).
PLUGIN_PURE_OBJ := $(call obj,$(filter-out mockhub/plugin/bridge.c,$(PLUGIN_SRC)))
$(B)/tests/%: $(call obj,tests/unit/%.c) $(PLUGIN_PURE_OBJ) $(LIB_LAUNCHER) $(LIB_DAEMON) $(LIB_STORE) $(LIB_DEVICE) $(LIB_SERVICE) $(LIB_CORE) $(LIB_COMMON)
	@mkdir -p $(dir $@)
	$(CC) $(SANFLAGS) -o $@ $^ -lcriterion $(LDLIBS_ALL)

$(B)/bench/%: $(call obj,bench/%.c) $(filter-out $(call obj,bench/mh_%.c),$(call obj,$(BENCH_SRC))) $(LIB_DEVICE) $(LIB_SERVICE) $(LIB_COMMON)
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
	@$(MAKE) --no-print-directory fuzz-smoke
	@$(MAKE) --no-print-directory smoke-bench
	@$(MAKE) --no-print-directory integration
	@$(MAKE) --no-print-directory integration-san
	@$(MAKE) --no-print-directory soak-short

# The README's commands on a debootstrapped Debian 12 with nothing installed (scripts/fresh-check.sh;
# FRESH_CHECK_TEST=0 skips its `make test`), and the compose file built and run under podman
# (scripts/container-check.sh). Both need root; .ci/run calls them after `make test`.
fresh-check:
	@scripts/fresh-check.sh

container-check:
	@scripts/container-check.sh

compose-check:
	@docker-compose -f docker-compose.yml config -q && echo "docker-compose.yml: valid"

# The soak (issue 13): 200 devices doing methods, twin patches, telemetry and reconnects while queries
# run; p50/p99 per window, RSS and fds of the hub and broker at start and end, exit 1 on any error.
# `make soak` runs 5 minutes (SOAK_SECONDS=...), `make soak-short` 45 s (part of `make test`).
SOAK_SECONDS ?= 300
soak: all
	@SOAK_SECONDS=$(SOAK_SECONDS) tests/soak/run.sh

soak-short: all
	@SOAK_SECONDS=45 tests/soak/run.sh

bench: deps-test all $(BENCH_BINS)
	@bench/run.sh

smoke-bench: all $(BENCH_BINS)
	@if [ -x bench/run.sh ]; then bench/run.sh --smoke; else echo "no bench yet"; fi

# ---- fuzzing: one libFuzzer target per parser of outside input (fuzz/README.md), built with clang
# into build-fuzz/ from the library sources compiled again with the fuzz flags (never the gcc
# objects). `make fuzz` runs each for FUZZ_SECONDS, `make fuzz-smoke` (part of `make test`) for
# FUZZ_SMOKE_SECONDS, one after the other, each from a working copy of fuzz/corpus/<name>/ under
# build-fuzz/corpus/; a crash fails the run and leaves its input in build-fuzz/crashes/<name>/.
FUZZ_CC ?= clang
FUZZ_SECONDS ?= 60
FUZZ_SMOKE_SECONDS ?= 5
FB := build-fuzz
FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_CFLAGS = -std=c11 -D_GNU_SOURCE -O1 -g $(WARN) $(WERROR) -MMD -MP -fsanitize=fuzzer-no-link $(FUZZ_SAN) \
              $(PKG_CFLAGS)
FUZZ_NAMES := $(patsubst fuzz/fuzz_%.c,%,$(wildcard fuzz/fuzz_*.c))
FUZZ_BINS := $(addprefix $(FB)/fuzz_,$(FUZZ_NAMES))
fobj = $(patsubst %.c,$(FB)/obj/%.o,$(1))
FUZZ_LIBS := $(FB)/lib/libmhdaemon.a $(FB)/lib/libmhstore.a $(FB)/lib/libmhcore.a $(FB)/lib/libiotcommon.a

$(FB)/obj/common/%.o:         INC := -Icommon
$(FB)/obj/mockhub/core/%.o:   INC := $(INC_CORE)
$(FB)/obj/mockhub/store/%.o:  INC := $(INC_STORE)
$(FB)/obj/mockhub/daemon/%.o: INC := $(INC_DAEMON)
$(FB)/obj/fuzz/%.o:           INC := $(INC_DAEMON)

$(FB)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(INC) -c $< -o $@

$(FB)/lib/%.a:
	@mkdir -p $(dir $@)
	@rm -f $@
	$(AR) rcs $@ $^

$(FB)/lib/libiotcommon.a: $(call fobj,$(COMMON_SRC))
$(FB)/lib/libmhcore.a:    $(call fobj,$(CORE_SRC))
$(FB)/lib/libmhstore.a:   $(call fobj,$(STORE_SRC))
$(FB)/lib/libmhdaemon.a:  $(call fobj,$(filter-out mockhub/daemon/http.c mockhub/daemon/routes.c,$(DAEMON_SRC))) $(FB)/obj/gen/ui_assets.o
$(FB)/obj/gen/ui_assets.o: $(B)/gen/ui_assets.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(INC_DAEMON) -c $< -o $@

$(FB)/fuzz_%: $(FB)/obj/fuzz/fuzz_%.o $(FUZZ_LIBS)
	$(FUZZ_CC) -fsanitize=fuzzer $(FUZZ_SAN) -o $@ $^ $(LDLIBS_ALL)

fuzz: $(FUZZ_BINS)
	@fuzz/run.sh $(FB) $(FUZZ_SECONDS) $(FUZZ_NAMES)

fuzz-smoke: $(FUZZ_BINS)
	@fuzz/run.sh $(FB) $(FUZZ_SMOKE_SECONDS) $(FUZZ_NAMES)

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

format-check:
	clang-format --dry-run --Werror $$(git ls-files '*.c' '*.h')

clean:
	rm -rf build build-san build-san-* build-fuzz

-include $(shell find $(B) -name '*.d' 2>/dev/null)
-include $(shell find $(FB) -name '*.d' 2>/dev/null)
