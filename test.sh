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
          containernetworking-plugins   # podman's CNI backend (tests/src/engines.rs); nothing pulls it in
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

# Replay scenarios written by others (tests/tests/resolver_replay.rs): Unbound's
# testdata/*.rpl and Deckard's (in knot-resolver's tarball) come from Debian's source
# packages, fetched by apt from Debian's archive (signed Sources index, checksums
# checked by apt and again by the test against the .dsc) into a cache outside the
# repository, with apt settings of their own (the system's sources are left alone).
replay_cache=/var/cache/netfabric-tests
if ! ls "$replay_cache"/src/unbound_*.dsc "$replay_cache"/src/knot-resolver_*.dsc >/dev/null 2>&1; then
  mkdir -p "$replay_cache"/apt/lists/partial "$replay_cache"/src
  printf 'deb-src http://deb.debian.org/debian bookworm main\ndeb-src http://deb.debian.org/debian-security bookworm-security main\n' \
    > "$replay_cache"/apt/sources.list
  apt_replay=(-o Dir::Etc::SourceList="$replay_cache"/apt/sources.list -o Dir::Etc::SourceParts=/dev/null
              -o Dir::State::Lists="$replay_cache"/apt/lists -o APT::Sandbox::User=root)
  apt-get "${apt_replay[@]}" update -qq
  (cd "$replay_cache"/src && apt-get "${apt_replay[@]}" source --download-only -qq unbound knot-resolver)
fi

cargo fmt --all -- --check
cargo fmt --manifest-path fuzz/Cargo.toml -- --check
cargo clippy --workspace --all-targets -q -- -D warnings
cargo build --profile ci --workspace --bins
cargo test --profile ci --workspace
# The fuzz crate is a workspace of its own: built and run here so that it cannot rot.
fuzz/run.sh 30
