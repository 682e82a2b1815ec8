#!/usr/bin/env bash
# Installs the real client SDKs the interop tests drive the mocks with, into .sdk/ (git-ignored):
#   .sdk/venv          Python venv with rudder-sdk-python and looker_sdk
#   .sdk/node          node_modules with @rudderstack/rudder-sdk-node
# Interop tests look there; without it they show as ignored locally and fail under CI=true.
# The versions are pinned (and named in README.md): a new SDK release must not change what the
# tests check without a commit saying so. Bump them here and in the README together.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .sdk
if [ ! -x .sdk/venv/bin/python ]; then
  python3 -m venv .sdk/venv
fi
RUDDER_SDK_PYTHON=2.1.9
LOOKER_SDK=26.22.0
RUDDER_SDK_NODE=3.0.13
.sdk/venv/bin/pip install --quiet --disable-pip-version-check \
  "rudder-sdk-python==$RUDDER_SDK_PYTHON" "looker_sdk==$LOOKER_SDK"
mkdir -p .sdk/node
node_pkg=.sdk/node/node_modules/@rudderstack/rudder-sdk-node/package.json
if ! grep -q "\"version\": \"$RUDDER_SDK_NODE\"" "$node_pkg" 2>/dev/null; then
  (cd .sdk/node && { [ -f package.json ] || npm init -y >/dev/null; } \
    && npm install --silent --no-audit --no-fund "@rudderstack/rudder-sdk-node@$RUDDER_SDK_NODE")
fi
# The stamp the crates' build scripts look for (written last: only a complete install counts).
printf 'rudder-sdk-python %s\nlooker_sdk %s\n@rudderstack/rudder-sdk-node %s\n' \
  "$RUDDER_SDK_PYTHON" "$LOOKER_SDK" "$RUDDER_SDK_NODE" > .sdk/installed
echo "SDKs ready in .sdk/"
