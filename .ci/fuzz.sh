#!/usr/bin/env bash
# Finds every fuzz target (func FuzzXxx(*testing.F) in a *_test.go file) and
# runs each, one at a time, for FUZZTIME:
#
#   .ci/fuzz.sh FUZZTIME           e.g. .ci/fuzz.sh 10s
#
# Runs them all, then exits non-zero if any failed. A crasher is written by
# go test under the package's testdata/fuzz/; pin it as a test case. A bare
# "context deadline exceeded" at the end with no input written is Go's
# coordinator race (golang/go#75804), not a finding: that target runs again,
# at most 5 times, and fails if it never passes.
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

log=$(mktemp)
trap 'rm -f "$log"' EXIT

# run_target DIR NAME: one fuzz run; 0 on pass, 1 on a failure, 2 on Go's own
# end-of-fuzztime race (golang/go#75804, fixed in Go 1.27): the run fails with
# a bare "context deadline exceeded" at the -fuzztime boundary and no input
# failed, so go test wrote no new reproducer under testdata/fuzz/NAME.
run_target() {
	local dir=$1 name=$2 corpus="$1/testdata/fuzz/$2" before after
	before=$(ls "$corpus" 2>/dev/null | wc -l)
	if "$GO" test -run='^$' -fuzz="^$name\$" -fuzztime="$fuzztime" "$dir" 2>&1 | tee "$log"; then
		return 0
	fi
	after=$(ls "$corpus" 2>/dev/null | wc -l)
	if [ "$after" -eq "$before" ] && grep -q '^    context deadline exceeded$' "$log" &&
		! grep -q -e '^panic:' -e 'Failing input written to' "$log"; then
		return 2
	fi
	return 1
}

failed=()
for t in "${targets[@]}"; do
	read -r dir name <<<"$t"
	echo "fuzz: $name in $dir for $fuzztime"
	rc=0
	for attempt in 1 2 3 4 5; do
		rc=0
		run_target "$dir" "$name" || rc=$?
		[ "$rc" -eq 2 ] || break
		msg="fuzz: $name: Go's fuzztime deadline race (golang/go#75804), no input failed and none was written; run $attempt of 5"
		if [ "$attempt" -lt 5 ]; then echo "$msg, running again"; else echo "$msg, giving up"; fi
	done
	if [ "$rc" -ne 0 ]; then
		failed+=("$name ($dir)")
	fi
done

echo "fuzz: ran ${#targets[@]} target(s), ${#failed[@]} failed"
if [ ${#failed[@]} -ne 0 ]; then
	printf 'fuzz: FAILED %s\n' "${failed[@]}" >&2
	exit 1
fi
