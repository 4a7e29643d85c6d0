#!/usr/bin/env bash
# The one test command (README, .ci/run): installs what the tests need on a fresh Debian
# machine, then checks formatting and lints and runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# Debian packages: the real nginx (the oracle of the differential tests) and the dynamic
# modules Debian ships for it (the corpus's modules-enabled/ loads them); for the browser
# test (tests/browser.rs), a VNC server, xsetroot, websockify, noVNC, chromium and chromedriver.
packages=(nginx libnginx-mod-mail libnginx-mod-stream libnginx-mod-http-geoip
          libnginx-mod-http-image-filter libnginx-mod-http-xslt-filter libnginx-mod-http-perl
          libnginx-mod-stream-geoip libnginx-mod-http-echo
          tigervnc-standalone-server x11-xserver-utils websockify novnc chromium chromium-driver)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
    echo "installing: ${missing[*]}"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# The packaged nginx starts a service on port 80; the tests run their own on loopback ports.
as_root systemctl stop nginx >/dev/null 2>&1 || true

command -v cargo >/dev/null || { echo "cargo is required (https://rustup.rs)"; exit 1; }
cargo fmt --all -- --check
cargo clippy --all-targets --quiet -- -D warnings
cargo test --all-targets
