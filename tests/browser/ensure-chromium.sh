#!/bin/sh
# `make test` runs this first: the browser tests drive Debian's headless Chromium through its
# chromedriver. Installs both when missing and this user can (root or password-less sudo, with
# apt-get); otherwise stops with one line saying what to install.
chromium=${KALMANAC_TEST_CHROMIUM:-/usr/bin/chromium}
driver=${KALMANAC_TEST_CHROMEDRIVER:-/usr/bin/chromedriver}
[ -x "$chromium" ] && [ -x "$driver" ] && exit 0

if [ "$(id -u)" = 0 ]; then as_root=""; elif sudo -n true 2>/dev/null; then as_root="sudo -n"; else as_root=none; fi
if [ "$as_root" = none ] || ! command -v apt-get >/dev/null; then
  echo "make test: the browser tests need $chromium and $driver; install them (Debian: apt-get install chromium chromium-driver) or point KALMANAC_TEST_CHROMIUM / KALMANAC_TEST_CHROMEDRIVER at them" >&2
  exit 1
fi
echo "make test: installing chromium and chromium-driver for the browser tests (once)"
$as_root apt-get update -qq &&
  DEBIAN_FRONTEND=noninteractive $as_root apt-get install -y -qq --no-install-recommends \
    chromium chromium-driver >/dev/null
