/* test_onnx.c - ONNX export and import (src/io/onnx_export.c, src/io/onnx_import.c).
 *
 * Each of our four architectures, exported and imported again, has the same
 * layers (names, ops, geometry), bit-identical parameters and statistics, the
 * same preprocessing and bit-identical outputs; exporting the imported model
 * gives the same bytes; it saves as a model file and loads back. Damaged
 * images (every prefix, flipped bytes) and absurd shapes are refused with a
 * message, never a crash, and before anything large is allocated.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "deepsigns/model.h"
#include "deepsigns/model_file.h"
#include "deepsigns/rng.h"
#include "onnx/onnx.pb-c.h"

static ds_model *make_model(const char *arch, int c, int h, int w, int small, uint64_t seed)
{
    ds_err err = {0};
    ds_arch a;
    CHECK_OK(ds_arch_defaults(arch, c, h, w, 10, &a, &err), &err);
    if (small && !strcmp(arch, "mnist-mlp")) a.hidden = 8;
    ds_model *m = ds_model_build(&a, &err);
    CHECK(m != NULL, "build %s: %s", arch, err.msg);
    if (!m) return NULL;
    ds_rng r;
    ds_rng_init(&r, seed, 7);
    for (size_t i = 0; i < m->nparams; i++) m->params[i] = (float)ds_rng_normal(&r) * 0.1f;
    for (size_t i = 0; i < m->nstats; i++) m->stats[i] = 0.1f + ds_rng_uniformf(&r);
    m->params[0] = -0.0f;  /* bits, not just values, must survive */
    m->params[1] = 1e-40f; /* a subnormal */
    m->meta.preproc = (ds_preproc){.scale = 1.0f / 255.0f, .channels = c,
                                   .mean = {0.49f, 0.48f, 0.45f}, .std = {0.25f, 0.24f, 0.26f}};
    return m;
}

static void check_same_layers(const ds_model *a, const ds_model *b)
{
    CHECK(a->nnodes == b->nnodes && a->ntensors == b->ntensors, "%d/%d nodes, %d/%d tensors", a->nnodes,
          b->nnodes, a->ntensors, b->ntensors);
    if (a->nnodes != b->nnodes || a->ntensors != b->ntensors) return;
    for (int i = 0; i < a->nnodes; i++) {
        const ds_node *x = &a->nodes[i], *y = &b->nodes[i];
        CHECK(x->op == y->op && !strcmp(x->name, y->name) && x->in0 == y->in0 && x->in1 == y->in1 &&
              x->c == y->c && x->h == y->h && x->w == y->w && x->k == y->k && x->stride == y->stride &&
              x->pad == y->pad && x->bias == y->bias && x->rate == y->rate && x->eps == y->eps &&
              x->momentum == y->momentum,
              "node %d: %s (%s) vs %s (%s)", i, x->name, ds_op_name(x->op), y->name, ds_op_name(y->op));
    }
    for (int t = 0; t < a->ntensors; t++)
        CHECK(!strcmp(a->tensors[t].name, b->tensors[t].name) && a->tensors[t].offset == b->tensors[t].offset &&
              a->tensors[t].trainable == b->tensors[t].trainable, "tensor %d: %s vs %s", t, a->tensors[t].name,
              b->tensors[t].name);
    CHECK(a->nparams == b->nparams && a->nstats == b->nstats, "sizes");
    if (a->nparams != b->nparams || a->nstats != b->nstats) return;
    CHECK(!memcmp(a->params, b->params, sizeof(float) * a->nparams), "params differ");
    CHECK(!memcmp(a->stats, b->stats, sizeof(float) * a->nstats), "stats differ");
    CHECK(!memcmp(&a->meta.preproc, &b->meta.preproc, sizeof a->meta.preproc), "preproc differs");
}

/* The outputs of both models on the same random batch are the same bits. */
static void check_same_outputs(ds_model *a, ds_model *b)
{
    enum { B = 3 };
    ds_err err = {0};
    size_t in = a->nodes[0].size, out = a->nodes[ds_model_output_node(a)].size;
    float *x = malloc(sizeof *x * in * B), *ya = malloc(sizeof *ya * out * B);
    CHECK(x && ya, "out of memory");
    if (!x || !ya) goto done;
    ds_rng r;
    ds_rng_init(&r, 9, 1);
    for (size_t i = 0; i < in * B; i++) x[i] = (float)ds_rng_normal(&r);
    CHECK_OK(ds_model_reserve_infer(a, B, &err), &err);
    CHECK_OK(ds_model_reserve_infer(b, B, &err), &err);
    ds_model_infer(a, x, B, -1);
    memcpy(ya, ds_model_act(a, ds_model_output_node(a)), sizeof *ya * out * B);
    ds_model_infer(b, x, B, -1);
    CHECK(!memcmp(ya, ds_model_act(b, ds_model_output_node(b)), sizeof *ya * out * B), "outputs differ");
done:
    free(x);
    free(ya);
}

/* Export m, import it, compare; m is freed. */
static void roundtrip_model(ds_model *m, const char *arch)
{
    ds_err err = {0};
    void *img = NULL, *img2 = NULL, *h5 = NULL;
    size_t n = 0, n2 = 0, nh5 = 0;
    CHECK_OK(ds_model_export_onnx_image(m, &img, &n, &err), &err);
    ds_model *l = img ? ds_model_import_onnx_image(img, n, arch, NULL, &err) : NULL;
    CHECK(l != NULL, "import %s: %s", arch, err.msg);
    if (!l) goto done;
    CHECK(!strcmp(l->arch.name, "graph"), "arch %s", l->arch.name);
    check_same_layers(m, l);
    check_same_outputs(m, l);
    CHECK_OK(ds_model_export_onnx_image(l, &img2, &n2, &err), &err);
    CHECK(n == n2 && img2 && !memcmp(img, img2, n), "export of the imported model differs (%zu vs %zu bytes)", n, n2);
    CHECK_OK(ds_model_save_image(l, &h5, &nh5, &err), &err);
    ds_model *f = h5 ? ds_model_load_image(h5, nh5, "graph.h5", &err) : NULL;
    CHECK(f != NULL, "model file of the imported %s: %s", arch, err.msg);
    if (f) {
        check_same_layers(l, f);
        CHECK(!strcmp(f->arch.layout, l->arch.layout), "layout differs");
    }
    ds_model_free(f);
done:
    free(img);
    free(img2);
    free(h5);
    ds_model_free(l);
    ds_model_free(m);
}

static void roundtrip(const char *arch, int c, int h, int w)
{
    ds_model *m = make_model(arch, c, h, w, 0, 42);
    if (m) roundtrip_model(m, arch);
}

/* our four architectures, the WRN at its default WRN-16-4 */
static void test_roundtrip_archs(void)
{
    static const struct { const char *name; int c, hw; } archs[] = {
        {"mnist-mlp", 1, 28}, {"mnist-cnn", 1, 28}, {"cifar10-cnn", 3, 32}, {"cifar10-wrn", 3, 32},
    };
    for (size_t i = 0; i < sizeof archs / sizeof archs[0]; i++) {
        int before = check_failures_in_test;
        roundtrip(archs[i].name, archs[i].c, archs[i].hw, archs[i].hw);
        if (check_failures_in_test > before) fprintf(stderr, "  (in %s)\n", archs[i].name);
    }
}

/* A graph of the layers only imports make (average pool, bn eps, dropout rate) round-trips too. */
static void test_roundtrip_graph(void)
{
    static ds_arch a;
    memset(&a, 0, sizeof a);
    strcpy(a.name, "graph");
    a.in_c = 2; a.in_h = 9; a.in_w = 9;
    a.classes = 4;
    snprintf(a.layout, sizeof a.layout, "input 2 9 9\nconv /c/Conv 0 3 3 2 1 1\nbn /b 1 0.001\n"
             "avgpool /p/AveragePool 2 3 2\nrelu r 3\nflatten f 4\ndropout d 5 0.125\ndense fc 6 4 0\n");
    ds_err err = {0};
    ds_model *g = ds_model_build(&a, &err);
    CHECK(g != NULL, "build: %s", err.msg);
    if (!g) return;
    ds_rng r;
    ds_rng_init(&r, 4, 4);
    for (size_t i = 0; i < g->nparams; i++) g->params[i] = (float)ds_rng_normal(&r);
    for (size_t i = 0; i < g->nstats; i++) g->stats[i] = 0.5f + ds_rng_uniformf(&r);
    roundtrip_model(g, "graph");
}

/* Every prefix of an image, and every byte flipped in turn, is refused or read, never crashes. */
static void test_damaged_images(void)
{
    ds_model *m = make_model("mnist-mlp", 1, 28, 28, 1, 3);
    ds_err err = {0};
    void *img = NULL;
    size_t n = 0;
    if (!m) return;
    CHECK_OK(ds_model_export_onnx_image(m, &img, &n, &err), &err);
    unsigned char *b = malloc(n ? n : 1);
    CHECK(img && b, "no image");
    int refused = 0;
    for (size_t k = 0; img && b && k < n; k += 7) {
        ds_err e = {0};
        ds_model *x = ds_model_import_onnx_image(img, k, "prefix", NULL, &e);
        if (!x) {
            refused++;
            CHECK(e.code != DS_OK && e.msg[0] && strstr(e.msg, "prefix"), "prefix %zu: no message", k);
        }
        ds_model_free(x);
        memcpy(b, img, n);
        b[k] ^= 0x5a;
        e = (ds_err){0};
        x = ds_model_import_onnx_image(b, n, "flipped", NULL, &e);
        CHECK(x || (e.code != DS_OK && strstr(e.msg, "flipped")), "flip %zu: no message", k);
        ds_model_free(x);
    }
    CHECK(refused > 0, "no prefix refused");
    free(b);
    free(img);
    ds_model_free(m);
}

/* Export m, let edit change the unpacked message, pack it again into *out. */
static size_t edited_image(const ds_model *m, void (*edit)(Onnx__ModelProto *), uint8_t **out)
{
    ds_err err = {0};
    void *img = NULL;
    size_t n = 0;
    *out = NULL;
    if (ds_model_export_onnx_image(m, &img, &n, &err)) return 0;
    Onnx__ModelProto *mp = onnx__model_proto__unpack(NULL, n, img);
    free(img);
    if (!mp) return 0;
    edit(mp);
    size_t len = onnx__model_proto__get_packed_size(mp);
    *out = malloc(len);
    if (*out) len = onnx__model_proto__pack(mp, *out);
    onnx__model_proto__free_unpacked(mp, NULL);
    return *out ? len : 0;
}

static Onnx__TensorProto *find_init(Onnx__ModelProto *mp, const char *name)
{
    for (size_t i = 0; i < mp->graph->n_initializer; i++)
        if (!strcmp(mp->graph->initializer[i]->name, name)) return mp->graph->initializer[i];
    abort(); /* the export names every tensor */
}

static void edit_huge_gemm(Onnx__ModelProto *mp)
{
    /* dense_1.W claims [784, 2^30] (4 TiB of floats), holding no more data than before */
    find_init(mp, "dense_1.W")->dims[1] = 1 << 30;
}

static void edit_external(Onnx__ModelProto *mp)
{
    Onnx__TensorProto *t = find_init(mp, "dense_2.W");
    t->has_data_location = 1;
    t->data_location = ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL;
}

static void edit_short_data(Onnx__ModelProto *mp)
{
    find_init(mp, "dense_2.b")->n_float_data--; /* one float fewer than the shape needs */
}

static void expect_refused(void (*edit)(Onnx__ModelProto *), const char *want)
{
    ds_model *m = make_model("mnist-mlp", 1, 28, 28, 1, 5);
    uint8_t *b;
    size_t n = m ? edited_image(m, edit, &b) : 0;
    CHECK(n > 0, "no edited image");
    ds_err e = {0};
    ds_model *x = n ? ds_model_import_onnx_image(b, n, "edited.onnx", NULL, &e) : NULL;
    CHECK(!x && e.code != DS_OK && strstr(e.msg, want), "want '%s', got: %s", want, e.msg);
    ds_model_free(x);
    if (n) free(b);
    ds_model_free(m);
}

static void test_refuse_huge_shape(void) { expect_refused(edit_huge_gemm, "edited.onnx: node 'dense_1' (Gemm, opset 13)"); }
static void test_refuse_external(void) { expect_refused(edit_external, "keeps its data in the external file"); }
static void test_refuse_short_data(void) { expect_refused(edit_short_data, "its shape needs"); }

/* Content, not the name, tells ONNX from HDF5. */
static void test_detect(void)
{
    static const unsigned char hdf5[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
    static const unsigned char onnx[8] = {0x08, 0x07, 0x12, 0x09, 'd', 'e', 'e', 'p'};
    CHECK(!ds_model_file_is_onnx(hdf5, sizeof hdf5), "HDF5 taken for ONNX");
    CHECK(ds_model_file_is_onnx(onnx, sizeof onnx), "ONNX not recognised");
    CHECK(!ds_model_file_is_onnx("text", 4), "text taken for ONNX");
}

/* A malformed "graph" layout is refused with the line it is on, before allocating. */
static void test_refuse_bad_layouts(void)
{
    static const struct { const char *layout, *want; } cases[] = {
        {"input 1 4 4\nflatten f 0\ndense d 1 3 1\n", NULL}, /* well formed */
        {"input 1 4 4\nflatten f 0\nsoftmax s 1\n", "line 3 is not a well-formed layer line"},
        {"input 1 4 4\nflatten f 0\ndense d 5 3 1\n", "line 3 is not a well-formed"},      /* input ahead */
        {"input 1 4 4\nflatten f 0\ndense f 1 3 1\n", "line 3 is not a well-formed"},      /* name twice */
        {"input 1 4 4\nflatten f 0\ndense d 1 3\n", "line 3 is not a well-formed"},        /* field missing */
        {"input 1 4 4\nflatten f 0\ndense d 1 3 1 7\n", "line 3 is not a well-formed"},    /* one too many */
        {"input 1 4 4\nflatten input 0\ndense d 1 3 1\n", "line 2 is not a well-formed"},  /* reserved name */
        {"input 1 4 5\nflatten f 0\ndense d 1 3 1\n", "line 1 is not a well-formed input line"},
        {"input 1 4 4\nflatten f 0\ndense d 1 1e9 1\n", "line 3 is not a well-formed"},
        {"input 1 4 4\nflatten f 0\ndense d 1 2000000000 1\n", "graph layout line 3: model layout:"},
        {"input 1 4 4\nflatten f 0\ndense d 1 4 1\n", "the last layer's output is not the classes' logits"},
        {"input 1 4 4\nflatten f 0\ndropout p 1 1.5\ndense d 2 3 1\n", "line 3 is not a well-formed"},
        {"input 1 4 4\nconv c 0 2 9 1 0 0\nflatten f 1\ndense d 2 3 1\n", "graph layout line 2: model layout:"},
        {"input 1 4 4\nflatten f 0\nadd a 1 0\ndense d 2 3 1\n", "graph layout line 3: model layout:"},
    };
    static ds_arch a;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        memset(&a, 0, sizeof a);
        strcpy(a.name, "graph");
        a.in_c = 1; a.in_h = 4; a.in_w = 4;
        a.classes = 3;
        snprintf(a.layout, sizeof a.layout, "%s", cases[i].layout);
        ds_err err = {0};
        ds_model *m = ds_model_build(&a, &err);
        if (!cases[i].want)
            CHECK(m != NULL && m->nnodes == 3, "case %zu: %s", i, err.msg);
        else
            CHECK(!m && strstr(err.msg, cases[i].want), "case %zu: want '%s', got '%s'", i, cases[i].want, err.msg);
        ds_model_free(m);
    }
}

int main(void)
{
    RUN(test_roundtrip_archs);
    RUN(test_roundtrip_graph);
    RUN(test_damaged_images);
    RUN(test_refuse_huge_shape);
    RUN(test_refuse_external);
    RUN(test_refuse_short_data);
    RUN(test_detect);
    RUN(test_refuse_bad_layouts);
    TEST_MAIN_END();
}
