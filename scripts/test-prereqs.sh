#!/usr/bin/env bash
# What the test suite needs from the machine, installed or started if missing:
# - a RabbitMQ broker on 127.0.0.1:5672 (skipped when FERRY_TEST_AMQP_URL points elsewhere);
# - nginx, so the edge configuration is exercised for real (best effort: its tests skip without it);
# - promtool (Debian package prometheus), to check and unit-test the alert rules (best effort: without
#   it tests/deploy still parses the rules and checks their metric names);
# - Chromium, the browser the web console's tests drive (best effort: they skip without it);
# - LibreOffice Writer, headless, for the parser's docx → pdf conversions (best effort: those tests skip
#   without it).
set -euo pipefail

SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
APT_UPDATED=0

apt_install() {
  if ! command -v apt-get >/dev/null 2>&1; then
    return 1
  fi
  if [[ $APT_UPDATED -eq 0 ]]; then
    $SUDO apt-get update -qq || return 1
    APT_UPDATED=1
  fi
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

rabbitmq_answers() { (exec 3<>/dev/tcp/127.0.0.1/5672) 2>/dev/null; }

ensure_rabbitmq() {
  if [[ -n "${FERRY_TEST_AMQP_URL:-}" ]] || rabbitmq_answers; then
    return 0
  fi
  if ! command -v rabbitmq-server >/dev/null 2>&1; then
    echo "RabbitMQ is not installed; installing it with apt-get" >&2
    apt_install rabbitmq-server
  fi
  if ! rabbitmq_answers; then
    echo "starting RabbitMQ" >&2
    $SUDO rabbitmq-server -detached || true
  fi
  for _ in $(seq 1 120); do
    if rabbitmq_answers; then
      return 0
    fi
    sleep 1
  done
  echo "RabbitMQ did not start on 127.0.0.1:5672" >&2
  return 1
}

ensure_nginx() {
  if command -v nginx >/dev/null 2>&1 || [[ -x /usr/sbin/nginx ]]; then
    return 0
  fi
  echo "installing nginx for the edge tests" >&2
  apt_install nginx-light || apt_install nginx || echo "nginx could not be installed; its tests will skip" >&2
}

ensure_promtool() {
  if command -v promtool >/dev/null 2>&1; then
    return 0
  fi
  echo "installing promtool (package prometheus) for the alert rule tests" >&2
  # Only the tool is wanted: keep the package's own Prometheus server from starting.
  if apt_install prometheus; then
    $SUDO systemctl disable --now prometheus >/dev/null 2>&1 || true
  else
    echo "promtool could not be installed; its tests will skip" >&2
  fi
}

ensure_chromium() {
  if [[ -x /usr/bin/chromium ]] || [[ -n "${FERRY_TEST_CHROMIUM:-}" ]]; then
    return 0
  fi
  echo "installing chromium for the web console's browser tests" >&2
  apt_install chromium || echo "chromium could not be installed; the console's browser tests will skip" >&2
}

ensure_libreoffice() {
  if command -v soffice >/dev/null 2>&1 || [[ -n "${FERRY_LIBREOFFICE:-}" ]]; then
    return 0
  fi
  echo "installing LibreOffice Writer (headless) for the docx to pdf conversion tests" >&2
  # A font of its own: without recommends, nothing else may bring one, and a PDF needs glyphs.
  apt_install --no-install-recommends libreoffice-writer-nogui fonts-dejavu-core \
    || echo "LibreOffice could not be installed; the docx to pdf tests will skip" >&2
}

ensure_rabbitmq
ensure_nginx
ensure_chromium
ensure_promtool
ensure_libreoffice
