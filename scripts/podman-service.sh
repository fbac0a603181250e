#!/usr/bin/env bash
# Starts Podman's Docker-compatible API (`podman system service`) on a socket Berth and its tests use, unless one
# already answers there. Podman runs with runc (crun fails on this machine's cgroup layout, MACHINE-NOTES.md).
# Usage: scripts/podman-service.sh [SOCKET]   (default /run/berth-podman/podman.sock)
set -euo pipefail
sock="${1:-${BERTH_CONTAINER_SOCKET:-/run/berth-podman/podman.sock}}"
mkdir -p "$(dirname "$sock")"

# Podman's engine defaults: runc as the OCI runtime, ulimits within the host's hard limits.
conf=/etc/containers/containers.conf
if [ -w /etc/containers ] || [ "$(id -u)" = "0" ]; then
  mkdir -p /etc/containers
  if ! grep -qs '^runtime *= *"runc"' "$conf"; then
    if grep -qs '^\[engine\]' "$conf"; then
      # An [engine] table exists: add the runtime to it (a second [engine] header would be invalid TOML).
      sed -i '/^\[engine\]/a runtime = "runc"  # Berth scripts/podman-service.sh: crun fails on this cgroup layout' "$conf"
    else
      {
        echo '# Written by Berth scripts/podman-service.sh: crun fails on this cgroup layout; runc works.'
        echo '[engine]'
        echo 'runtime = "runc"'
      } >>"$conf"
    fi
  fi
fi

ping() { curl -sf --unix-socket "$sock" http://d/_ping >/dev/null 2>&1; }
if ping; then echo "podman API already serving on $sock"; exit 0; fi
rm -f "$sock"
nohup podman --runtime runc system service --time=0 "unix://$sock" >/var/log/berth-podman-service.log 2>&1 &
for _ in $(seq 1 100); do
  if ping; then echo "podman API serving on $sock"; exit 0; fi
  sleep 0.1
done
echo "podman system service did not answer on $sock; see /var/log/berth-podman-service.log" >&2
exit 1
