# The two commands of README.md: `make demo` and `make test`. Each installs missing Debian packages first.
CARGO ?= cargo
DEMO_OUT ?= out/demo
export XDG_RUNTIME_DIR ?= /tmp/nirf-margin-xdg
export WGPU_BACKEND ?= vulkan

.PHONY: demo test deps build bench clean slurm-test probe

deps:
	@bash scripts/install-deps.sh
	@mkdir -p $(XDG_RUNTIME_DIR) && chmod 0700 $(XDG_RUNTIME_DIR)

# The CLI and the GStreamer plugin (target/release/libgstnirfmargin.so: GST_PLUGIN_PATH=target/release).
build: deps
	$(CARGO) build --release --locked --workspace

# Analyse the bundled phantom clip: overlay video, per-frame metrics, masks, a snapshot and a report in out/demo/.
# out/demo/ is the demo's own output, remade on every run: --overwrite lets the masks of the last run go.
demo: build
	./target/release/nirf-margin analyze \
	  --wl testdata/phantom/wl.mkv --nir testdata/phantom/nir.mkv --mm-per-px 0.1 \
	  --metrics $(DEMO_OUT)/metrics.jsonl --masks $(DEMO_OUT)/masks --overwrite \
	  --overlay $(DEMO_OUT)/overlay.mkv --snapshot $(DEMO_OUT)/snapshot.png
	./target/release/nirf-margin report $(DEMO_OUT)/metrics.jsonl --out $(DEMO_OUT)/report.html

# NIRF_REQUIRE_GPU=1 / NIRF_REQUIRE_BROWSER=1: the GPU and report-rendering tests fail, never skip, when no
# adapter or no chromium is found (deps installs lavapipe and chromium).
test: deps
	$(CARGO) test --locked --workspace --benches --no-run  # the benches compile (they run with make bench)
	@mkdir -p out
	NIRF_REQUIRE_GPU=1 NIRF_REQUIRE_BROWSER=1 bash -o pipefail -c '$(CARGO) test --locked --workspace 2>&1 | tee out/test.log'
	@awk '/^test result:/ { p += $$4; f += $$6 } END { printf "tests: %d passed, %d failed\n", p, f }' out/test.log

# The archive pipeline on a real single-node Slurm (installs and starts one; see README, "Archives").
slurm-test: build
	bash scripts/slurm-test.sh

# The independent phantom set (scripts/probe/README.md, written without this project's generator or analysis):
# draws PROBE_SEED (40 scenes, 8 wound beds) and scores this build on it, tables in out/probe/results-SEED/.
# Seeds 1 and 4 were read while tuning (README, "An independent phantom set"); 2 and 3 measured the result.
PROBE_SEED ?= 3
probe: build
	@test -x out/probe/.venv/bin/python || (python3 -m venv out/probe/.venv && out/probe/.venv/bin/pip install -q -r scripts/probe/requirements.txt)
	nice out/probe/.venv/bin/python scripts/probe/gen.py --seed $(PROBE_SEED) --scenes 40 --beds 8 --out out/probe/draw-$(PROBE_SEED)
	out/probe/.venv/bin/python scripts/probe/score.py out/probe/draw-$(PROBE_SEED) --out out/probe/results-$(PROBE_SEED) --no-wait

bench: deps
	$(CARGO) bench --locked --workspace

clean:
	rm -rf out
	$(CARGO) clean
