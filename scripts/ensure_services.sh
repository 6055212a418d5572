#!/usr/bin/env bash
# Make sure the local Redis and PostgreSQL that the tests use are up (DESIGN.md §7).
# Starts them if they are installed but down; installs them with apt-get on a
# machine that has neither (Debian); otherwise stops with one line saying what is missing.
set -u

redis_up() { (exec 3<>/dev/tcp/127.0.0.1/6379 && printf 'PING\r\n' >&3 && timeout 2 head -c 5 <&3 | grep -q PONG) 2>/dev/null; }
pg_up() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }

if ! redis_up; then
  if ! command -v redis-server >/dev/null 2>&1; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server) >/dev/null 2>&1 \
      || { echo "error: Redis is not running on 127.0.0.1:6379 and redis-server could not be installed" >&2; exit 1; }
  fi
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no >/dev/null
  for _ in $(seq 50); do redis_up && break; sleep 0.1; done
  redis_up || { echo "error: Redis did not start on 127.0.0.1:6379" >&2; exit 1; }
fi

if ! pg_up; then
  if [ ! -d /etc/postgresql ]; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql) >/dev/null 2>&1 \
      || { echo "error: PostgreSQL is not running on 127.0.0.1:5432 and could not be installed" >&2; exit 1; }
  fi
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start >/dev/null 2>&1
  for _ in $(seq 100); do pg_up && break; sleep 0.1; done
  pg_up || { echo "error: PostgreSQL did not start on 127.0.0.1:5432" >&2; exit 1; }
fi
exit 0
