#!/usr/bin/env bash
# Install and start everything the collection's tests and demo need on a fresh
# Debian 12 machine: a Docker engine, skopeo, the stand-in registry:2 image, the
# Molecule instance image of the roles, and a Python virtual environment (.venv)
# with the pinned tooling.
# Safe to run again: every step skips what is already in place.
set -euo pipefail

cd "$(dirname "$0")/.."
root=$(pwd)
log() { printf '[setup] %s\n' "$*"; }

SUDO=
if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null || { echo "run as root or install sudo" >&2; exit 1; }
    SUDO=sudo
fi

# --- Debian packages ------------------------------------------------------
packages=(docker.io skopeo docker-registry busybox-static openssl git make python3-venv mmdebstrap)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    log "installing ${missing[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# --- Docker engine --------------------------------------------------------
if ! docker info >/dev/null 2>&1; then
    log "starting dockerd"
    # No systemd on the CI host: run the daemon in the background.
    $SUDO sh -c 'nohup dockerd >/var/log/dockerd.log 2>&1 &'
    for _ in $(seq 1 60); do
        docker info >/dev/null 2>&1 && break
        sleep 1
    done
    docker info >/dev/null 2>&1 || { echo "dockerd did not start; see /var/log/dockerd.log" >&2; tail -20 /var/log/dockerd.log >&2; exit 1; }
fi
log "docker $(docker version -f '{{.Server.Version}}') running"

# --- registry:2, and the Molecule instance image of the roles ---------------
scripts/build-registry-image.sh
scripts/build-molecule-image.sh

# --- Python tooling -------------------------------------------------------
venv=$root/.venv
if [ ! -x "$venv/bin/python" ]; then
    log "creating $venv"
    python3 -m venv "$venv"
fi
stamp=$venv/.requirements.sha256
want=$(cat requirements.txt requirements-dev.txt | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    log "installing Python tooling (requirements-dev.txt)"
    "$venv/bin/pip" install -q --upgrade pip
    "$venv/bin/pip" install -q -r requirements.txt -r requirements-dev.txt
    echo "$want" > "$stamp"
fi
log "$("$venv/bin/ansible" --version | head -1), skopeo $(skopeo --version | awk '{print $3}')"
