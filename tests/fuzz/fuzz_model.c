/* fuzz_model.c - libFuzzer target for the model-file reader (ds_model_load_image,
 * src/io/model_file.c and src/io/h5util.c, on HDF5's in-memory core driver).
 *
 * The input is the bytes of a model file. A model that loads must save again
 * (ds_model_save_image) and the saved image must load: whatever the reader
 * accepts, the writer must be able to write.
 */
#include <stdint.h>
#include <stdlib.h>

#include "deepsigns/model.h"
#include "deepsigns/model_file.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ds_err err = {0};
    ds_model *m = ds_model_load_image(data, size, "fuzz-model.h5", &err);
    if (!m) {
        dsf_check_err(err.code, &err);
        if (err.code == DS_OK) abort();
        return 0;
    }
    void *img = NULL;
    size_t n = 0;
    ds_status st = ds_model_save_image(m, &img, &n, &err);
    if (st != DS_OK) {
        fprintf(stderr, "fuzz_model: a loaded model does not save: %s\n", err.msg);
        abort();
    }
    ds_model *again = ds_model_load_image(img, n, "resaved-model.h5", &err);
    if (!again) {
        fprintf(stderr, "fuzz_model: a resaved model does not load: %s\n", err.msg);
        abort();
    }
    ds_model_free(again);
    free(img);
    ds_model_free(m);
    return 0;
}
