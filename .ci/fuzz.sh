#!/usr/bin/env bash
# Finds every fuzz target (func FuzzXxx(*testing.F) in a *_test.go file) and
# runs each, one at a time, for FUZZTIME:
#
#   .ci/fuzz.sh FUZZTIME           e.g. .ci/fuzz.sh 10s
#
# Runs them all, then exits non-zero if any failed. A crasher is written by
# go test under the package's testdata/fuzz/; pin it as a test case.
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
fuzztime=${1:?usage: .ci/fuzz.sh FUZZTIME}

# Test files, in a stable order, outside the directories the go tool skips.
files=$(find . \( -type d ! -name . \( -name '.*' -o -name '_*' -o -name testdata -o -name vendor \) -prune \) \
	-o \( -type f -name '*_test.go' -print \) | LC_ALL=C sort)

targets=() # "dir name"
for f in $files; do
	names=$(sed -n 's/^func \(Fuzz\([A-Z0-9_][A-Za-z0-9_]*\)\{0,1\}\)(.*\*testing\.F).*/\1/p' "$f")
	for name in $names; do
		targets+=("$(dirname "$f") $name")
	done
done

if [ ${#targets[@]} -eq 0 ]; then
	echo "fuzz: no fuzz targets yet"
	exit 0
fi

failed=()
for t in "${targets[@]}"; do
	read -r dir name <<<"$t"
	echo "fuzz: $name in $dir for $fuzztime"
	if ! "$GO" test -run='^$' -fuzz="^$name\$" -fuzztime="$fuzztime" "$dir"; then
		failed+=("$name ($dir)")
	fi
done

echo "fuzz: ran ${#targets[@]} target(s), ${#failed[@]} failed"
if [ ${#failed[@]} -ne 0 ]; then
	printf 'fuzz: FAILED %s\n' "${failed[@]}" >&2
	exit 1
fi
