#!/usr/bin/env bash
# Installs the Debian packages the tests need, when missing: PostgreSQL (server binaries
# for the throwaway test cluster), SIPp (package sip-tester), espeak-ng, sox, baresip (voice
# tests), stress-ng (make test-stress), Chromium and its WebDriver (console tests), Prometheus
# (promtool: checks /metrics and deploy/alerts.yml). Needs root
# (or sudo); does nothing when all are present.
set -euo pipefail
missing=()
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
command -v runuser >/dev/null 2>&1 || missing+=(util-linux)
command -v sipp >/dev/null 2>&1 || missing+=(sip-tester)
command -v espeak-ng >/dev/null 2>&1 || missing+=(espeak-ng)
command -v sox >/dev/null 2>&1 || missing+=(sox)
command -v stress-ng >/dev/null 2>&1 || missing+=(stress-ng)  # make test-stress
command -v baresip >/dev/null 2>&1 || missing+=(baresip)  # the interop callee (tests/voice)
command -v npm >/dev/null 2>&1 || missing+=(nodejs npm)  # the loopback SMSC (outbound/testing/smsc_js)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)  # console tests: headless browser
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)  # and its WebDriver
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)  # promtool: /metrics and alert rules
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "installing system packages: ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || { echo "need root or sudo to apt-get install ${missing[*]}" >&2; exit 1; }
  SUDO=sudo
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
# Debian starts a cluster on install; the tests run their own, so stop the packaged one (and
# the packaged Prometheus server: the tests only use its promtool).
$SUDO service postgresql stop >/dev/null 2>&1 || true
$SUDO service prometheus stop >/dev/null 2>&1 || true
