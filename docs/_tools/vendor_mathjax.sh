#!/usr/bin/env bash
# Re-create docs/_static/mathjax/ from the npm package mathjax@3.2.2
# (Apache-2.0). Only the TeX -> CommonHTML bundle, its woff-v2 fonts and three
# small TeX extensions that the bundle autoloads are kept (about 1.6 MiB), so
# the documentation renders formulas without network access.
# Usage: bash docs/_tools/vendor_mathjax.sh   (needs npm; run from anywhere)
set -euo pipefail
version=3.2.2
here="$(cd "$(dirname "$0")/.." && pwd)"
dest="$here/_static/mathjax"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack "mathjax@$version" >/dev/null && tar xzf "mathjax-$version.tgz")
src="$tmp/package"
rm -rf "$dest.new"
mkdir -p "$dest.new/output/chtml/fonts" "$dest.new/input/tex/extensions"
cp "$src/es5/tex-chtml.js" "$dest.new/"
cp -r "$src/es5/output/chtml/fonts/woff-v2" "$dest.new/output/chtml/fonts/"
for ext in boldsymbol color cancel; do
  cp "$src/es5/input/tex/extensions/$ext.js" "$dest.new/input/tex/extensions/"
done
cp "$src/LICENSE" "$dest.new/LICENSE"
cp "$dest/README.txt" "$dest.new/README.txt" 2>/dev/null || true
rm -rf "$dest.old"
if [ -d "$dest" ]; then mv "$dest" "$dest.old"; fi
mv "$dest.new" "$dest"
rm -rf "$dest.old"
echo "MathJax $version vendored into $dest"
