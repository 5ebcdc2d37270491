#!/usr/bin/env bash
# A long chaos run: t/chaos.t (t/peers/chaos.py's random clients and
# backends through nginx with two workers, reloads during the run) for
# DURATION seconds with CLIENTS concurrent clients, against the sanitizer
# build, then a report.
#
#   scripts/chaos.sh DURATION CLIENTS
#   scripts/chaos.sh 600 40
#
# Environment:
#   BUILD=build-asan     the build whose env.sh is sourced (default
#                        build-asan; BUILD=build for the plain one)
#   CHAOS_SEED=N         replay a run (the seed is printed in the report)
#   CHAOS_RELOADS=N      reloads during the run (default: one per 30 s)
#
# The nginx directory of the run is kept (t/tmp/ws-XXXXXX: error.log,
# access.log, chaos.json, chaos.log, and chaos-trace.jsonl with one line
# per client: kind, URI, times, outcome); the report gives its path, the
# test results, the outcomes per client kind and backend behaviour, the
# error log lines by level and message, and any sanitizer report. The exit
# status is that of the test: 0 when every check passed.
set -uo pipefail

[ $# -eq 2 ] || { sed -n '2,21p' "$0" >&2; exit 2; }
duration=$1
clients=$2
cd "$(dirname "$0")/.." || exit 2
build=${BUILD:-build-asan}
if [ ! -f "$build/env.sh" ]; then
    echo "chaos: no $build/env.sh (make module-asan)" >&2
    exit 2
fi
# shellcheck disable=SC1090,SC1091
. "$build/env.sh"

export CHAOS_DURATION=$duration CHAOS_CLIENTS=$clients NGX_WS_KEEP=1
reloads=$(( duration / 30 > 2 ? duration / 30 : 2 ))
export CHAOS_RELOADS=${CHAOS_RELOADS:-$reloads}
mkdir -p t/tmp
out=$(mktemp t/tmp/chaos-run-XXXXXX.log)

echo "chaos: $duration s, $clients clients, $CHAOS_RELOADS reloads," \
    "$build; output in $out"
prove -v t/chaos.t >"$out" 2>&1
rc=$?

dir=$(sed -n 's/^# chaos dir //p' "$out" | head -1)
echo
echo "== chaos report ($build, rc=$rc)"
grep -m1 '^# chaos seed' "$out" | sed 's/^# //'
echo "directory: ${dir:-?}"
echo
echo "-- checks"
grep -E '^(ok|not ok) ' "$out"
grep -E '^# (chaos:|fds of)' "$out" | sed 's/^# //'

if [ -n "$dir" ] && [ -f "$dir/chaos.json" ]; then
    echo
    echo "-- outcomes"
    /usr/bin/python3 - "$dir/chaos.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
print('clients %d started, %d finished in %s s; %d upgraded (backends sent '
      '%d 101s)' % (s['started'], s['finished'], s['elapsed'], s['saw_101'],
                    s['backend_sent_101']))
print('echo checks: %s' % json.dumps(s['echo'], sort_keys=True))
for f in s['echo_failures']:
    print('  echo failure: ' + f)
for side in ('clients_by_kind', 'backends_by_kind'):
    print(side + ':')
    for kind, outs in sorted(s[side].items()):
        top = sorted(outs.items(), key=lambda x: -x[1])
        print('  %-15s %5d  %s' % (kind, sum(outs.values()), ', '.join(
            '%s=%d' % kv for kv in top[:8]) + (' ...' if len(top) > 8
                                                else '')))
if s['loop_errors']:
    print('event loop errors: %s' % json.dumps(s['loop_errors']))
print('harness errors: %d' % s['harness_errors'])
for h in s['harness_error_samples'][:3]:
    print(h)
PY
fi

if [ -n "$dir" ] && [ -f "$dir/error.log" ]; then
    echo
    echo "-- error log: lines by level"
    grep -a -oE '^[0-9/]+ [0-9:]+ \[[a-z]+\]' "$dir/error.log" \
        | awk '{print $3}' | sort | uniq -c | sort -rn
    echo
    echo "-- error log: messages above info"
    grep -a -E '\[(warn|error|crit|alert|emerg)\]' "$dir/error.log" \
        | sed -E 's/^[0-9/]+ [0-9:]+ //; s/[0-9]+#[0-9]+: (\*[0-9]+ )?//;
                  s/, client: .*//; s/#[0-9]+ left in connection [0-9]+/#N/;
                  s/127\.0\.0\.1:[0-9]+/127.0.0.1:PORT/g' \
        | sort | uniq -c | sort -rn | head -40
    echo
    echo "-- worker exits, sanitizer reports"
    bad=$(grep -a -E \
        'exited on signal|AddressSanitizer|LeakSanitizer|runtime error:' \
        "$dir/error.log" "$dir/stderr.log" 2>/dev/null)
    if [ -n "$bad" ]; then head -20 <<<"$bad"; else echo "none"; fi
    if grep -a -q -E 'AddressSanitizer|runtime error:' "$dir/error.log" \
        "$dir/stderr.log" 2>/dev/null; then
        echo
        echo "-- first sanitizer report"
        grep -a -h -A40 -m1 -E '==[0-9]+==ERROR|runtime error:' \
            "$dir/error.log" "$dir/stderr.log" 2>/dev/null | head -60
    fi
fi
exit $rc
