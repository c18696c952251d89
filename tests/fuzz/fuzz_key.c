/* fuzz_key.c - libFuzzer target for the key-file reader (ds_key_load_image,
 * src/io/key_file.c and src/io/h5util.c, on HDF5's in-memory core driver).
 *
 * The input is the bytes of a key file. A key that loads must save again
 * (ds_key_save_image), the saved image must load, and both must have the same
 * commitment.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "deepsigns/wm.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ds_wm_key k, again;
    ds_err err = {0};
    ds_status st = ds_key_load_image(data, size, "fuzz.key", &k, &err);
    dsf_check_err(st, &err);
    if (st != DS_OK) return 0;
    void *img = NULL;
    size_t n = 0;
    char c1[DS_COMMIT_HEX], c2[DS_COMMIT_HEX];
    if ((st = ds_key_save_image(&k, &img, &n, &err)) != DS_OK) {
        fprintf(stderr, "fuzz_key: a loaded key does not save: %s\n", err.msg);
        abort();
    }
    if ((st = ds_key_load_image(img, n, "resaved.key", &again, &err)) != DS_OK) {
        fprintf(stderr, "fuzz_key: a resaved key does not load: %s\n", err.msg);
        abort();
    }
    if (ds_key_commitment(&k, c1, &err) != DS_OK || ds_key_commitment(&again, c2, &err) != DS_OK ||
        strcmp(c1, c2) != 0) {
        fprintf(stderr, "fuzz_key: commitments differ after a resave (%s)\n", err.msg);
        abort();
    }
    ds_wm_key_free(&again);
    free(img);
    ds_wm_key_free(&k);
    return 0;
}
