/* fuzz_onnx.c - libFuzzer target for the ONNX reader (ds_model_import_onnx_image,
 * src/io/onnx_import.c, on protobuf-c's decoder).
 *
 * The input is the bytes of an ONNX file. A model that imports must save as a
 * model file (ds_model_save_image), and that image must load with the same
 * layers: whatever the importer lays out, the model file must hold.
 */
#include <stdint.h>
#include <stdlib.h>

#include "deepsigns/model.h"
#include "deepsigns/model_file.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ds_err err = {0};
    ds_model *m = ds_model_import_onnx_image(data, size, "fuzz.onnx", NULL, &err);
    void *img = NULL;
    size_t n = 0;
    ds_status st = m ? ds_model_save_image(m, &img, &n, &err) : err.code;
    if (!m) { /* refused: with a code and a message */
        if (st == DS_OK) abort();
        dsf_check_err(st, &err);
        return 0;
    }
    if (st != DS_OK) {
        fprintf(stderr, "fuzz_onnx: an imported model does not save: %s\n", err.msg);
        abort();
    }
    ds_model *again = ds_model_load_image(img, n, "imported-model.h5", &err);
    if (!again || again->nnodes != m->nnodes || again->nparams != m->nparams) {
        fprintf(stderr, "fuzz_onnx: an imported model does not load back: %s\n", again ? "other layers" : err.msg);
        abort();
    }
    ds_model_free(again);
    free(img);
    ds_model_free(m);
    return 0;
}
