# riskpipe: plain Makefile. `make` builds bin/, `make test` runs every suite,
# `make run` starts a local pipeline with a demo workload.
CC ?= cc
PKGS := libzmq libczmq lmdb msgpack jansson
CFLAGS ?= -O2 -g
CFLAGS += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Wshadow -Wstrict-prototypes \
          -Wmissing-prototypes -MMD -MP $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LDLIBS += $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lm
BUILD ?= build
BIN ?= bin
MAPPERS ?= 2

# Debian packages the build, the tests and `make run` need.
DEB_PKGS := libzmq3-dev libczmq-dev liblmdb-dev lmdb-utils libmsgpack-dev libcriterion-dev \
            libjansson-dev pkg-config gcc make
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

COMMON_SRC := $(wildcard common/*.c) $(wildcard proto/*.c)
COMMON_OBJ := $(COMMON_SRC:%.c=$(BUILD)/%.o)
STATE_OBJ := $(patsubst %.c,$(BUILD)/%.o,$(wildcard state/*.c))
MAPPER_OBJ := $(patsubst %.c,$(BUILD)/%.o,$(wildcard mapper/*.c))
REDUCER_OBJ := $(patsubst %.c,$(BUILD)/%.o,$(wildcard reducer/*.c))
RISKCTL_OBJ := $(patsubst %.c,$(BUILD)/%.o,$(wildcard tools/*.c))
PROGS := $(BIN)/riskpipe-state $(BIN)/riskpipe-mapper $(BIN)/riskpipe-reducer $(BIN)/riskctl

UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(BUILD)/tests/unit-tests
# Role modules (everything but main.c) are linked into the unit tests too.
ROLE_OBJ := $(filter-out %/main.o,$(STATE_OBJ) $(MAPPER_OBJ) $(REDUCER_OBJ))
INTEG_SRC := $(wildcard tests/integration/*.c)
INTEG_BIN := $(BUILD)/tests/integration-tests

.PHONY: all deps test test-unit test-integration run clean install format
all: $(PROGS)

deps:
	@missing=""; for p in $(DEB_PKGS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(BIN)/riskpipe-state: $(STATE_OBJ) $(COMMON_OBJ)
$(BIN)/riskpipe-mapper: $(MAPPER_OBJ) $(COMMON_OBJ)
$(BIN)/riskpipe-reducer: $(REDUCER_OBJ) $(COMMON_OBJ)
$(BIN)/riskctl: $(RISKCTL_OBJ) $(COMMON_OBJ)
$(PROGS):
	@mkdir -p $(BIN)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

$(UNIT_BIN): $(UNIT_SRC:%.c=$(BUILD)/%.o) $(ROLE_OBJ) $(COMMON_OBJ)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -lcriterion -o $@

$(INTEG_BIN): $(INTEG_SRC:%.c=$(BUILD)/%.o)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -lcriterion -o $@

test: deps
	$(MAKE) all $(UNIT_BIN) $(INTEG_BIN)
	tests/run-all.sh

test-unit: all $(UNIT_BIN)
	$(UNIT_BIN)

test-integration: all $(INTEG_BIN)
	RISKPIPE_BIN=$(abspath $(BIN)) $(INTEG_BIN)

run: deps
	$(MAKE) all
	MAPPERS=$(MAPPERS) tools/run-local.sh

install: all
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 755 $(PROGS) $(DESTDIR)$(PREFIX)/bin

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD) $(BIN)

PREFIX ?= /usr/local
-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
