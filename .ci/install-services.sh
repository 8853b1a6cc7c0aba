#!/usr/bin/env bash
# Installs the real servers and clients the test suite runs against, from Debian's packages, when missing.
# Tests start their own private instances (tests/servers.py); nothing here starts a service.
set -euo pipefail

need=()
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || need+=(mosquitto)
command -v mosquitto_sub >/dev/null 2>&1 || need+=(mosquitto-clients)
command -v nats-server >/dev/null 2>&1 || need+=(nats-server)
command -v influxd >/dev/null 2>&1 || need+=(influxdb)
command -v influx >/dev/null 2>&1 || need+=(influxdb-client)
ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || need+=(postgresql)
command -v mbpoll >/dev/null 2>&1 || need+=(mbpoll)
command -v runuser >/dev/null 2>&1 || need+=(util-linux)
# the browser tests drive Debian's Chromium through Playwright (whose own browser download is not available);
# tests/api renders /docs in it under its CSP
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v openssl >/dev/null 2>&1 || need+=(openssl)  # TLS test certificates (tests/tls_certs.py)

if [ ${#need[@]} -eq 0 ]; then
    echo "services: Mosquitto, InfluxDB, PostgreSQL, Chromium and the clients are installed"
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "services: missing Debian packages: ${need[*]}" >&2
    echo "services: run as root, or install them yourself: sudo apt-get install -y ${need[*]}" >&2
    exit 1
fi
echo "services: installing ${need[*]} from Debian's packages"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# Do not let the packages' maintainer scripts start system-wide daemons on the standard ports.
if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
echo "services: installed ${need[*]}"
