/* fuzz_npy.c - libFuzzer target for the .npy reader (ds_npy_parse,
 * src/io/npy.c, the input of `deepsigns key import`).
 *
 * The input is the bytes of a .npy file. A refusal must carry a code and a
 * message; an accepted array must have as many elements as its shape says,
 * each readable.
 */
#include <stdint.h>
#include <stdlib.h>

#include "deepsigns/npy.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ds_err err = {0};
    ds_npy a;
    ds_status st = ds_npy_parse(data, size, "fuzz.npy", (size_t)1 << 24, &a, &err);
    if (st) {
        dsf_check_err(st, &err);
        return 0;
    }
    size_t count = 1;
    for (int i = 0; i < a.ndim; i++) count *= a.dims[i];
    if (count != a.count || !a.data) abort();
    double sum = 0;
    for (size_t i = 0; i < a.count; i++) sum += ds_npy_get(&a, i);
    (void)sum;
    ds_npy_free(&a);
    return 0;
}
