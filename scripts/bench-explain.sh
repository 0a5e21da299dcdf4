#!/usr/bin/env bash
# bench-explain.sh — how fast is `oomkit explain` on a big syslog, next to grep?
#
# Generates (once, cached in $TMPDIR) a >= 256 MiB syslog of realistic
# unrelated lines with the real kernel OOM reports of
# internal/oomlog/testdata/corpus spliced in (scripts/gen-syslog), then times
#     grep -c -F oom-kill FILE
#     oomkit explain --json FILE > /dev/null
# with the file in the page cache, best of $RUNS runs each, and prints both
# times and the ratio. The target (issue 2) is explain at least half as fast
# as grep: ratio explain/grep <= 2.
#
# If the oomkit binary has no explain command, the oomlog.Scanner is timed
# over the same file instead (go run ./scripts/gen-syslog -scan FILE).
#
# Usage: scripts/bench-explain.sh [SIZE_MIB]     (default 256; env RUNS=3)
set -euo pipefail

cd "$(dirname "$0")/.."
size=${1:-256}
runs=${RUNS:-3}
tmp=${TMPDIR:-/tmp}
log="$tmp/oomkit-bench-syslog-${size}m.log"
bin="$tmp/oomkit-bench-bin"

if [[ ! -s "$log" ]]; then
	go run ./scripts/gen-syslog -size "$size" -o "$log"
fi
go build -o "$bin" ./cmd/oomkit

# best_of CMD...: the smallest wall time in seconds over $runs runs.
best_of() {
	local best="" t0 t1 t
	for ((i = 0; i < runs; i++)); do
		t0=$(date +%s%N)
		# Not >/dev/null: GNU grep notices it and stops at the first match.
		"$@" >"$tmp/oomkit-bench-out"
		t1=$(date +%s%N)
		t=$(((t1 - t0) / 1000))
		if [[ -z "$best" || $t -lt $best ]]; then best=$t; fi
	done
	awk -v us="$best" 'BEGIN { printf "%.3f", us / 1e6 }'
}

cat "$log" >/dev/null # into the page cache

mib=$(($(stat -c %s "$log") >> 20))
lines=$(wc -l <"$log")
matches=$(grep -c -F oom-kill "$log" || true)
grep_s=$(best_of grep -c -F oom-kill "$log")

if "$bin" explain --help >/dev/null 2>&1; then
	what="oomkit explain --json"
	events=$("$bin" explain --json "$log" | wc -l)
	explain_s=$(best_of "$bin" explain --json "$log")
else
	what="oomlog.Scanner (no explain command in this build)"
	go build -o "$tmp/oomkit-bench-scan" ./scripts/gen-syslog
	events=$("$tmp/oomkit-bench-scan" -scan "$log" | sed -n 's/^reports=\([0-9]*\).*/\1/p')
	explain_s=$(best_of "$tmp/oomkit-bench-scan" -scan "$log")
fi

echo "file:    $log ($mib MiB, $lines lines)"
echo "grep -c -F oom-kill:  ${grep_s} s  ($matches matching lines)"
echo "$what:  ${explain_s} s  ($events events)"
awk -v g="$grep_s" -v e="$explain_s" 'BEGIN {
	r = e / g
	printf "ratio explain/grep: %.2f (target <= 2.00: %s)\n", r, (r <= 2 ? "met" : "NOT met")
}'
