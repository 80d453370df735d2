#!/usr/bin/env bash
# The test command: runs every test of the crate. Tests that need a real
# server start it themselves on 127.0.0.1 at a free port: `rclone serve restic`
# for REST (`apt-get install rclone`), sshd for SFTP (`apt-get install
# openssh-server`), garage for S3 (`cargo install garage@2.5.0 --locked`);
# `snap serve` is tested with restic (`apt-get install restic`) and openssl;
# etcd backup, restore and client against etcd (`apt-get install etcd-server
# etcd-client`); git repositories with git.
# A missing server fails its tests with these instructions; .ci/run installs
# them all.
set -euo pipefail
cd "$(dirname "$0")/.."
# `testing` builds the test kit (backend conformance suite, fault-injecting
# backend) that the server tests use; without it they are not built.
cargo test --locked --all-targets --features testing "$@"
cargo test --locked --doc
