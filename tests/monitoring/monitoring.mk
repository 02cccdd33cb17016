# tests/monitoring/monitoring.mk: promtool, the Prometheus project's checker, for the tests of /metrics
# (tests/http/run.sh) and of the compose monitoring profile's configuration and alert rules
# (tests/monitoring/run.sh). It comes from Debian's prometheus package, but installing that package would
# also install and start a Prometheus server on this machine: `make deps` extracts only the promtool
# binary from the package into $(PROMTOOL).
PROMTOOL := $(BUILD)/tools/promtool

$(PROMTOOL):
	@mkdir -p $(BUILD)/tools/prometheus-deb
	@cd $(BUILD)/tools/prometheus-deb && rm -f prometheus_*.deb && \
	  { apt-get download prometheus >/dev/null 2>&1 || \
	    { $(SUDO) apt-get update -qq && apt-get download prometheus; }; }
	@rm -rf $(BUILD)/tools/prometheus-deb/root && \
	  dpkg-deb -x $(BUILD)/tools/prometheus-deb/prometheus_*.deb $(BUILD)/tools/prometheus-deb/root
	@cp $(BUILD)/tools/prometheus-deb/root/usr/bin/promtool $@.tmp && mv $@.tmp $@ && \
	  rm -rf $(BUILD)/tools/prometheus-deb
	@echo "promtool: $$($@ --version 2>&1 | head -n 1)"

.PHONY: promtool
promtool: $(PROMTOOL)
deps: $(PROMTOOL)
