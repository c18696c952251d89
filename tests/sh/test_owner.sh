#!/usr/bin/env bash
# test_owner.sh - owner identities (Ed25519) and signed, dated commitments:
# `owner init` writes a 0600 secret and a public file, `embed --owner` signs the
# commitment it prints, `verify --signed [--owner]` checks the signature and the
# signer; any edit of the statement, another owner, a malformed or hostile file
# is refused (exit 2) with a message naming the file.
. "$(dirname "$0")/lib.sh"
make_idx_subset /usr/share/datasets/fashion-mnist "$TMP/data" 2000 200
cd "$TMP" || exit 1
T="--threads 1 --quiet --data $TMP/data"
umask 022
"$DS_BIN" owner init --name "Alice Lab" -o alice >/dev/null
"$DS_BIN" owner init --name "Mallory" -o mallory --json >mallory.json
check owner_files_modes test "$(stat -c %a alice.sec)/$(stat -c %a alice.pub)" = "600/644"
expect_error owner_init_refuses_existing "alice.pub exists: refusing to replace it" \
  "$DS_BIN" owner init --name "Alice again" -o alice
"$DS_BIN" owner show alice.pub --json >show.json
check owner_show_public test "$(json_get show.json name)/$(json_get show.json fingerprint)" = \
  "Alice Lab/$("$DS_BIN" owner show alice.sec --json | $PY -c 'import json,sys; print(json.load(sys.stdin)["fingerprint"])')"

"$DS_BIN" train --arch mnist-mlp --epochs 1 --seed 3 $T -o m.h5 >/dev/null
"$DS_BIN" embed --scheme whitebox m.h5 --bits 16 --keys-per-class 20 --epochs 1 $T --json \
  --key wb.key -o wb.h5 --owner alice.sec >wb.json
check embed_writes_signed_commitment test -f wb.h5.commitment -a "$(json_get wb.json signed_commitment)" = wb.h5.commitment
check signed_commitment_names_commitment grep -qx "commitment: $(json_get wb.json commitment)" wb.h5.commitment
"$DS_BIN" verify wb.h5 --key wb.key --signed wb.h5.commitment --owner alice.pub --json >v.json; rc=$?
check verify_signed_owned test "$rc/$(json_get v.json verdict)/$(json_get v.json signed_by)/$(json_get v.json signer_pinned)" = "0/owned/Alice Lab/True"
expect_error verify_signed_other_owner "was signed by owner" \
  "$DS_BIN" verify wb.h5 --key wb.key --signed wb.h5.commitment --owner mallory.pub
expect_error owner_public_refuses_secret "is a secret owner file" \
  "$DS_BIN" verify wb.h5 --key wb.key --signed wb.h5.commitment --owner alice.sec
expect_error verify_signed_and_commitment "give --commitment or --signed, not both" \
  "$DS_BIN" verify wb.h5 --key wb.key --signed wb.h5.commitment --commitment "$(json_get wb.json commitment)"
expect_error embed_refuses_existing_signed "wb.h5.commitment exists" \
  "$DS_BIN" embed --scheme whitebox m.h5 --bits 16 $T --key wb2.key -o wb.h5 --owner alice.sec
check embed_refused_wrote_no_key test ! -e wb2.key

# Every single-field edit breaks the signature.
tamper() { # NAME SED-EXPRESSION
  sed "$2" wb.h5.commitment >t.commit
  if cmp -s t.commit wb.h5.commitment; then fail "$1" "the edit changed nothing"; return; fi
  expect_error "$1" "t.commit: the signature does not verify" "$DS_BIN" verify wb.h5 --key wb.key --signed t.commit
}
tamper tamper_owner 's/^owner: Alice Lab$/owner: Alice Lob/'
tamper tamper_date 's/^date: 20\(..\)/date: 19\1/'
tamper tamper_scheme 's/^scheme: whitebox$/scheme: blackbox/'
# flip the first hex digit of a field (0 <-> 1, anything else -> 0)
flip() { printf 's/^%s: \\(.\\)/%s: X\\1/;s/^%s: X0/%s: 1/;s/^%s: X./%s: 0/' "$1" "$1" "$1" "$1" "$1" "$1"; }
tamper tamper_commitment "$(flip commitment)"
tamper tamper_signature "$(flip signature)"
mpk=$(sed -n 's/^public: //p' mallory.pub)
tamper tamper_public "s/^public: .*/public: $mpk/"
# Malformed and hostile statements: refused, naming the file and the problem.
head -n 3 wb.h5.commitment >trunc.commit
expect_error signed_truncated "trunc.commit: line 4: missing 'date:'" "$DS_BIN" owner show trunc.commit
sed '1s/.*/DEEPSIGNS-SIGNED-COMMITMENT 9/' wb.h5.commitment >ver.commit
expect_error signed_bad_version "format version 9 is not supported" "$DS_BIN" owner show ver.commit
{ cat wb.h5.commitment; echo "extra: 1"; } >extra.commit
expect_error signed_extra_line "unexpected text after the last field" "$DS_BIN" owner show extra.commit
sed 's/^date:.*/date: yesterday/' wb.h5.commitment >date.commit
expect_error signed_bad_date "date 'yesterday' is not UTC" "$DS_BIN" owner show date.commit
head -c 100000 /dev/zero >big.commit
expect_error signed_huge "too large" "$DS_BIN" owner show big.commit
mkfifo fifo.commit
expect_error signed_fifo "fifo.commit: not a regular file (a FIFO)" timeout 20 "$DS_BIN" verify wb.h5 --key wb.key --signed fifo.commit
expect_error show_fifo "fifo.commit: not a regular file (a FIFO)" timeout 20 "$DS_BIN" owner show fifo.commit
sed 's/^secret: ../secret: 00/' alice.sec >bad.sec; chmod 600 bad.sec
expect_error secret_not_matching "does not belong to the public key" "$DS_BIN" owner show bad.sec
finish
