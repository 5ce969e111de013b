#!/usr/bin/env bash
# Installs the system tools the product and its tests use, from Debian's packages, when they
# are missing: rsync, restic, OpenSSH (server, client, sftp), mosquitto, Chromium and Prometheus (its server scrapes a real Node-RED in test/system/metrics.test.js).
# Idempotent; never starts system services (the tests start their own on loopback ports).
#   TOOLS="rsync restic" bash scripts/install-tools.sh    # a subset (the demo needs only these)
set -euo pipefail

TOOLS=${TOOLS:-"rsync restic openssh-server openssh-client openssh-sftp-server mosquitto mosquitto-clients chromium prometheus"}

missing=()
for p in $TOOLS; do
  [[ "$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)" == "installed" ]] || missing+=("$p")
done

if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "Missing system packages: ${missing[*]}. Install them (for example: sudo apt-get install ${missing[*]}) and run this again." >&2
    exit 1
  fi
  echo "install-tools: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # Keep package scripts from starting sshd on :22 or mosquitto on :1883 while installing.
  policy=/usr/sbin/policy-rc.d
  made_policy=0
  if [[ ! -e $policy ]]; then printf '#!/bin/sh\nexit 101\n' > $policy; chmod 755 $policy; made_policy=1; fi
  trap '((made_policy)) && rm -f '"$policy" EXIT
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends -o Dpkg::Use-Pty=0 -o DPkg::Lock::Timeout=120 "${missing[@]}" >/tmp/highball-apt.log 2>&1 \
    || { tail -n 30 /tmp/highball-apt.log >&2; exit 1; }
fi

# sshd refuses to start without its privilege-separation folder (gone after a reboot).
if [[ " $TOOLS " == *" openssh-server "* && $(id -u) -eq 0 ]]; then mkdir -p -m 0755 /run/sshd; fi

command -v rsync  >/dev/null && echo "  $(rsync --version | head -1)"
command -v restic >/dev/null && echo "  $(restic version)"
exit 0
