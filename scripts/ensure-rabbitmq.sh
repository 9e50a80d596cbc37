#!/usr/bin/env bash
# Make sure a RabbitMQ broker answers on 127.0.0.1:5672 for the tests:
# start the machine's server if it is installed, install it (Debian/Ubuntu) if not.
# Skipped when FERRY_TEST_AMQP_URL points the tests at another broker.
set -euo pipefail

if [[ -n "${FERRY_TEST_AMQP_URL:-}" ]]; then
  exit 0
fi

answers() { (exec 3<>/dev/tcp/127.0.0.1/5672) 2>/dev/null; }

if answers; then
  exit 0
fi

SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi

if ! command -v rabbitmq-server >/dev/null 2>&1; then
  echo "RabbitMQ is not installed; installing it with apt-get" >&2
  $SUDO apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq rabbitmq-server >/dev/null
fi

if ! answers; then
  echo "starting RabbitMQ" >&2
  $SUDO rabbitmq-server -detached || true
fi

for _ in $(seq 1 120); do
  if answers; then
    exit 0
  fi
  sleep 1
done
echo "RabbitMQ did not start on 127.0.0.1:5672" >&2
exit 1
