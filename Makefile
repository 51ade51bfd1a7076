# km: build the one-file cluster tool, test it, measure it.
#   make            dist/km.pyz with its checksum, man pages and completion scripts
#   make run        build, then run the whole one-node cluster (km all-in-one) on SQLite
#   make test       every test (unit, integration, the built km.pyz end to end)
#   make bench      start-up and server benchmarks (figures go in docs/benchmarks.md)
#   make install PREFIX=/usr/local    km, its server links, man pages and completion

PYTHON   ?= python3
VENV     ?= .venv
PY       := $(VENV)/bin/python
PREFIX   ?= /usr/local
DIST     ?= dist
PORT     ?= 6443
ISOLATION ?= auto
SOURCES  := build.py build_deps.py pyproject.toml $(shell find hyperkube servers -name '*.py' 2>/dev/null)
SOURCES  += $(shell find servers/ui/static -type f 2>/dev/null)  # the web view's files, in km.pyz too
PYTEST_ARGS ?=

.PHONY: all run test lint bench install clean system-deps venv portable

all: dist/km.pyz

venv: $(VENV)/.installed

# The project's own environment: build tools, runtime and test dependencies from pyproject.toml.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $@

dist/km.pyz: $(VENV)/.installed $(SOURCES)
	$(PY) build.py

portable: $(VENV)/.installed
	$(PY) build.py --portable --out dist/portable

# km's main job: the whole one-node cluster in one process (km all-in-one) on the embedded
# SQLite store in ./km-data, API on https port $(PORT), in the foreground (Ctrl-C stops; pods
# keep running and the next start adopts them). As root pods get their own namespaces and
# the host a node bridge and nftables rules; ISOLATION=none keeps pods plain processes on
# loopback addresses. Then: kubectl --kubeconfig km-data/admin.kubeconfig get nodes
run: dist/km.pyz
	./dist/km.pyz all-in-one --data-dir ./km-data --secure-port $(PORT) --isolation $(ISOLATION)

# Debian packages the tests use: a real etcd server, groff to render the man pages, and the
# kubelet's pod sandbox (runc + conmon run containers; ip, unshare, nsenter build the pod's net),
# and headless Chromium with its driver for the web view's tests.
system-deps:
	@missing=""; \
	command -v etcd >/dev/null 2>&1 || missing="$$missing etcd-server"; \
	command -v groff >/dev/null 2>&1 || missing="$$missing groff"; \
	command -v runc >/dev/null 2>&1 || missing="$$missing runc"; \
	command -v conmon >/dev/null 2>&1 || missing="$$missing conmon"; \
	command -v ip >/dev/null 2>&1 || missing="$$missing iproute2"; \
	command -v nsenter >/dev/null 2>&1 || missing="$$missing util-linux"; \
	command -v nft >/dev/null 2>&1 || missing="$$missing nftables"; \
	command -v conntrack >/dev/null 2>&1 || missing="$$missing conntrack"; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	command -v chromedriver >/dev/null 2>&1 || missing="$$missing chromium-driver"; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

test: $(VENV)/.installed system-deps
	$(PY) -m pytest $(PYTEST_ARGS)

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check hyperkube servers tests build.py build_deps.py bench

bench: dist/km.pyz system-deps
	@command -v hyperfine >/dev/null && command -v wrk >/dev/null || { apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq hyperfine wrk; }
	$(PY) bench/startup.py
	$(PY) bench/api.py
	$(PY) bench/pythons.py
	$(PY) bench/door.py
	$(PY) bench/hollow_node.py --km dist/km.pyz
	$(PY) bench/kubelet.py --km dist/km.pyz  # as root also --isolation namespaces (else a note)
	$(PY) bench/exec.py --km dist/km.pyz  # kubectl exec against a direct true (as root also namespaces)
	$(PY) bench/portforward.py --km dist/km.pyz  # kubectl port-forward against a direct connection (as root also namespaces)
	$(PY) bench/all_in_one.py --km dist/km.pyz
	$(PY) bench/cluster.py --km dist/km.pyz  # 1,000 pods over 10 kubelets at 20/s, SQLite and etcd
	$(PY) bench/ui.py --km dist/km.pyz  # headless Chromium (make system-deps installs it)
	$(PY) bench/scheduler_algo.py
	$(PY) bench/scheduler_algo.py --service
	@command -v kubectl >/dev/null || { echo 'make bench: bench/apply.py needs kubectl (v1.32) on the PATH' >&2; exit 1; }
	$(PY) bench/apply.py

# DIST names another build's folder (the tests install the one they built).
install: $(DIST)/km.pyz
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1 \
	  $(DESTDIR)$(PREFIX)/share/bash-completion/completions $(DESTDIR)$(PREFIX)/share/zsh/site-functions
	install -m 755 $(DIST)/km.pyz $(DESTDIR)$(PREFIX)/bin/km
	$(DESTDIR)$(PREFIX)/bin/km --make-symlinks $(DESTDIR)$(PREFIX)/bin --force
	install -m 644 $(DIST)/man/*.1 $(DESTDIR)$(PREFIX)/share/man/man1/
	install -m 644 $(DIST)/completion/km.bash $(DESTDIR)$(PREFIX)/share/bash-completion/completions/km
	install -m 644 $(DIST)/completion/_km $(DESTDIR)$(PREFIX)/share/zsh/site-functions/_km

clean:
	rm -rf dist build .pytest_cache .ruff_cache .hypothesis
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
