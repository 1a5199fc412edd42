#!/usr/bin/env bash
# Writes the first half of file $1 to $2 (a truncated file for the bad-input tests).
set -eu
head -c $(( $(stat -c %s "$1") / 2 )) "$1" > "$2"
