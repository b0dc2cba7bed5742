#!/usr/bin/env bash
# The project's test command (README): installs the third-party RocketMQ clients the
# integration tests drive, then runs every test. Idempotent; the clients are cached under
# target/clients/.
set -euo pipefail
cd "$(dirname "$0")/.."

need() { command -v "$1" >/dev/null 2>&1; }

# Debian packages the tests need, when missing (a fresh CI machine is root).
missing=()
need node || missing+=(nodejs)
need npm || missing+=(npm)
need ip || missing+=(iproute2)
python3 -m venv --help >/dev/null 2>&1 || missing+=(python3-venv)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && need apt-get; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
  else
    echo "missing: ${missing[*]} (install them, then run $0 again)" >&2
    exit 1
  fi
fi

# ali-ons 3.12.0 (npm), pinned by tests/clients/node/package.json.
mkdir -p target/clients/node
cp tests/clients/node/package.json target/clients/node/package.json
if [ ! -d target/clients/node/node_modules/ali-ons ]; then
  (cd target/clients/node && npm install --no-audit --no-fund --loglevel=error)
fi

# The Python bindings of rocketmq-client-cpp (1.0.1 and 2.1.0), one venv each.
mkdir -p target/clients/python
install_venv() { # name package
  local venv="target/clients/python/$1"
  if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import rocketmq.client' 2>/dev/null; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "$2"
  fi
}
install_venv v044 rocketmq==0.4.4
install_venv vcvs rocketmq-python-cvs==2.1.0.3
# rocketmq-client-python 2.0.0 (the binding with TransactionMQProducer) ships no librocketmq.so:
# it uses the cpp 2.1.0 library of the vcvs venv (tests set LD_LIBRARY_PATH the same way).
LD_LIBRARY_PATH="$(echo "$PWD"/target/clients/python/vcvs/lib/python3*/site-packages/rocketmq)" \
  install_venv vtx rocketmq-client-python==2.0.0

# glommio registers io_uring memory; the broker raises RLIMIT_MEMLOCK itself when it can.
ulimit -l unlimited 2>/dev/null || true

cargo test --all-targets "$@"
