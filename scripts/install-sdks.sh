#!/usr/bin/env bash
# Installs the real client SDKs the interop tests drive the mocks with, into .sdk/ (git-ignored):
#   .sdk/venv          Python venv with rudder-sdk-python and looker_sdk
#   .sdk/node          node_modules with @rudderstack/rudder-sdk-node
# Interop tests look there; without it they are skipped locally and fail under CI=true.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .sdk
if [ ! -x .sdk/venv/bin/python ]; then
  python3 -m venv .sdk/venv
fi
.sdk/venv/bin/pip install --quiet --disable-pip-version-check rudder-sdk-python looker_sdk
mkdir -p .sdk/node
if [ ! -d .sdk/node/node_modules/@rudderstack/rudder-sdk-node ]; then
  (cd .sdk/node && npm init -y >/dev/null && npm install --silent --no-audit --no-fund @rudderstack/rudder-sdk-node@3)
fi
echo "SDKs ready in .sdk/"
