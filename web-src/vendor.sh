#!/bin/sh
# Re-vendor the dashboard's browser libraries from the npm registry into src/printerlynx/web/vendor/.
# The copied files are committed, so running Printerlynx never needs npm or a network at run time.
# Usage (from anywhere):  sh web-src/vendor.sh        # installs exactly what package-lock.json pins
# To upgrade: edit the ranges in package.json, run `npm install --ignore-scripts` here, then this script.
set -eu
here="$(cd "$(dirname "$0")" && pwd)"
out="$here/../src/printerlynx/web/vendor"
cd "$here"
npm ci --ignore-scripts --no-audit --no-fund
mkdir -p "$out"
rm -f "$out"/*
nm="$here/node_modules"
cp "$nm/preact/dist/preact.module.js" "$out/preact.module.js"
cp "$nm/preact/hooks/dist/hooks.module.js" "$out/preact-hooks.module.js"
cp "$nm/htm/dist/htm.module.js" "$out/htm.module.js"
cp "$nm/uplot/dist/uPlot.esm.js" "$out/uPlot.esm.js"
cp "$nm/uplot/dist/uPlot.min.css" "$out/uPlot.min.css"
# Source maps are not shipped: drop the comments that point at them (avoids 404s in devtools).
for file in "$out"/*.js; do
  sed -i '/^\/\/# sourceMappingURL=/d' "$file"
done
{
  echo "Vendored by web-src/vendor.sh from the npm registry; do not edit by hand."
  for pkg in preact htm uplot; do
    version=$(node -p "require('$nm/$pkg/package.json').version")
    echo "$pkg $version"
    cp "$nm/$pkg/LICENSE" "$out/LICENSE.$pkg"
  done
} > "$out/VERSIONS.txt"
echo "vendored into $out:"
ls -l "$out"
