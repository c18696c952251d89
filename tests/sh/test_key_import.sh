#!/bin/bash
# test_key_import.sh - `deepsigns key import` (keys made elsewhere, as NumPy
# .npy files): a white-box key rebuilt from the A, bits, targets and key
# images of a key our embed made verifies the same marked model with the same
# BER and p-value; with --model and --probe-images it gets a realignment
# reference and survives a permutation; a black-box key likewise; bad .npy
# files and bad secrets are refused with a message naming the file.
cd "$(dirname "$0")/../.." || exit 1
. tests/sh/lib.sh
fmnist_workdir 2000 400
"$DS_BIN" train --arch mnist-mlp --hidden 48 --epochs 2 --seed 3 --data d $Q -o base.h5 >/dev/null
"$DS_BIN" embed --scheme whitebox base.h5 --bits 16 --keys-per-class 30 --probes 0 --seed 5 --epochs 2 \
  --data d $Q --json --key wb.key -o wb.h5 >wb.json
"$DS_BIN" embed --scheme blackbox base.h5 --keys 8 --epochs 1 --seed 6 --data d $Q --json --key bb.key \
  -o bb.h5 >bb.json
check fixtures test -s wb.key -a -s bb.key
# the secrets of our keys, as another tool would hand them over (other dtypes on purpose)
msg=$($PY - <<'PYEOF' 2>&1
import h5py, numpy as np
k = h5py.File("wb.key", "r")
np.save("A.npy", k["whitebox/A"][()].astype(np.float64))
np.save("bits.npy", k["whitebox/bits"][()].astype(bool))
np.save("x.npy", k["images/x"][()])
np.save("y.npy", k["images/y"][()].astype(np.int64))
open("targets.txt", "w").write(",".join(str(t) for t in k["whitebox/targets"][()]))
open("layer.txt", "w").write(k.attrs["layer"].decode() if isinstance(k.attrs["layer"], bytes) else str(k.attrs["layer"]))
targets = set(int(t) for t in k["whitebox/targets"][()])
b = h5py.File("bb.key", "r")
np.save("bx.npy", b["images/x"][()][:, 0])          # [n, h, w]: one channel implied
np.save("by.npy", b["images/y"][()].astype(np.int32))
# probes: test images of no target class
import gzip, struct
raw = open("d/t10k-images-idx3-ubyte", "rb").read()
lab = open("d/t10k-labels-idx1-ubyte", "rb").read()[8:]
imgs = np.frombuffer(raw[16:], dtype=np.uint8).reshape(-1, 1, 28, 28)
keep = [i for i in range(len(lab)) if lab[i] not in targets][:64]
np.save("probes.npy", imgs[keep])
# hostile and wrong files
good = open("A.npy", "rb").read()
open("trunc.npy", "wb").write(good[:-5])
np.save("fortran.npy", np.asfortranarray(k["whitebox/A"][()].astype(np.float32)))
np.save("big.npy", k["whitebox/A"][()].astype(">f4"))
np.save("bits2.npy", k["whitebox/bits"][()].astype(np.int32) * 2)
open("junk.npy", "wb").write(b"not numpy at all")
PYEOF
) && pass npy_files_written || fail npy_files_written "$msg"
T=$(cat targets.txt)
L=$(cat layer.txt)
C=$(json_get wb.json commitment)
imp() { "$DS_BIN" key import "$@"; }
out=$(imp --scheme whitebox --A A.npy --bits bits.npy --targets "$T" --layer "$L" --images x.npy \
      --labels y.npy --classes 10 --model wb.h5 -o imported.key 2>&1)
rc=$?
IC=$(sed -n 's/^commitment (publish this): //p' <<<"$out")
[ $rc = 0 ] && [ -n "$IC" ] && [ "$(stat -c %a imported.key)" = 600 ] && pass key_import_whitebox \
  || fail key_import_whitebox "exit $rc: $out"
v() { "$DS_BIN" verify "$1" --key "$2" --commitment "$3" --json 2>&1; }
a=$(v wb.h5 wb.key "$C")
b=$(v wb.h5 imported.key "$IC")
same=$($PY -c 'import json,sys; a=json.loads(sys.argv[1]); b=json.loads(sys.argv[2])
print(a["ber"] == b["ber"] and a["p_value"] == b["p_value"] and a["owned"] and b["owned"])' "$a" "$b" 2>&1)
[ "$same" = True ] && pass key_import_same_ber_and_p || fail key_import_same_ber_and_p "native $a imported $b"

# with a reference taken on the marked model: a permuted copy is realigned to
# the marked model's own BER
out=$(imp --scheme whitebox --A A.npy --bits bits.npy --targets "$T" --layer "$L" --images x.npy \
      --labels y.npy --classes 10 --model wb.h5 --probe-images probes.npy -o ref.key 2>&1)
RC=$(sed -n 's/^commitment (publish this): //p' <<<"$out")
"$DS_BIN" attack --kind permute wb.h5 -o perm.h5 --data d $Q >/dev/null 2>&1
p=$(v perm.h5 ref.key "$RC")
n=$(v wb.h5 wb.key "$C")
ok=$($PY -c 'import json,sys; d=json.loads(sys.argv[1]); n=json.loads(sys.argv[2])
print(d["owned"] and d["aligned"] and d["ber_unaligned"] >= 0.2 and d["ber"] == n["ber"])' "$p" "$n" 2>&1)
[ "$ok" = True ] && pass key_import_reference_realigns || fail key_import_reference_realigns "$out / $p"

# black-box, images given as [n, h, w]
BC=$(json_get bb.json commitment)
out=$(imp --scheme blackbox --images bx.npy --labels by.npy --classes 10 -o bbi.key 2>&1)
BIC=$(sed -n 's/^commitment (publish this): //p' <<<"$out")
a=$(v bb.h5 bb.key "$BC")
b=$(v bb.h5 bbi.key "$BIC")
same=$($PY -c 'import json,sys; a=json.loads(sys.argv[1]); b=json.loads(sys.argv[2])
print(a["mismatches"] == b["mismatches"] and a["theta"] == b["theta"] and a["owned"] and b["owned"])' "$a" "$b" 2>&1)
[ "$same" = True ] && pass key_import_blackbox_same || fail key_import_blackbox_same "$out / $a / $b"

# refusals: each names the file and what is wrong; nothing is written
W="--scheme whitebox --bits bits.npy --targets $T --layer $L --images x.npy --labels y.npy --classes 10"
expect_error npy_truncated "trunc.npy: .npy payload is" "$DS_BIN" key import $W --A trunc.npy -o t.key
expect_error npy_fortran "fortran.npy: .npy array is in Fortran order" "$DS_BIN" key import $W --A fortran.npy -o t.key
expect_error npy_big_endian "big.npy: .npy dtype '>f4' is not read" "$DS_BIN" key import $W --A big.npy -o t.key
expect_error npy_not_numpy "junk.npy: not a .npy file" "$DS_BIN" key import $W --A junk.npy -o t.key
expect_error npy_bits_not_bits "not 0 or 1" "$DS_BIN" key import --scheme whitebox --A A.npy \
  --bits bits2.npy --targets "$T" --layer "$L" --images x.npy --labels y.npy --classes 10 -o t.key
expect_error key_import_layer_missing "layer 'nope' is not a hidden layer" "$DS_BIN" key import --scheme whitebox \
  --A A.npy --bits bits.npy --targets "$T" --layer nope --images x.npy --labels y.npy --classes 10 --model wb.h5 -o t.key
expect_error key_import_existing_refused "refusing" "$DS_BIN" key import $W --A A.npy -o imported.key
[ ! -e t.key ] && pass key_import_refusals_write_nothing || fail key_import_refusals_write_nothing "t.key exists"
finish
