#!/usr/bin/env bash
# The test command: runs every test of the crate. Tests that need a real
# server start it themselves on 127.0.0.1 at a free port (today: `rclone serve
# restic` for the REST backend; install it with `apt-get install rclone`).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --locked --all-targets "$@"
cargo test --locked --doc
