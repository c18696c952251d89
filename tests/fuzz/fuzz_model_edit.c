/* fuzz_model_edit.c - structure-aware libFuzzer target for the model-file reader
 * (ds_model_load_image, src/io/model_file.c and src/io/h5util.c).
 *
 * The first input byte picks a small valid model, built in memory at start-up; the
 * rest is a list of edits (h5edit.h) applied to its file by HDF5 itself. The edited
 * file is loaded; a model that loads must save again and the saved image must load.
 */
#include <stdint.h>
#include <stdlib.h>

#include "deepsigns/model.h"
#include "deepsigns/model_file.h"
#include "h5edit.h"
#include "io/h5util.h"

/* Root attributes and object names a model file has or might be given. */
static const char *const names[] = {
    "magic", "format_version", "arch", "in_c", "in_h", "in_w", "classes", "hidden", "dropout",
    "depth", "widen", "extra_units", "preproc_scale", "preproc_channels", "preproc_mean",
    "preproc_std", "source", "dataset", "optimizer", "lr", "epochs", "batch", "seed",
    "test_accuracy", "commitment", "layer_names", "params", "stats", "model_weights", "layout",
};

typedef struct base_model {
    const char *arch;
    int c, h, w, classes, hidden, extra0;
    const char *layout; /* "graph": its layers (model.h) */
} base_model;

static const base_model bases[] = {
    {"mnist-mlp", 1, 4, 4, 3, 3, 0, NULL},
    {"mnist-mlp", 1, 3, 5, 2, 2, 1, NULL},
    {"mnist-cnn", 1, 6, 6, 3, 0, 0, NULL},
    {"cifar10-wrn", 3, 4, 4, 2, 0, 0, NULL},
    /* an imported model's architecture: conv, bn, relu, residual add, pool, dropout, dense */
    {"graph", 1, 5, 5, 3, 0, 0,
     "input 1 5 5\nconv /c1/Conv 0 2 3 1 1 0\nbn /b1/BatchNormalization 1 1e-05\nrelu /r1 2\n"
     "add /a1 3 1\nmaxpool /m1 4 2 2\nflatten /f1 5\ndropout /d1 6 0.25\ndense /fc/Gemm 7 3 1\n"},
};
enum { NBASES = sizeof bases / sizeof bases[0] };

static void *images[NBASES];
static size_t sizes[NBASES];

static void build_base(int i)
{
    const base_model *b = &bases[i];
    ds_err err = {0};
    static ds_arch arch; /* 16 KiB with its layout */
    if (b->layout) {
        memset(&arch, 0, sizeof arch);
        snprintf(arch.name, sizeof arch.name, "%s", b->arch);
        arch.in_c = b->c; arch.in_h = b->h; arch.in_w = b->w;
        arch.classes = b->classes;
        snprintf(arch.layout, sizeof arch.layout, "%s", b->layout);
    } else if (ds_arch_defaults(b->arch, b->c, b->h, b->w, b->classes, &arch, &err) != DS_OK) {
        goto fail;
    }
    if (b->hidden) arch.hidden = b->hidden;
    arch.extra[0] = b->extra0;
    if (!strcmp(b->arch, "cifar10-wrn")) {
        arch.depth = 10;
        arch.widen = 1;
    }
    ds_model *m = ds_model_build(&arch, &err);
    if (!m) goto fail;
    m->meta.preproc.scale = 1.0f / 255.0f;
    m->meta.preproc.channels = b->c;
    for (int c = 0; c < b->c; c++) {
        m->meta.preproc.mean[c] = 0.5f;
        m->meta.preproc.std[c] = 0.25f;
    }
    snprintf(m->meta.source, sizeof m->meta.source, "fuzz");
    m->meta.test_accuracy = -1;
    ds_status st = ds_model_save_image(m, &images[i], &sizes[i], &err);
    ds_model_free(m);
    if (st == DS_OK) return;
fail:
    fprintf(stderr, "fuzz_model_edit: cannot build base model %d: %s\n", i, err.msg);
    abort();
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    dsf_build_bases(build_base, NBASES);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    void *img;
    size_t n;
    if (dsf_pick_edited(data, size, images, sizes, NBASES, "model", names,
                        sizeof names / sizeof names[0], &img, &n))
        return 0; /* HDF5 could not write what the edits made */
    ds_err err = {0};
    ds_model *m = ds_model_load_image(img, n, "fuzz-model.h5", &err);
    free(img);
    if (!m) {
        dsf_check_err(err.code, &err);
        if (err.code == DS_OK) abort();
        return 0;
    }
    void *again_img = NULL;
    size_t again_n = 0;
    if (ds_model_save_image(m, &again_img, &again_n, &err) != DS_OK) {
        fprintf(stderr, "fuzz_model_edit: a loaded model does not save: %s\n", err.msg);
        abort();
    }
    ds_model *again = ds_model_load_image(again_img, again_n, "resaved-model.h5", &err);
    if (!again) {
        fprintf(stderr, "fuzz_model_edit: a resaved model does not load: %s\n", err.msg);
        abort();
    }
    ds_model_free(again);
    free(again_img);
    ds_model_free(m);
    return 0;
}
