#!/usr/bin/env bash
# Fails, listing them, when Go files are not gofmt-formatted. Skips the
# directories the go tool skips: testdata, vendor, and names starting with
# "." or "_".
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
GOFMT=${GOFMT:-$("$GO" env GOROOT)/bin/gofmt}

unformatted=$(find . \( -type d ! -name . \( -name '.*' -o -name '_*' -o -name testdata -o -name vendor \) -prune \) \
	-o \( -type f -name '*.go' -print0 \) | xargs -0 -r "$GOFMT" -l)
if [ -n "$unformatted" ]; then
	echo "gofmt: these files need formatting (gofmt -w FILE):" >&2
	printf '  %s\n' $unformatted >&2
	exit 1
fi
echo "gofmt: ok"
