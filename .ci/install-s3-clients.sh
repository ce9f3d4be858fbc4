#!/usr/bin/env bash
# Make sure the S3 clients the tests drive are installed: the aws CLI, rclone, s3cmd, boto3 (for
# Debian's /usr/bin/python3: test/integration/gateway-boto3.test.ts runs a Python reader) and curl
# (test/integration/gateway-*.test.ts run them against `readpath serve` — curl for its own SigV4
# signer, `--aws-sigv4` —, and the bench
# smoke tests in test/bench/ run rclone; they fail, never skip, when one is missing), and
# openssl (it makes the TLS test's self-signed certificate) and zstd (the compression tests write
# s3-orchestrator's compressed layout with it, frame by frame, and check it decodes with it). Idempotent: installs only what is missing. Debian 12 (apt's awscli provides
# /usr/bin/aws), run as root.
set -euo pipefail

# command -> Debian package
declare -A PACKAGES=([aws]=awscli [rclone]=rclone [s3cmd]=s3cmd [curl]=curl [openssl]=openssl [boto3]=python3-boto3 [zstd]=zstd)
COMMANDS=(aws rclone s3cmd curl openssl boto3 zstd)

# On PATH and able to run: a shim (pyenv's `aws`) may exist and still fail.
works() {
  # Debian's python3-boto3 is importable by Debian's own interpreter, whatever python3 is first on PATH.
  if [ "$1" = boto3 ]; then /usr/bin/python3 -c 'import boto3' >/dev/null 2>&1; return; fi
  command -v "$1" >/dev/null 2>&1 || return 1
  case "$1" in
    openssl) openssl version >/dev/null 2>&1 ;;
    *) "$1" --version >/dev/null 2>&1 ;;
  esac
}

missing=()
for cmd in "${COMMANDS[@]}"; do
  if works "$cmd"; then
    echo "install-s3-clients: $cmd present ($(command -v "$cmd" || echo /usr/bin/python3))"
  else
    missing+=("${PACKAGES[$cmd]}")
  fi
done

if [ "${#missing[@]}" -eq 0 ]; then
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "install-s3-clients: missing ${missing[*]} and not root: cannot apt-get install" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends "${missing[@]}"

for cmd in "${COMMANDS[@]}"; do
  if ! works "$cmd"; then
    echo "install-s3-clients: $cmd still missing or broken after apt-get install (PATH=$PATH)" >&2
    exit 1
  fi
done
echo "install-s3-clients: installed ${missing[*]}"
