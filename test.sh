#!/usr/bin/env bash
# The whole test suite, on a fresh Debian 12 machine with only the Rust toolchain:
# installs the peers the tests run against, then checks format, lints and runs every test,
# then builds the fuzz targets and runs each for 30 s (fuzz/run.sh).
# Needs root (packages, network namespaces). Usage: ./test.sh
set -euo pipefail
cd "$(dirname "$0")"

packages=(nsd knot knot-dnsutils knot-dnssecutils bind9 bind9-utils bind9-dnsutils unbound knot-resolver ldnsutils
          dnsperf keepalived nftables iproute2 procps iputils-ping busybox-static git g++ docker.io podman
          docker-compose faketime
          netavark aardvark-dns python3-certbot-dns-rfc2136 kea-dhcp-ddns-server
          pdns-server pdns-backend-sqlite3 sqlite3
          dns-root-data openssl
          systemd)   # systemd-analyze and systemd-sysusers check dnsd's unit (nothing is started)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  # policy-rc.d keeps Debian's postinst scripts from starting the daemons we install.
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

cargo fmt --all -- --check
cargo fmt --manifest-path fuzz/Cargo.toml -- --check
cargo clippy --workspace --all-targets -q -- -D warnings
cargo build --profile ci --workspace --bins
cargo test --profile ci --workspace
# The fuzz crate is a workspace of its own: built and run here so that it cannot rot.
fuzz/run.sh 30
