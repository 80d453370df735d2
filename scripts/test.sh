#!/usr/bin/env bash
# The test command: starts the real servers the tests need (none yet for the
# local repository engine) and runs every test of the crate.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --locked --all-targets "$@"
cargo test --locked --doc
