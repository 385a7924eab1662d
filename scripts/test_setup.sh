#!/usr/bin/env bash
# Runs before `npm test` (its `pretest`): makes this machine ready for the
# suite, or stops at once naming what is missing. Starts Redis (127.0.0.1:6379)
# and PostgreSQL (127.0.0.1:5432) when they are installed but stopped, fetches
# Kafka's jars (scripts/kafka.sh; the tests start their own brokers), and
# installs the runtime matrix's extra runtimes (the newest Node and Bun, from
# scripts/runtimes/, pinned by its lockfile) and Chromium for the browser
# tests with the system's package manager when it runs as root. Safe to run
# again; quick when everything is there.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

missing() {
  echo "npm test: $1" >&2
  exit 1
}

redis_up() { redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; }
postgres_up() { pg_isready -q -h 127.0.0.1 -p 5432 >/dev/null 2>&1; }

command -v redis-cli >/dev/null || missing "Redis is not installed (apt-get install redis-server)"
command -v pg_isready >/dev/null || missing "PostgreSQL is not installed (apt-get install postgresql)"
if ! redis_up; then
  echo "--- starting Redis on 127.0.0.1:6379"
  mkdir -p /tmp/streamcast-redis
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /tmp/streamcast-redis --logfile /tmp/streamcast-redis/redis.log || true
fi
if ! postgres_up && command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ]; then
  echo "--- starting PostgreSQL on 127.0.0.1:5432"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n 1)" main start || true
fi
for _ in $(seq 1 50); do
  redis_up && postgres_up && break
  sleep 0.2
done
redis_up || missing "Redis is not answering on 127.0.0.1:6379 and could not be started"
postgres_up || missing "PostgreSQL is not answering on 127.0.0.1:5432 and could not be started (trust auth and a database named test are needed)"

command -v java >/dev/null || missing "Java is not installed (Kafka's broker needs Java 17 or later)"
command -v mvn >/dev/null || [ -d .cache/kafka/libs ] || missing "Maven is not installed (it fetches Kafka's jars once)"
bash scripts/kafka.sh fetch

# The lockfile copied into node_modules/ marks an install that is complete and current.
stamp=scripts/runtimes/node_modules/.installed-lock.json
install_runtimes() {
  echo "--- installing the matrix's extra runtimes (scripts/runtimes: newest Node, Bun)"
  rm -rf scripts/runtimes/node_modules
  local log
  log=$(mktemp)
  npm ci --prefix scripts/runtimes --no-audit --no-fund </dev/null >"$log" 2>&1 || {
    cat "$log" >&2
    missing "could not install the runtimes of scripts/runtimes (npm ci --prefix scripts/runtimes)"
  }
  rm -f "$log"
  cp scripts/runtimes/package-lock.json "$stamp"
}
cmp -s scripts/runtimes/package-lock.json "$stamp" || install_runtimes

chromium="${CHROMIUM_PATH:-/usr/bin/chromium}"
if [ ! -x "$chromium" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "--- installing Chromium for the browser tests"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } ||
      echo "npm test: apt-get could not install chromium" >&2
  fi
  [ -x "$chromium" ] || missing "Chromium is not installed at $chromium (apt-get install chromium, as root, or set CHROMIUM_PATH): the browser tests need it"
fi

# Every runtime of the matrix must run now, not be found missing at the end of the run.
# The extra runtimes are optional dependencies, whose failed install npm does not report: reinstall once.
if ! node scripts/test_matrix.js --check 2>/dev/null; then
  install_runtimes
  node scripts/test_matrix.js --check || missing "a runtime of the test matrix is missing (above)"
fi
