/* cmd_key.c - `deepsigns key import`: a key file (with its commitment) from
 * secrets made elsewhere, given as NumPy .npy files. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/commands.h"
#include "deepsigns/model_file.h"
#include "deepsigns/npy.h"
#include "deepsigns/outpath.h"
#include "deepsigns/wm.h"

static const char key_usage[] =
    "usage: deepsigns key import --scheme S --images X.npy --labels Y.npy --classes C\n"
    "                            [white-box options] -o KEY.h5\n"
    "\n"
    "Build a key file from secrets made elsewhere (NumPy .npy files, C order) and\n"
    "print its commitment. The key is checked as every key is (ranges, distinct\n"
    "targets, bits 0/1, finite A, labels in range) and written 0600.\n"
    "\n"
    "  --scheme S           whitebox | blackbox\n"
    "  --images X.npy       key images, uint8 pixels: [n, c, h, w] or [n, h, w]\n"
    "  --labels Y.npy       their labels, integers in [0, C): [n]\n"
    "  --classes C          the model's number of classes\n"
    "  --alpha P            the claim level committed in the key (default 1e-4)\n"
    "  --arch NAME          the architecture it was made for (recorded; default: the\n"
    "                       --model's, else \"imported\")\n"
    "white-box:\n"
    "  --A A.npy            the projection [N, M], float32 or float64\n"
    "  --bits B.npy         the signature [s, N], 0 or 1 (bool or integers)\n"
    "  --layer L            the marked layer's name in the model\n"
    "  --targets k,...      the s target classes, in the order of the rows of B\n"
    "  --model M            the marked model (any format deepsigns reads): checks\n"
    "                       that L exists with width M; with --probe-images, the\n"
    "                       key's realignment reference is taken on it\n"
    "  --probe-images P.npy probe images (uint8, as --images; of no target class)\n"
    "  -o, --output KEY.h5  the key file (an existing file is refused unless --force)\n"
    "  --force              replace an existing file at -o\n"
    "  -h, --help           this help\n";

enum { OPT_SCHEME = 256, OPT_IMAGES, OPT_LABELS, OPT_CLASSES, OPT_ALPHA, OPT_ARCH, OPT_A, OPT_BITS,
       OPT_LAYER, OPT_TARGETS, OPT_MODEL, OPT_PROBES, OPT_FORCE, KEY_MAX_TARGETS = 1024 };

/* The most bytes one imported array may hold. */
#define KEY_NPY_MAX ((size_t)1 << 30)

static const struct option key_options[] = {
    {"scheme", required_argument, NULL, OPT_SCHEME},   {"images", required_argument, NULL, OPT_IMAGES},
    {"labels", required_argument, NULL, OPT_LABELS},   {"classes", required_argument, NULL, OPT_CLASSES},
    {"alpha", required_argument, NULL, OPT_ALPHA},     {"arch", required_argument, NULL, OPT_ARCH},
    {"A", required_argument, NULL, OPT_A},             {"bits", required_argument, NULL, OPT_BITS},
    {"layer", required_argument, NULL, OPT_LAYER},     {"targets", required_argument, NULL, OPT_TARGETS},
    {"model", required_argument, NULL, OPT_MODEL},     {"probe-images", required_argument, NULL, OPT_PROBES},
    {"output", required_argument, NULL, 'o'},          {"force", no_argument, NULL, OPT_FORCE},
    {"help", no_argument, NULL, 'h'},                  {NULL, 0, NULL, 0},
};

typedef struct key_args {
    ds_wm_scheme scheme;
    const char *images, *labels, *arch, *A, *bits, *layer, *model, *probes, *out;
    long classes;
    double alpha;
    int targets[KEY_MAX_TARGETS], ntargets, force;
} key_args;

static ds_status key_parse(int argc, char **argv, key_args *a, int *help, ds_err *err)
{
    memset(a, 0, sizeof *a);
    a->alpha = DS_WB_ALPHA;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "o:h", key_options, NULL)) != -1) {
        ds_status st = DS_OK;
        switch (c) {
        case OPT_SCHEME: st = ds_wm_scheme_parse(optarg, &a->scheme, err); break;
        case OPT_IMAGES: a->images = optarg; break;
        case OPT_LABELS: a->labels = optarg; break;
        case OPT_CLASSES: /* key labels are bytes */
            st = cli_parse_int("--classes", optarg, 2, 256, &a->classes, err);
            break;
        case OPT_ALPHA: st = cli_parse_float("--alpha", optarg, 1e-300, 0.5, &a->alpha, err); break;
        case OPT_ARCH: a->arch = optarg; break;
        case OPT_A: a->A = optarg; break;
        case OPT_BITS: a->bits = optarg; break;
        case OPT_LAYER: a->layer = optarg; break;
        case OPT_TARGETS:
            st = cli_parse_int_list("--targets", optarg, 0, 100000, a->targets, KEY_MAX_TARGETS, &a->ntargets, err);
            break;
        case OPT_MODEL: a->model = optarg; break;
        case OPT_PROBES: a->probes = optarg; break;
        case 'o': a->out = optarg; break;
        case OPT_FORCE: a->force = 1; break;
        case 'h': *help = 1; return DS_OK;
        default: return ds_err_set(err, DS_EINVAL, "unknown or incomplete option '%s' (see --help)", argv[optind - 1]);
        }
        if (st) return st;
    }
    if (optind != argc) return ds_err_set(err, DS_EINVAL, "unexpected argument '%s' (see --help)", argv[optind]);
    if (!a->scheme) return ds_err_set(err, DS_EINVAL, "--scheme whitebox|blackbox is required");
    if (!a->images || !a->labels || !a->classes || !a->out)
        return ds_err_set(err, DS_EINVAL, "--images, --labels, --classes and -o are required (see --help)");
    if (a->scheme == DS_WM_WHITEBOX && (!a->A || !a->bits || !a->layer || !a->ntargets))
        return ds_err_set(err, DS_EINVAL, "a white-box key needs --A, --bits, --layer and --targets");
    if (a->probes && !a->model)
        return ds_err_set(err, DS_EINVAL, "--probe-images needs --model (the reference is taken on it)");
    if (a->scheme == DS_WM_BLACKBOX && (a->A || a->bits || a->layer || a->ntargets || a->probes))
        return ds_err_set(err, DS_EINVAL, "--A, --bits, --layer, --targets and --probe-images are white-box options");
    return ds_outpath_check("-o", a->out, a->force, err);
}

/* uint8 images [n, c, h, w] or [n, h, w] from path: *x (malloc'd) and the shape. */
static ds_status load_images(const char *path, uint8_t **x, size_t *n, int *c, int *h, int *w, ds_err *err)
{
    ds_npy a;
    ds_status st = ds_npy_load(path, KEY_NPY_MAX, &a, err);
    if (st) return st;
    if (a.dtype != DS_NPY_U8 || (a.ndim != 3 && a.ndim != 4)) {
        ds_npy_free(&a);
        return ds_err_set(err, DS_EFORMAT, "%s: images must be uint8 pixels of shape [n, c, h, w] or [n, h, w]",
                          path);
    }
    const int four = a.ndim == 4;
    if (a.dims[0] < 1 || (four && (a.dims[1] < 1 || a.dims[1] > 4)) || a.dims[1 + four] < 1 ||
        a.dims[1 + four] > 1024 || a.dims[2 + four] < 1 || a.dims[2 + four] > 1024) {
        ds_npy_free(&a);
        return ds_err_set(err, DS_ERANGE, "%s: image shape out of range (n >= 1, c 1..4, h and w 1..1024)", path);
    }
    *n = a.dims[0];
    *c = four ? (int)a.dims[1] : 1;
    *h = (int)a.dims[1 + four];
    *w = (int)a.dims[2 + four];
    *x = a.data; /* the key takes the pixels as stored */
    return DS_OK;
}

/* The common part: images, labels, classes, alpha. */
static ds_status key_images(const key_args *a, ds_wm_key *k, ds_err *err)
{
    ds_status st = load_images(a->images, &k->x, &k->n, &k->c, &k->h, &k->w, err);
    if (st) return st;
    ds_npy y;
    if ((st = ds_npy_load(a->labels, KEY_NPY_MAX, &y, err))) return st;
    if (y.ndim != 1 || y.dims[0] != k->n || y.dtype == DS_NPY_F32 || y.dtype == DS_NPY_F64)
        st = ds_err_set(err, DS_EFORMAT, "%s: labels must be %zu integers (shape [%zu])", a->labels, k->n, k->n);
    k->y = st ? NULL : malloc(k->n);
    k->source_index = st ? NULL : malloc(sizeof *k->source_index * k->n);
    if (!st && (!k->y || !k->source_index)) st = ds_err_set(err, DS_ENOMEM, "out of memory for %zu labels", k->n);
    for (size_t i = 0; !st && i < k->n; i++) {
        const double v = ds_npy_get(&y, i);
        if (!(v >= 0 && v < (double)a->classes))
            st = ds_err_set(err, DS_ERANGE, "%s: label %zu is %g, not in [0, %ld)", a->labels, i, v, a->classes);
        else {
            k->y[i] = (uint8_t)v;
            k->source_index[i] = -1;
        }
    }
    ds_npy_free(&y);
    k->classes = (int)a->classes;
    return st;
}

/* A[N, M] as float and bits[s, N] as 0/1 bytes. */
static ds_status key_whitebox(const key_args *a, ds_wm_key *k, ds_err *err)
{
    ds_wb_key *w = &k->wb;
    ds_npy A, B;
    ds_status st = ds_npy_load(a->A, KEY_NPY_MAX, &A, err);
    if (st) return st;
    if ((st = ds_npy_load(a->bits, KEY_NPY_MAX, &B, err))) {
        ds_npy_free(&A);
        return st;
    }
    if (A.ndim != 2 || (A.dtype != DS_NPY_F32 && A.dtype != DS_NPY_F64) || !A.dims[0] || !A.dims[1] ||
        A.dims[0] > 4096 || A.dims[1] > (1u << 20))
        st = ds_err_set(err, DS_EFORMAT, "%s: A must be float32 or float64 of shape [N, M] (N <= 4096, M <= 2^20)", a->A);
    else if (B.ndim != 2 || B.dims[0] != (size_t)a->ntargets || B.dims[1] != A.dims[0] ||
             B.dtype == DS_NPY_F32 || B.dtype == DS_NPY_F64)
        st = ds_err_set(err, DS_EFORMAT, "%s: bits must be integers or bools of shape [%d, %zu] (targets x N)",
                        a->bits, a->ntargets, A.dims[0]);
    if (!st) {
        w->N = (int)A.dims[0];
        w->M = (int)A.dims[1];
        w->s = a->ntargets;
        w->A = malloc(sizeof *w->A * A.count);
        w->bits = malloc(B.count);
        w->targets = malloc(sizeof *w->targets * (size_t)w->s);
        if (!w->A || !w->bits || !w->targets) st = ds_err_set(err, DS_ENOMEM, "out of memory for the white-box secrets");
    }
    for (size_t i = 0; !st && i < A.count; i++) w->A[i] = (float)ds_npy_get(&A, i);
    for (size_t i = 0; !st && i < B.count; i++) {
        const double v = ds_npy_get(&B, i);
        if (v != 0 && v != 1) st = ds_err_set(err, DS_EFORMAT, "%s: bit %zu is %g, not 0 or 1", a->bits, i, v);
        else w->bits[i] = (uint8_t)v;
    }
    for (int t = 0; !st && t < w->s; t++) w->targets[t] = a->targets[t];
    ds_npy_free(&A);
    ds_npy_free(&B);
    if (!st) snprintf(w->layer, sizeof w->layer, "%s", a->layer);
    if (!st && strlen(a->layer) >= sizeof w->layer)
        st = ds_err_set(err, DS_ERANGE, "--layer: a name of at most %zu bytes", sizeof w->layer - 1);
    w->alpha = a->alpha;
    return st;
}

/* With --model: the layer fits; with --probe-images, the reference is taken on it. */
static ds_status key_model(const key_args *a, ds_wm_key *k, ds_err *err)
{
    int keras = 0;
    ds_model *m = ds_model_load_any(a->model, &keras, err);
    if (!m) return err->code ? err->code : DS_EIO;
    if (!a->arch) snprintf(k->arch, sizeof k->arch, "%s", m->arch.name);
    ds_status st = DS_OK;
    if (m->arch.classes != k->classes)
        st = ds_err_set(err, DS_EKEY, "%s has %d classes, --classes says %d", a->model, m->arch.classes, k->classes);
    if (!st && a->probes) {
        size_t n;
        int c, h, w;
        st = load_images(a->probes, &k->wb.probe_x, &n, &c, &h, &w, err);
        if (!st && (c != k->c || h != k->h || w != k->w || n > DS_WB_PROBES_MAX))
            st = ds_err_set(err, DS_EFORMAT, "%s: probe images must have the key images' shape %dx%dx%d "
                            "(and be at most %d)", a->probes, k->c, k->h, k->w, DS_WB_PROBES_MAX);
        k->wb.probes = st ? 0 : (int)n;
    }
    if (!st) st = k->wb.probes ? ds_wb_reference_take(m, k, err) : DS_OK;
    if (!st && !k->wb.probes) { /* no reference: still check the layer and its width */
        ds_wm_check chk;
        st = ds_wm_check_run(m, k, 0, &chk, err);
        ds_wm_check_free(&chk);
    }
    ds_model_free(m);
    return st ? ds_err_prefix(err, "%s: ", a->model) : DS_OK;
}

int cmd_key(int argc, char **argv)
{
    ds_err err = {0};
    if (argc < 2 || strcmp(argv[1], "import")) {
        if (argc >= 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
            fputs(key_usage, stdout);
            return CLI_EXIT_OK;
        }
        return cli_failf("key", "expected 'key import' (see deepsigns key --help)");
    }
    key_args a;
    int help = 0;
    if (key_parse(argc - 1, argv + 1, &a, &help, &err)) return cli_fail("key import", &err);
    if (help) {
        fputs(key_usage, stdout);
        return CLI_EXIT_OK;
    }
    ds_wm_key k;
    memset(&k, 0, sizeof k);
    k.scheme = a.scheme;
    snprintf(k.arch, sizeof k.arch, "%s", a.arch ? a.arch : "imported");
    ds_status st = key_images(&a, &k, &err);
    if (!st && a.scheme == DS_WM_WHITEBOX) st = key_whitebox(&a, &k, &err);
    if (!st && a.scheme == DS_WM_BLACKBOX) {
        k.bb.K = (int)k.n;
        k.bb.alpha = a.alpha;
        st = ds_bb_keys_check(k.bb.K, k.classes, a.alpha, &err);
    }
    if (!st && a.model) st = key_model(&a, &k, &err);
    char commit[DS_COMMIT_HEX];
    if (!st) st = ds_key_commitment(&k, commit, &err);
    if (!st) st = ds_key_save(&k, a.out, &err);
    if (st) {
        ds_wm_key_free(&k);
        return cli_fail("key import", &err);
    }
    if (a.scheme == DS_WM_WHITEBOX)
        printf("wrote %s: white-box key, %d bits on each of %d classes in layer %s, %zu key images%s\n", a.out,
               k.wb.N, k.wb.s, k.wb.layer, k.n, k.wb.probes ? ", with a realignment reference" : "");
    else
        printf("wrote %s: black-box key, %d key images\n", a.out, k.bb.K);
    printf("commitment (publish this): %s\n", commit);
    ds_wm_key_free(&k);
    return CLI_EXIT_OK;
}
