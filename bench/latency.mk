# bench/latency.mk: bench-latency, the latency probe of `make bench`
# (bench/latency.sh runs it against a pipeline of its own). The top-level
# Makefile includes it; it guards against being read twice, as bench.mk does.
ifndef RP_BENCH_LATENCY_MK
RP_BENCH_LATENCY_MK := 1

# It packs its messages with riskctl's JSON reader (tools/jsonline.cc), as
# `riskctl send` does, so it links simdjson and the C++ runtime too.
$(BIN)/bench-latency: $(BUILD)/bench/latency.o $(BUILD)/tools/jsonline.o $(COMMON_OBJ)
	@mkdir -p $(BIN)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) $(CTL_LIBS) -o $@

.PHONY: bench-latency
bench-latency: all $(BIN)/bench-latency
	BIN=$(BIN) bench/latency.sh

endif
