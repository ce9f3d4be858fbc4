#!/usr/bin/env bash
# Make sure rclone is installed, for the peer benchmark's smoke test (test/integration/
# peers-bench.test.ts runs `rclone copy` against a local S3 stub). Idempotent: installs only
# when it is missing. Debian 12 (apt), run as root.
set -euo pipefail

if command -v rclone >/dev/null 2>&1; then
  echo "install-rclone: $(rclone version 2>/dev/null | head -n 1) present"
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "install-rclone: rclone missing and not root: cannot apt-get install" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends rclone

if ! command -v rclone >/dev/null 2>&1; then
  echo "install-rclone: rclone still missing after apt-get install" >&2
  exit 1
fi
echo "install-rclone: installed $(rclone version 2>/dev/null | head -n 1)"
