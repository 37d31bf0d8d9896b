#!/usr/bin/env bash
# fetch-realworld.sh DIR: download the Dockerfiles listed in realworld.md
# into DIR/ID: for a Go module, its zip at the listed version from the Go
# module proxy (GOPROXY's first URL, default https://proxy.golang.org),
# kept in DIR/.zips; for a GitHub repository, the file at the listed commit.
set -euo pipefail
dir=${1:?usage: fetch-realworld.sh DIR}
here=$(cd "$(dirname "$0")" && pwd)
proxy=$(go env GOPROXY 2>/dev/null | cut -d, -f1)
case "$proxy" in http*) ;; *) proxy=https://proxy.golang.org ;; esac
mkdir -p "$dir/.zips"
grep -E '^\| [0-9]+ \|' "$here/realworld.md" | while IFS='|' read -r _ id mod version path _; do
  id=$(echo "$id" | xargs) mod=$(echo "$mod" | xargs) version=$(echo "$version" | xargs) path=$(echo "$path" | xargs)
  if [[ "$version" =~ ^[0-9a-f]{40}$ ]]; then # a GitHub repository at a commit
    curl -fsSL -o "$dir/$id.tmp" "https://raw.githubusercontent.com/${mod#github.com/}/$version/$path"
    mv "$dir/$id.tmp" "$dir/$id"
    continue
  fi
  # The proxy's path escaping: an upper-case letter becomes ! and the letter.
  esc=$(echo "$mod" | sed 's/\([A-Z]\)/!\L\1/g')
  zip="$dir/.zips/$(echo "$mod@$version" | tr '/' '_').zip"
  if [ ! -f "$zip" ]; then
    curl -fsSL -o "$zip.tmp" "$proxy/$esc/@v/$version.zip"
    mv "$zip.tmp" "$zip"
  fi
  if ! unzip -p "$zip" "$mod@$version/$path" > "$dir/$id.tmp" || [ ! -s "$dir/$id.tmp" ]; then
    echo "fetch-realworld: $mod@$version has no $path (or could not be downloaded from $proxy)" >&2
    exit 1
  fi
  mv "$dir/$id.tmp" "$dir/$id"
done
echo "fetched $(ls "$dir" | wc -l) files into $dir"
