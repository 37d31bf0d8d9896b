#!/usr/bin/env bash
# Prints the directory the test and benchmark tools are built into, made if
# needed: $SPARKWING_TOOLS_DIR, else sparkwing-tools under the user cache
# directory ($XDG_CACHE_HOME, else ~/.cache). It lies outside the clone, so
# a fresh clone on the same machine reuses what an earlier one built; each
# tool has its own subdirectory named for its version.
set -euo pipefail
dir=${SPARKWING_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/sparkwing-tools}
mkdir -p "$dir"
echo "$dir"
