#!/usr/bin/env bash
# Install ecgcls into .venv — the README's set-up command.
# Also installs Debian's chromium + chromium-driver (for the headless-browser test of `ecgcls serve`) when they
# are missing and apt can be used; without them that one test is skipped and everything else works.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
  apt=""
  if command -v apt-get >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ]; then apt="apt-get"; elif sudo -n true 2>/dev/null; then apt="sudo -n apt-get"; fi
  fi
  if [ -n "$apt" ]; then
    (DEBIAN_FRONTEND=noninteractive $apt update -qq && DEBIAN_FRONTEND=noninteractive $apt install -y -qq chromium chromium-driver) \
      || echo "scripts/install.sh: could not install chromium (the browser test will be skipped)" >&2
  else
    echo "scripts/install.sh: chromium/chromedriver missing and apt not usable (the browser test will be skipped)" >&2
  fi
fi
python3 -m venv .venv
.venv/bin/pip install torch==2.14.1 torchvision==0.29.1 -e ".[dev]"
