#!/usr/bin/env bash
# `xomni prepare-text`: numbers are checked naming the flag; an existing dataset is refused
# without --overwrite and survives a failed rewrite untouched; --overwrite replaces it.
#   tests/jobs/cli/prepare_text_safety.sh XOMNI
set -euo pipefail
xomni="$1"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
text=/usr/share/common-licenses/GPL-3
expect_error() {  # expect_error MESSAGE ARGS...
  local want="$1"; shift
  if "$xomni" prepare-text "$@" > "$work/out" 2>&1; then fail "accepted: $*"; fi
  grep -qF -- "$want" "$work/out" || { cat "$work/out" >&2; fail "no '$want' for: $*"; }
}
expect_error "--vocab-size: 'abc' is not an integer" --input "$text" --out "$work/d" --vocab-size abc
expect_error "--vocab-size must be in [257, 2147483647], got 99999999999" \
  --input "$text" --out "$work/d" --vocab-size 99999999999
expect_error "--valid-every must be in [0," --input "$text" --out "$work/d" --vocab-size 300 --valid-every -1
[[ ! -e "$work/d" ]] || fail "a refused run created $work/d"

"$xomni" prepare-text --input "$text" --out "$work/d" --vocab-size 300 > /dev/null
before=$(cd "$work/d" && find . -type f -exec sha256sum {} + | sort)
expect_error "--overwrite" --input "$text" --out "$work/d" --vocab-size 300
# A rewrite that fails midway (the tokenizer cannot be read) leaves the old dataset as it was.
echo junk > "$work/bad.json"
expect_error "bad.json" --input "$text" --out "$work/d" --tokenizer "$work/bad.json" --overwrite
after=$(cd "$work/d" && find . -type f -exec sha256sum {} + | sort)
[[ "$before" == "$after" ]] || fail "a failed rewrite changed the dataset"
[[ -z $(find "$work" -maxdepth 1 -name '*stag*') ]] || fail "staging folder left: $(ls "$work")"
# --overwrite with K = 0: the new dataset replaces the old one and has no validation split.
"$xomni" prepare-text --input "$text" --out "$work/d" --vocab-size 300 --valid-every 0 --overwrite \
  > "$work/out"
[[ -f "$work/d/train/manifest.json" && ! -e "$work/d/valid" ]] || fail "the rewrite did not replace the dataset"
grep -q "{train,tokenizer.json}" "$work/out" || { cat "$work/out" >&2; fail "summary names a valid split"; }
echo "1 passed, 0 failed"
