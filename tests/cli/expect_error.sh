#!/usr/bin/env bash
# Runs a command that must fail cleanly: non-zero exit (not a crash), and an error on stderr that
# matches the regex given first. Usage: expect_error.sh REGEX COMMAND [ARGS...]
set -u
regex=$1
shift
err=$("$@" 2>&1 >/dev/null)
rc=$?
if [ $rc -eq 0 ]; then
  echo "expected a failure, got exit 0: $*"
  exit 1
fi
if [ $rc -ge 128 ]; then
  echo "crashed with signal $((rc - 128)): $*"
  exit 1
fi
if ! printf '%s\n' "$err" | grep -Eq -- "$regex"; then
  printf 'error output did not match /%s/:\n%s\n' "$regex" "$err"
  exit 1
fi
echo "ok (exit $rc): $(printf '%s' "$err" | head -n 1)"
