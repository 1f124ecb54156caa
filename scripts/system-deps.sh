#!/usr/bin/env bash
# Install the Debian packages the test suite drives for real (a database, an
# MQTT broker, a browser, podman and mmdebstrap for the container images) when they are absent. Idempotent; needs root
# or sudo. Each service is started by the tests themselves on loopback.
set -euo pipefail
need=()
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || need+=(mosquitto)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v podman >/dev/null 2>&1 || need+=(podman runc)
command -v mmdebstrap >/dev/null 2>&1 || need+=(mmdebstrap)
if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
echo "system-deps: installing ${need[*]}"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
# Debian starts packaged services on install; the tests run their own instances.
$SUDO service mosquitto stop >/dev/null 2>&1 || true
$SUDO service postgresql stop >/dev/null 2>&1 || true
