#!/usr/bin/env bash
# Make sure a Redis answers on 127.0.0.1:6379 for the tests: use the one that runs, else start one
# (installing Debian's redis-server first if the machine has none). It keeps nothing on disk.
set -euo pipefail

answers() {
    if command -v redis-cli >/dev/null 2>&1; then
        redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG
    else
        (exec 3<>/dev/tcp/127.0.0.1/6379 && printf 'PING\r\n' >&3 && head -c 5 <&3 | grep -q PONG) 2>/dev/null
    fi
}

answers && exit 0
if ! command -v redis-server >/dev/null 2>&1; then
    echo "Installing redis-server..." >&2
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq && $SUDO apt-get install -y -qq redis-server >/dev/null
fi
echo "Starting redis-server on 127.0.0.1:6379..." >&2
redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no --dir /tmp \
    --logfile /tmp/prelabel-redis.log
for _ in $(seq 50); do answers && exit 0; sleep 0.1; done
echo "redis-server did not answer on 127.0.0.1:6379 (log: /tmp/prelabel-redis.log)" >&2
exit 1
