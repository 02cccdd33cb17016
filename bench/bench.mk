# bench/bench.mk: the comparison peers of `make bench` (bench/pg.sh,
# bench/redis.sh) and their C loaders. The top-level Makefile includes it;
# bench/pg.sh and bench/redis.sh also pass it with -f, so it guards against
# being read twice.
ifndef RP_BENCH_MK
RP_BENCH_MK := 1

# Debian packages the peers need on top of DEB_PKGS (python3 runs the
# independent check, bench/peer_check.py).
BENCH_DEB_PKGS := postgresql-15 libpq-dev redis-server redis-tools libhiredis-dev python3

BENCH_PEER_OBJ := $(BUILD)/bench/peer_input.o $(BUILD)/tools/jsonline.o \
                  $(filter $(BUILD)/common/% $(BUILD)/proto/%,$(COMMON_OBJ))
BENCH_PEERS := $(BIN)/bench-pg-load $(BIN)/bench-redis-load

$(BUILD)/bench/pg_load.o: ALL_CFLAGS += $(shell pkg-config --cflags libpq 2>/dev/null)
$(BUILD)/bench/redis_load.o: ALL_CFLAGS += $(shell pkg-config --cflags hiredis 2>/dev/null)

$(BIN)/bench-pg-load: $(BUILD)/bench/pg_load.o $(BENCH_PEER_OBJ)
	@mkdir -p $(BIN)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) $(CTL_LIBS) $(shell pkg-config --libs libpq 2>/dev/null) -o $@

$(BIN)/bench-redis-load: $(BUILD)/bench/redis_load.o $(BENCH_PEER_OBJ)
	@mkdir -p $(BIN)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) $(CTL_LIBS) $(shell pkg-config --libs hiredis 2>/dev/null) -o $@

.PHONY: bench-peers bench-peers-deps
bench-peers: $(BENCH_PEERS)

bench-peers-deps:
	$(call install_debs,$(BENCH_DEB_PKGS))

endif
