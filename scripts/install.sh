#!/usr/bin/env bash
# Set up ais_like on a fresh Debian/Ubuntu machine: system libraries for the OpenGL workbench
# (and a virtual screen for headless tests), a virtual environment in .venv, the package with
# its test tools, and the CPU build of PyTorch for the second Keras backend's tests.
# Usage: bash scripts/install.sh            (from the repository root)
#        AIS_LIKE_NO_APT=1 bash scripts/install.sh   to skip the apt step
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES="xvfb xauth libgl1 libgl1-mesa-dri libglx-mesa0 libegl1 libx11-6 libx11-xcb1 libxrandr2 \
libxinerama1 libxcursor1 libxi6 libxext6 libxrender1 libxxf86vm1"

if [ -z "${AIS_LIKE_NO_APT:-}" ] && command -v apt-get >/dev/null 2>&1; then
    SUDO=""
    [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1 && SUDO="sudo"
    if [ "$(id -u)" -eq 0 ] || [ -n "$SUDO" ]; then
        missing=""
        for p in $APT_PACKAGES; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
        if [ -n "$missing" ]; then
            echo "installing system packages:$missing"
            $SUDO apt-get update -qq
            DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
        fi
    else
        echo "note: not root and no sudo: install these for the GUI and its tests: $APT_PACKAGES" >&2
    fi
fi

PY="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
# The CPU build of torch (the Keras PyTorch backend is tested too); a pinned version keeps pip
# from choosing a multi-GB CUDA build. Skip with AIS_LIKE_NO_TORCH=1.
if [ -z "${AIS_LIKE_NO_TORCH:-}" ]; then
    .venv/bin/python -m pip install -q "torch==2.13.0" 2>/dev/null \
        || echo "note: PyTorch not installed; the KERAS_BACKEND=torch tests will be skipped" >&2
fi
.venv/bin/python -m pip install -q -e ".[test,cluster]"
echo "ais_like installed in .venv ($(.venv/bin/ais-like --version))"
