/* spec.c - experiment specs: a YAML file read with libfyaml into a validated ds_spec.
 *
 * The document is loaded and checked for what no spec may hold by spec_doc.c
 * (libfyaml's document API; every node's line is libfyaml's mark). Then it is
 * read against the schema, which is tables: a section (the root, data, model,
 * train, watermarks and its two marks) is a list of keys, each with its type,
 * its range (ranges.h, shared with the CLI and the library), the field it fills
 * and, where one applies, the condition it needs (hidden: arch mnist-mlp); an
 * attack entry's keys are the table of attack kinds' (ds_attack_info) plus the
 * table of the knobs below. Every mapping's keys are checked for unknown names
 * and repeats in document order, every scalar is converted strictly (a number is
 * a plain scalar consumed whole, finite, integral where an integer is expected)
 * and range-checked. Every refusal reads "<file>:<line>: <key path>: <what was
 * wrong> (<what was expected>)" (docs/spec.md).
 */
#include "deepsigns/spec.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deepsigns/blobstore.h" /* ds_blob_ref_of_file */
#include "deepsigns/ranges.h"
#include "deepsigns/wm.h"
#include "io/spec_doc.h"
#include "io/untrusted.h" /* ds_io_check_regular */

#define SPEC_MAX_BYTES ((size_t)1 << 20) /* a spec is a few hundred bytes; refuse a huge file */
#define PATH_LEN 192                      /* "attacks[31].strengths[63]" and some */

/* A read: messages (file, err) and the document. */
typedef struct pctx {
    spec_ctx s;
    const spec_doc *d;
} pctx;

#define failf(c, ...) spec_failf(&(c)->s, __VA_ARGS__)

/* ================================================================ messages */

/* 'text' for messages: at most 40 characters, control characters as '?'. */
static const char *quoted(char *buf, size_t size, const char *text)
{
    size_t n = 0, i = 0;
    if (size < 8) return "";
    buf[n++] = '\'';
    for (; text[i] && i < 40 && n + 5 < size; i++) {
        unsigned char ch = (unsigned char)text[i];
        buf[n++] = ch < 0x20 || ch == 0x7f ? '?' : (char)ch;
    }
    if (text[i] && n + 5 < size) {
        memcpy(buf + n, "...", 3);
        n += 3;
    }
    buf[n++] = '\'';
    buf[n] = '\0';
    return buf;
}

/* What a node is, for "expected X, got Y". */
static const char *describe(const ynode *n, char *buf, size_t size)
{
    if (n->type == Y_MAP) return "a mapping";
    if (n->type == Y_SEQ) return "a list";
    if (n->null) return "an empty value";
    char q[64];
    snprintf(buf, size, "%s%s", n->plain ? "" : "the quoted string ", quoted(q, sizeof q, n->text));
    return buf;
}

/* "path.key" (key sanitised and shortened) or "path[i]". */
static const char *path_key(char *buf, const char *path, const char *key)
{
    char k[48];
    size_t n = 0;
    for (; key[n] && n + 1 < sizeof k; n++) {
        unsigned char ch = (unsigned char)key[n];
        k[n] = ch < 0x20 || ch == 0x7f ? '?' : (char)ch;
    }
    k[n] = '\0';
    if (snprintf(buf, PATH_LEN, "%s%s%s%s", path, *path ? "." : "", k, key[n] ? "..." : "") >= PATH_LEN)
        memcpy(buf + PATH_LEN - 4, "...", 4);
    return buf;
}

static const char *path_index(char *buf, const char *path, int i)
{
    if (snprintf(buf, PATH_LEN, "%s[%d]", path, i) >= PATH_LEN) memcpy(buf + PATH_LEN - 4, "...", 4);
    return buf;
}

/* "a, b, c" from a NULL-terminated list of names. */
static const char *name_list(char *buf, size_t size, const char *const *names)
{
    size_t n = 0;
    buf[0] = '\0';
    for (int i = 0; names[i] && n < size; i++)
        n += (size_t)snprintf(buf + n, size - n, "%s%s", i ? ", " : "", names[i]);
    return buf;
}

/* ================================================================ mappings */

static int key_is(const ynode *k, const char *name)
{
    return k->type == Y_SCALAR && strlen(name) == k->len && !memcmp(k->text, name, k->len);
}

/* Every key of map must be one of keys (NULL-terminated) and appear once;
 * checked in document order, so the first fault in the file is reported. */
static ds_status check_keys(const pctx *c, const ynode *map, const char *path, const char *const *keys,
                            const char *what)
{
    char p[PATH_LEN], d[96], list[384];
    ds_status st;
    for (int i = 0; i < map->n; i++) {
        ynode k;
        if ((st = spec_pair(&c->s, c->d, map, i, &k, NULL))) return st;
        if (k.type != Y_SCALAR || k.null)
            return failf(c, DS_EFORMAT, k.line, path, "a key must be a name, got %s", describe(&k, d, sizeof d));
        int known = 0;
        for (int j = 0; keys[j] && !known; j++) known = key_is(&k, keys[j]);
        path_key(p, path, k.text);
        if (!known)
            return failf(c, DS_EINVAL, k.line, p, "unknown key%s%s (expected %s)", what ? " " : "",
                         what ? what : "", name_list(list, sizeof list, keys));
        for (int j = 0; j < i; j++) {
            ynode k0;
            if ((st = spec_pair(&c->s, c->d, map, j, &k0, NULL))) return st;
            if (k0.len == k.len && !memcmp(k0.text, k.text, k.len))
                return failf(c, DS_EFORMAT, k.line, p, "duplicate key (first on line %d)", k0.line);
        }
    }
    return DS_OK;
}

/* A key's value within a checked mapping (found 0 if absent). */
typedef struct field {
    int found;
    ynode v;
    int kline;              /* line of the key */
    char path[PATH_LEN];
} field;

static ds_status get(const pctx *c, const ynode *map, const char *mpath, const char *key, field *f)
{
    f->found = 0;
    if (map->type != Y_MAP) return DS_OK;
    for (int i = 0; i < map->n; i++) {
        ynode k;
        ds_status st = spec_pair(&c->s, c->d, map, i, &k, NULL);
        if (st) return st;
        if (key_is(&k, key)) {
            if ((st = spec_pair(&c->s, c->d, map, i, &k, &f->v))) return st;
            f->found = 1;
            f->kline = k.line;
            path_key(f->path, mpath, key);
            return DS_OK;
        }
    }
    return DS_OK;
}

static ds_status missing(const pctx *c, int line, const char *path, const char *key)
{
    return failf(c, DS_EINVAL, line, path, "missing required key '%s'", key);
}

/* A section: a mapping, or an empty value (taken as an empty mapping). */
static ds_status need_map(const pctx *c, const ynode *v, const char *path, const char *expected)
{
    char d[96];
    if (v->type == Y_MAP || (v->type == Y_SCALAR && v->null)) return DS_OK;
    return failf(c, DS_EINVAL, v->line, path, "expected %s, got %s", expected, describe(v, d, sizeof d));
}

/* ================================================================ scalars */

static int is_nonfinite_word(const char *s)
{
    static const char *const words[] = {"nan", ".nan", "inf", ".inf", "infinity"};
    if (*s == '+' || *s == '-') s++;
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        if (!strcasecmp(s, words[i])) return 1;
    return 0;
}

/* 1 if s is [+-]? (digits [. digits?] | . digits) ([eE] [+-]? digits)?; *digits_only
 * tells whether it was a plain integer. */
static int is_decimal(const char *s, int *digits_only)
{
    const char *p = s;
    int nd = 0, frac = 0, expo = 0;
    if (*p == '+' || *p == '-') p++;
    while (*p >= '0' && *p <= '9') p++, nd++;
    if (*p == '.') {
        frac = 1;
        p++;
        while (*p >= '0' && *p <= '9') p++, nd++;
    }
    if (!nd) return 0;
    if (*p == 'e' || *p == 'E') {
        int ne = 0;
        expo = 1;
        p++;
        if (*p == '+' || *p == '-') p++;
        while (*p >= '0' && *p <= '9') p++, ne++;
        if (!ne) return 0;
    }
    *digits_only = !frac && !expo;
    return *p == '\0';
}

typedef enum numres { NUM_OK, NUM_NOT, NUM_NONFINITE } numres;

static numres scan_real(const ynode *v, double *out)
{
    int digits_only;
    if (v->type != Y_SCALAR || v->null || !v->plain) return NUM_NOT;
    if (is_nonfinite_word(v->text)) return NUM_NONFINITE;
    if (!is_decimal(v->text, &digits_only)) return NUM_NOT;
    char *end;
    double x = strtod(v->text, &end);
    if (*end) return NUM_NOT;
    if (!isfinite(x)) return NUM_NONFINITE;
    *out = x;
    return NUM_OK;
}

/* A real number in the range r. */
static ds_status conv_real(const pctx *c, const ynode *v, const char *path, const ds_range *r, double *out)
{
    char d[96], rt[64];
    double x = 0.0;
    numres nr = scan_real(v, &x);
    if (nr == NUM_NONFINITE)
        return failf(c, DS_EINVAL, v->line, path, "expected a finite number, got %s", describe(v, d, sizeof d));
    if (nr != NUM_OK)
        return failf(c, DS_EINVAL, v->line, path, "expected a number, got %s", describe(v, d, sizeof d));
    if (!ds_range_holds(r, x))
        return failf(c, DS_ERANGE, v->line, path, "%s is out of range %s", v->text, ds_range_text(r, rt, sizeof rt));
    *out = x;
    return DS_OK;
}

/* An integer in [r->lo, r->hi]: plain digits with an optional sign, or an integral
 * decimal (1e3, 5.0). */
static ds_status conv_int(const pctx *c, const ynode *v, const char *path, const ds_range *r, long long *out)
{
    char d[96];
    int digits_only = 0;
    long long x = 0;
    int in_range = 1;
    if (v->type == Y_SCALAR && v->plain && !v->null && is_decimal(v->text, &digits_only) && digits_only) {
        char *end;
        errno = 0;
        x = strtoll(v->text, &end, 10);
        if (*end) goto not_int;
        if (errno == ERANGE) in_range = 0;
    } else {
        double y;
        numres nr = scan_real(v, &y);
        if (nr != NUM_OK || y != floor(y)) goto not_int;
        if (y < -9.0e18 || y > 9.0e18)
            in_range = 0;
        else
            x = (long long)y;
    }
    long long lo = (long long)r->lo, hi = (long long)r->hi;
    if (!in_range || x < lo || x > hi)
        return failf(c, DS_ERANGE, v->line, path, "%s is out of range [%lld, %lld]", v->text, lo, hi);
    *out = x;
    return DS_OK;
not_int:
    return failf(c, DS_EINVAL, v->line, path, "expected an integer, got %s", describe(v, d, sizeof d));
}

/* An unsigned 64-bit integer (seeds): digits, or an integral decimal up to 2^53. */
static ds_status conv_u64(const pctx *c, const ynode *v, const char *path, uint64_t *out)
{
    char d[96];
    int digits_only = 0;
    if (v->type == Y_SCALAR && v->plain && !v->null && is_decimal(v->text, &digits_only)) {
        double r = 0.0;
        numres nr = scan_real(v, &r);
        if (v->text[0] == '-' && !(nr == NUM_OK && r == 0.0))
            return failf(c, DS_ERANGE, v->line, path, "%s is negative (expected an unsigned integer)", v->text);
        if (digits_only) {
            const char *s = v->text + (v->text[0] == '+' || v->text[0] == '-');
            char *end;
            errno = 0;
            unsigned long long x = strtoull(s, &end, 10);
            if (*end || errno == ERANGE)
                return failf(c, DS_ERANGE, v->line, path, "%s is out of range [0, %llu]", v->text,
                             (unsigned long long)UINT64_MAX);
            *out = (uint64_t)x;
            return DS_OK;
        }
        if (nr == NUM_OK && r == floor(r)) {
            if (r > 9007199254740992.0)
                return failf(c, DS_ERANGE, v->line, path,
                             "%s is too large to be exact as a decimal (write all the digits)", v->text);
            *out = (uint64_t)r;
            return DS_OK;
        }
    }
    return failf(c, DS_EINVAL, v->line, path, "expected an unsigned integer, got %s", describe(v, d, sizeof d));
}

static ds_status conv_bool(const pctx *c, const ynode *v, const char *path, int *out)
{
    char d[96];
    if (v->type == Y_SCALAR && v->plain) {
        if (!strcmp(v->text, "true") || !strcmp(v->text, "True") || !strcmp(v->text, "TRUE")) {
            *out = 1;
            return DS_OK;
        }
        if (!strcmp(v->text, "false") || !strcmp(v->text, "False") || !strcmp(v->text, "FALSE")) {
            *out = 0;
            return DS_OK;
        }
    }
    return failf(c, DS_EINVAL, v->line, path, "expected true or false, got %s", describe(v, d, sizeof d));
}

/* A string into buf[size] (an empty value is refused; a quoted "" is allowed). */
static ds_status conv_str(const pctx *c, const ynode *v, const char *path, char *buf, size_t size)
{
    char d[96];
    if (v->type != Y_SCALAR || v->null)
        return failf(c, DS_EINVAL, v->line, path, "expected a string, got %s", describe(v, d, sizeof d));
    if (strlen(v->text) != v->len) return failf(c, DS_EINVAL, v->line, path, "contains a NUL character");
    if (v->len >= size)
        return failf(c, DS_ERANGE, v->line, path, "%s is too long (%zu characters, at most %zu)",
                     quoted(d, sizeof d, v->text), v->len, size - 1);
    memcpy(buf, v->text, v->len + 1);
    return DS_OK;
}

/* ---------------------------------------------------------------- enumerations */

enum { ENUM_MAX = 16 };

typedef struct etab {
    int n;
    const char *names[ENUM_MAX + 1]; /* NULL-terminated */
    int values[ENUM_MAX];
} etab;

static void etab_add(etab *t, const char *name, int value)
{
    if (!name || t->n == ENUM_MAX) return;
    t->names[t->n] = name;
    t->values[t->n] = value;
    t->n++;
    t->names[t->n] = NULL;
}

static ds_status conv_enum(const pctx *c, const ynode *v, const char *path, const etab *t, int *out)
{
    char d[96], list[256];
    if (v->type == Y_SCALAR && !v->null)
        for (int i = 0; i < t->n; i++)
            if (!strcmp(v->text, t->names[i]) && strlen(v->text) == v->len) {
                *out = t->values[i];
                return DS_OK;
            }
    if (v->type != Y_SCALAR || v->null)
        return failf(c, DS_EINVAL, v->line, path, "expected one of %s, got %s",
                     name_list(list, sizeof list, t->names), describe(v, d, sizeof d));
    return failf(c, DS_EINVAL, v->line, path, "unknown value %s (expected %s)", quoted(d, sizeof d, v->text),
                 name_list(list, sizeof list, t->names));
}

/* The names of a table of kinds, each a row's value. */
static etab tab_attack_kinds(void)
{
    etab t = {0};
    for (int i = 0; i < ds_attack_kind_count(); i++)
        etab_add(&t, ds_attack_info_at(i)->name, (int)ds_attack_info_at(i)->kind);
    return t;
}

/* The kinds a chain may take as steps. */
static etab tab_steps(void)
{
    etab t = {0};
    for (int i = 0; i < ds_attack_kind_count(); i++)
        if (ds_attack_step_ok(ds_attack_info_at(i)->kind))
            etab_add(&t, ds_attack_info_at(i)->name, (int)ds_attack_info_at(i)->kind);
    return t;
}

/* The variants of one attack kind, by index. */
static etab tab_variants(const ds_attack_info *info)
{
    etab t = {0};
    for (int i = 0; i < info->nvariants; i++) etab_add(&t, info->variants[i], i);
    return t;
}

static etab tab_dummy_kinds(void)
{
    return tab_variants(ds_attack_info_of(DS_ATTACK_DUMMY));
}

static etab tab_opt_kinds(void)
{
    etab t = {0};
    for (int k = DS_OPT_SGD; k <= DS_OPT_RMSPROP; k++) etab_add(&t, ds_opt_kind_name((ds_opt_kind)k), k);
    return t;
}

static etab tab_sched_kinds(void)
{
    etab t = {0};
    for (int k = DS_SCHED_CONST; k <= DS_SCHED_COSINE; k++) etab_add(&t, ds_sched_kind_name((ds_sched_kind)k), k);
    return t;
}

static etab tab_schemes(void)
{
    etab t = {0};
    etab_add(&t, ds_wm_scheme_name(DS_WM_WHITEBOX), DS_WM_WHITEBOX);
    etab_add(&t, ds_wm_scheme_name(DS_WM_BLACKBOX), DS_WM_BLACKBOX);
    return t;
}

static etab tab_formats(void)
{
    etab t = {0};
    etab_add(&t, "auto", DS_FORMAT_AUTO);
    etab_add(&t, "idx", DS_FORMAT_IDX);
    etab_add(&t, "cifar10", DS_FORMAT_CIFAR10);
    return t;
}

static etab tab_labels(void)
{
    etab t = {0};
    etab_add(&t, "true", 0);
    etab_add(&t, "predicted", 1);
    return t;
}

static etab tab_archs(void)
{
    etab t = {0};
    for (int i = 0; i < ds_arch_count(); i++) etab_add(&t, ds_arch_name_at(i), i);
    return t;
}

/* ---------------------------------------------------------------- lists */

/* The i-th element of a value that is a list or a single scalar, and its path. */
static ds_status element(const pctx *c, const ynode *v, int i, const char *path, char *buf, ynode *e)
{
    if (v->type != Y_SEQ) {
        snprintf(buf, PATH_LEN, "%s", path);
        *e = *v;
        return DS_OK;
    }
    path_index(buf, path, i);
    return spec_item(&c->s, c->d, v, i, e);
}

static ds_status list_size(const pctx *c, const ynode *v, const char *path, int max, int *n)
{
    if (v->type != Y_SEQ) {
        *n = 1;
        return DS_OK;
    }
    if (v->n == 0) return failf(c, DS_EINVAL, v->line, path, "empty list (expected 1 to %d values)", max);
    if (v->n > max) return failf(c, DS_ERANGE, v->line, path, "%d values, at most %d", v->n, max);
    *n = v->n;
    return DS_OK;
}

/* A number or a list of distinct numbers in r into vals[0..*n), at most max. */
static ds_status conv_num_list(const pctx *c, const ynode *v, const char *path, const ds_range *r, int max,
                               double *vals, int *n)
{
    char d[96], p[PATH_LEN];
    ds_status st;
    if (v->type == Y_MAP || (v->type == Y_SCALAR && v->null))
        return failf(c, DS_EINVAL, v->line, path, "expected %s or a list of them, got %s",
                     r->integer ? "an integer" : "a number", describe(v, d, sizeof d));
    int cnt = 0;
    if ((st = list_size(c, v, path, max, &cnt))) return st;
    for (int i = 0; i < cnt; i++) {
        ynode e;
        if ((st = element(c, v, i, path, p, &e))) return st;
        if (r->integer) {
            long long x;
            if ((st = conv_int(c, &e, p, r, &x))) return st;
            vals[i] = (double)x;
        } else if ((st = conv_real(c, &e, p, r, &vals[i]))) {
            return st;
        }
        for (int j = 0; j < i; j++)
            if (vals[j] == vals[i])
                return failf(c, DS_EINVAL, e.line, p, "%s is listed twice (also at %s[%d])", e.text, path, j);
    }
    *n = cnt;
    return DS_OK;
}

/* A name or a list of distinct names from t into vals[0..*n), at most max. */
static ds_status conv_enum_list(const pctx *c, const ynode *v, const char *path, const etab *t, int max,
                                int *vals, int *n)
{
    char d[96], p[PATH_LEN];
    ds_status st;
    if (v->type == Y_MAP || (v->type == Y_SCALAR && v->null))
        return failf(c, DS_EINVAL, v->line, path, "expected a name or a list of names, got %s",
                     describe(v, d, sizeof d));
    int cnt = 0;
    if ((st = list_size(c, v, path, max, &cnt))) return st;
    for (int i = 0; i < cnt; i++) {
        ynode e;
        if ((st = element(c, v, i, path, p, &e))) return st;
        if ((st = conv_enum(c, &e, p, t, &vals[i]))) return st;
        for (int j = 0; j < i; j++)
            if (vals[j] == vals[i])
                return failf(c, DS_EINVAL, e.line, p, "%s is listed twice (also at %s[%d])",
                             quoted(d, sizeof d, e.text), path, j);
    }
    *n = cnt;
    return DS_OK;
}

/* ================================================================ the schema */

typedef enum ktype {
    KT_INT,     /* int in a range */
    KT_SIZE,    /* size_t in a range */
    KT_U64,     /* uint64_t */
    KT_REAL,    /* double in a range */
    KT_FLOAT,   /* float in a range */
    KT_BOOL,    /* int 0 or 1 */
    KT_STR,     /* char[aux] */
    KT_ENUM,    /* an int-sized enum, a name of values() */
    KT_INTS,    /* a list of ints in a range: int[DS_SPEC_MAX_LIST], the count an int at aux */
    KT_SECTION, /* a mapping read by the section sub into the struct at off */
    KT_FN,      /* read by fn */
} ktype;

enum {
    K_REQUIRED = 1, /* the mapping must have it */
    K_FIRST = 2,    /* read before the other keys (they may depend on it) */
    K_ENABLES = 4,  /* KT_SECTION: the struct's first field, an int, is set to 1 when the key is there */
};

typedef struct section section;

/* The handlers of a key take the struct of its section (obj) and the read's
 * context (ctx: the attack entry being read, for the attack knobs). */
typedef ds_status (*key_fn)(const pctx *c, const field *f, void *obj, void *ctx);

typedef struct keydef {
    const char *key;
    ktype type;
    ds_setting range;          /* the numbers' range (ranges.h) */
    size_t off;                /* the field, in the section's struct */
    size_t aux;                /* KT_STR: the buffer's size; KT_INTS: the count's offset */
    etab (*values)(void);      /* KT_ENUM */
    const section *sub;        /* KT_SECTION */
    key_fn fn;                 /* KT_FN: reads the value; other types: checks it after */
    /* when set, the key is refused unless it returns 1; why: "arch mnist-mlp only (arch is x)" */
    int (*applies)(const void *obj, char *why, size_t size);
    unsigned flags;            /* K_* */
} keydef;

struct section {
    const char *expected;      /* for a value that is no mapping: "a mapping of ..."; NULL: the root */
    int names_keys;            /* expected is followed by the key names */
    const keydef *keys;
    int nkeys;
    /* after its keys: a check of the section as a whole (its key's line) */
    ds_status (*after)(const pctx *c, int line, const char *path, void *obj);
};

enum { SECTION_MAX_KEYS = 24 };

static ds_status section_read(const pctx *c, const ynode *m, const char *path, int line, const section *sec,
                              void *obj, void *ctx);

/* One key's value into obj. */
static ds_status key_read(const pctx *c, const keydef *k, const field *f, void *obj, void *ctx)
{
    char why[96];
    if (k->applies && !k->applies(obj, why, sizeof why))
        return failf(c, DS_EINVAL, f->kline, f->path, "applies to %s", why);
    const ds_range *r = ds_range_of(k->range);
    char *p = (char *)obj + k->off;
    long long x = 0;
    double y = 0.0;
    int e = 0;
    etab t;
    ds_status st = DS_OK;
    switch (k->type) {
    case KT_INT:
        if (!(st = conv_int(c, &f->v, f->path, r, &x))) *(int *)p = (int)x;
        break;
    case KT_SIZE:
        if (!(st = conv_int(c, &f->v, f->path, r, &x))) *(size_t *)p = (size_t)x;
        break;
    case KT_U64: st = conv_u64(c, &f->v, f->path, (uint64_t *)p); break;
    case KT_REAL: st = conv_real(c, &f->v, f->path, r, (double *)p); break;
    case KT_FLOAT:
        if (!(st = conv_real(c, &f->v, f->path, r, &y))) *(float *)p = (float)y;
        break;
    case KT_BOOL: st = conv_bool(c, &f->v, f->path, (int *)p); break;
    case KT_STR: st = conv_str(c, &f->v, f->path, p, k->aux); break;
    case KT_ENUM:
        t = k->values();
        if (!(st = conv_enum(c, &f->v, f->path, &t, &e))) *(int *)p = e;
        break;
    case KT_INTS: {
        double v[DS_SPEC_MAX_LIST];
        int *n = (int *)((char *)obj + k->aux);
        if ((st = conv_num_list(c, &f->v, f->path, r, DS_SPEC_MAX_LIST, v, n))) break;
        for (int i = 0; i < *n; i++) ((int *)p)[i] = (int)v[i];
        break;
    }
    case KT_SECTION:
        if (k->flags & K_ENABLES) *(int *)p = 1;
        return section_read(c, &f->v, f->path, f->kline, k->sub, p, ctx);
    case KT_FN: return k->fn(c, f, obj, ctx);
    }
    return st || !k->fn ? st : k->fn(c, f, obj, ctx);
}

/* A section's mapping: its keys checked, the required ones there, each read in
 * table order (those marked K_FIRST before the others). line: of its key, for a
 * required key that is missing. */
static ds_status section_read(const pctx *c, const ynode *m, const char *path, int line, const section *sec,
                              void *obj, void *ctx)
{
    const char *names[SECTION_MAX_KEYS + 1];
    char expected[256], list[224];
    ds_status st;
    int n = 0;
    for (int i = 0; i < sec->nkeys && n < SECTION_MAX_KEYS; i++) names[n++] = sec->keys[i].key;
    names[n] = NULL;
    if (sec->expected) {
        snprintf(expected, sizeof expected, "%s%s%s", sec->expected, sec->names_keys ? " " : "",
                 sec->names_keys ? name_list(list, sizeof list, names) : "");
        if ((st = need_map(c, m, path, expected))) return st;
    }
    if (m->type == Y_MAP && (st = check_keys(c, m, path, names, NULL))) return st;
    field f;
    for (int i = 0; i < sec->nkeys; i++) {
        if (!(sec->keys[i].flags & K_REQUIRED)) continue;
        if ((st = get(c, m, path, sec->keys[i].key, &f))) return st;
        if (!f.found) return missing(c, line, path, sec->keys[i].key);
    }
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < sec->nkeys; i++) {
            const keydef *k = &sec->keys[i];
            int first = (k->flags & K_FIRST) != 0;
            if (first != (pass == 0)) continue;
            if ((st = get(c, m, path, k->key, &f))) return st;
            if (f.found && (st = key_read(c, k, &f, obj, ctx))) return st;
        }
    return sec->after ? sec->after(c, line, path, obj) : DS_OK;
}

#define NKEYS(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* ---------------------------------------------------------------- data */

/* A relative path in the spec (path[size], as read) joined to the spec file's
 * directory: a spec's neighbours are found wherever the sweep runs. */
static ds_status spec_relative(const pctx *c, const field *f, char *path, size_t size)
{
    const char *file = c->s.file;
    const char *slash = file ? strrchr(file, '/') : NULL;
    if (path[0] == '/' || !slash) return DS_OK;
    char rel[512];
    snprintf(rel, sizeof rel, "%s", path);
    int k = snprintf(path, size, "%.*s/%s", (int)(slash - file), file, rel);
    if (k < 0 || (size_t)k >= size)
        return failf(c, DS_ERANGE, f->v.line, f->path, "too long once joined to the spec's directory");
    return DS_OK;
}

static ds_status data_dir_check(const pctx *c, const field *f, void *obj, void *ctx)
{
    (void)ctx;
    ds_spec *s = obj;
    if (!s->data_dir[0]) return failf(c, DS_EINVAL, f->v.line, f->path, "empty (expected a directory)");
    memcpy(s->data_dir_text, s->data_dir, sizeof s->data_dir_text);
    return spec_relative(c, f, s->data_dir, sizeof s->data_dir);
}

static const keydef data_keys[] = {
    {.key = "dir", .type = KT_STR, .off = offsetof(ds_spec, data_dir), .aux = sizeof(((ds_spec *)0)->data_dir),
     .fn = data_dir_check},
    {.key = "format", .type = KT_ENUM, .off = offsetof(ds_spec, data_format), .values = tab_formats},
    {.key = "train_limit", .type = KT_SIZE, .range = DS_RANGE_LIMIT, .off = offsetof(ds_spec, train_limit)},
    {.key = "test_limit", .type = KT_SIZE, .range = DS_RANGE_LIMIT, .off = offsetof(ds_spec, test_limit)},
};
static const section data_section = {"a mapping of", 1, data_keys, NKEYS(data_keys), NULL};

/* ---------------------------------------------------------------- model */

static ds_status model_arch(const pctx *c, const field *f, void *obj, void *ctx)
{
    (void)ctx;
    ds_spec *s = obj;
    etab t = tab_archs();
    int a;
    ds_status st = conv_enum(c, &f->v, f->path, &t, &a);
    if (!st) snprintf(s->arch.name, sizeof s->arch.name, "%s", t.names[a]);
    return st;
}

static int arch_is(const ds_spec *s, const char *name, char *why, size_t size)
{
    if (s->model_file[0])
        snprintf(why, size, "arch %s only (the model is a file)", name);
    else
        snprintf(why, size, "arch %s only (arch is %s)", name, s->arch.name);
    return !strcmp(s->arch.name, name);
}

/* model.file: the path, and the content's hash (the model itself is read and
 * checked against the data when the sweep plans, ds_plan_check_data) */
static ds_status model_file_check(const pctx *c, const field *f, void *obj, void *ctx)
{
    (void)ctx;
    ds_spec *s = obj;
    if (!s->model_file[0]) return failf(c, DS_EINVAL, f->v.line, f->path, "empty (expected a model file)");
    memcpy(s->model_file_text, s->model_file, sizeof s->model_file_text);
    ds_status st = spec_relative(c, f, s->model_file, sizeof s->model_file);
    if (st) return st;
    ds_blob_ref ref;
    ds_err e = {0};
    if (ds_blob_ref_of_file(s->model_file, &ref, &e))
        return failf(c, e.code, f->v.line, f->path, "%s", e.msg);
    memcpy(s->model_hash, ref.hex, sizeof s->model_hash);
    s->model_bytes = ref.bytes;
    return DS_OK;
}

/* exactly one of arch and file; a file's architecture is its own */
static ds_status model_after(const pctx *c, int line, const char *path, void *obj)
{
    const ds_spec *s = obj;
    if (!s->arch.name[0] && !s->model_file[0])
        return failf(c, DS_EINVAL, line, path, "missing required key 'arch' (or 'file', a model file)");
    if (s->arch.name[0] && s->model_file[0])
        return failf(c, DS_EINVAL, line, path, "give arch or file, not both (a model file has its own architecture)");
    if (s->model_file[0] && s->dropout >= 0.0f)
        return failf(c, DS_EINVAL, line, path, "dropout applies to an arch, not to a model file");
    return DS_OK;
}

static int only_mlp(const void *obj, char *why, size_t size)
{
    return arch_is(obj, "mnist-mlp", why, size);
}

static int only_wrn(const void *obj, char *why, size_t size)
{
    return arch_is(obj, "cifar10-wrn", why, size);
}

static ds_status depth_check(const pctx *c, const field *f, void *obj, void *ctx)
{
    (void)ctx;
    const ds_spec *s = obj;
    if ((s->depth - 4) % 6)
        return failf(c, DS_ERANGE, f->v.line, f->path, "%d is not of the form 6n+4 (10, 16, 22, 28, ...)", s->depth);
    return DS_OK;
}

static const keydef model_keys[] = {
    {.key = "arch", .type = KT_FN, .fn = model_arch},
    {.key = "file", .type = KT_STR, .off = offsetof(ds_spec, model_file), .aux = sizeof(((ds_spec *)0)->model_file),
     .fn = model_file_check},
    {.key = "hidden", .type = KT_INT, .range = DS_RANGE_HIDDEN, .off = offsetof(ds_spec, hidden), .applies = only_mlp},
    {.key = "dropout", .type = KT_FLOAT, .range = DS_RANGE_DROPOUT, .off = offsetof(ds_spec, dropout)},
    {.key = "depth", .type = KT_INT, .range = DS_RANGE_DEPTH, .off = offsetof(ds_spec, depth), .fn = depth_check,
     .applies = only_wrn},
    {.key = "widen", .type = KT_INT, .range = DS_RANGE_WIDEN, .off = offsetof(ds_spec, widen), .applies = only_wrn},
};
static const section model_section = {"a mapping with arch or file", 0, model_keys, NKEYS(model_keys),
                                      model_after};

/* ---------------------------------------------------------------- train */

/* opt (an optimizer name): o replaced by that optimizer's defaults, its schedule kept. */
static ds_status set_opt(const pctx *c, const field *f, ds_optim_cfg *o)
{
    etab t = tab_opt_kinds();
    int k;
    ds_status st = conv_enum(c, &f->v, f->path, &t, &k);
    if (st) return st;
    ds_optim_cfg n = ds_optim_defaults((ds_opt_kind)k);
    n.sched = o->sched;
    n.step_every = o->step_every;
    n.gamma = o->gamma;
    *o = n;
    return DS_OK;
}

static ds_status train_opt(const pctx *c, const field *f, void *obj, void *ctx)
{
    (void)ctx;
    return set_opt(c, f, &((ds_spec_train *)obj)->opt);
}

static int only_sgd(const void *obj, char *why, size_t size)
{
    const ds_spec_train *t = obj;
    snprintf(why, size, "opt sgd only (opt is %s)", ds_opt_kind_name(t->opt.kind));
    return t->opt.kind == DS_OPT_SGD;
}

static int only_step(const void *obj, char *why, size_t size)
{
    const ds_spec_train *t = obj;
    snprintf(why, size, "schedule step only (schedule is %s)", ds_sched_kind_name(t->opt.sched));
    return t->opt.sched == DS_SCHED_STEP;
}

#define TRAIN(member) offsetof(ds_spec_train, member)
static const keydef train_keys[] = {
    {.key = "epochs", .type = KT_INT, .range = DS_RANGE_EPOCHS, .off = TRAIN(epochs)},
    {.key = "batch", .type = KT_INT, .range = DS_RANGE_BATCH, .off = TRAIN(batch)},
    {.key = "opt", .type = KT_FN, .fn = train_opt, .flags = K_FIRST}, /* it resets the others */
    {.key = "lr", .type = KT_FLOAT, .range = DS_RANGE_LR, .off = TRAIN(opt.lr)},
    {.key = "momentum", .type = KT_FLOAT, .range = DS_RANGE_MOMENTUM, .off = TRAIN(opt.momentum), .applies = only_sgd},
    {.key = "nesterov", .type = KT_BOOL, .off = TRAIN(opt.nesterov), .applies = only_sgd},
    {.key = "weight_decay", .type = KT_FLOAT, .range = DS_RANGE_WEIGHT_DECAY, .off = TRAIN(opt.weight_decay)},
    {.key = "schedule", .type = KT_ENUM, .off = TRAIN(opt.sched), .values = tab_sched_kinds},
    {.key = "step_every", .type = KT_INT, .range = DS_RANGE_STEP_EVERY, .off = TRAIN(opt.step_every),
     .applies = only_step},
    {.key = "gamma", .type = KT_FLOAT, .range = DS_RANGE_GAMMA, .off = TRAIN(opt.gamma), .applies = only_step},
};
static const section train_section = {"a mapping of training options", 0, train_keys, NKEYS(train_keys), NULL};

/* ---------------------------------------------------------------- watermarks */

#define WB(member) offsetof(ds_spec_whitebox, member)
static const keydef whitebox_keys[] = {
    {.key = "bits", .type = KT_INTS, .range = DS_RANGE_WB_BITS, .off = WB(bits), .aux = WB(nbits)},
    {.key = "targets", .type = KT_INT, .range = DS_RANGE_TARGETS, .off = WB(targets)},
    {.key = "lambda", .type = KT_FLOAT, .range = DS_RANGE_LAMBDA, .off = WB(lambda)},
    {.key = "lambda1", .type = KT_FLOAT, .range = DS_RANGE_LAMBDA, .off = WB(lambda1)},
    {.key = "epochs", .type = KT_INT, .range = DS_RANGE_EPOCHS_POS, .off = WB(epochs)},
    {.key = "lr", .type = KT_FLOAT, .range = DS_RANGE_LR, .off = WB(lr)},
    {.key = "layer", .type = KT_STR, .off = WB(layer), .aux = sizeof(((ds_spec_whitebox *)0)->layer)},
    {.key = "keys_per_class", .type = KT_INT, .range = DS_RANGE_KEYS_PER_CLASS, .off = WB(keys_per_class)},
};
static const section whitebox_section = {"a mapping of white-box options", 0, whitebox_keys, NKEYS(whitebox_keys),
                                         NULL};

#define BB(member) offsetof(ds_spec_blackbox, member)
static const keydef blackbox_keys[] = {
    {.key = "keys", .type = KT_INTS, .range = DS_RANGE_BB_KEYS, .off = BB(keys), .aux = BB(nkeys)},
    {.key = "alpha", .type = KT_REAL, .range = DS_RANGE_ALPHA, .off = BB(alpha)},
    {.key = "epochs", .type = KT_INT, .range = DS_RANGE_EPOCHS_POS, .off = BB(epochs)},
    {.key = "lr", .type = KT_FLOAT, .range = DS_RANGE_LR, .off = BB(lr)},
};
static const section blackbox_section = {"a mapping of black-box options", 0, blackbox_keys, NKEYS(blackbox_keys),
                                         NULL};

_Static_assert(offsetof(ds_spec_whitebox, enabled) == 0 && offsetof(ds_spec_blackbox, enabled) == 0,
               "K_ENABLES sets the first field");

static ds_status watermarks_after(const pctx *c, int line, const char *path, void *obj)
{
    const ds_spec *s = obj;
    if (!s->wb.enabled && !s->bb.enabled)
        return failf(c, DS_EINVAL, line, path, "expected at least one of whitebox, blackbox");
    return DS_OK;
}

static const keydef watermarks_keys[] = {
    {.key = "whitebox", .type = KT_SECTION, .off = offsetof(ds_spec, wb), .sub = &whitebox_section,
     .flags = K_ENABLES},
    {.key = "blackbox", .type = KT_SECTION, .off = offsetof(ds_spec, bb), .sub = &blackbox_section,
     .flags = K_ENABLES},
};
static const section watermarks_section = {"a mapping with whitebox and/or blackbox", 0, watermarks_keys,
                                           NKEYS(watermarks_keys), watermarks_after};

/* ---------------------------------------------------------------- attacks */

/* The entry being read, for the knobs' handlers. */
typedef struct attack_ctx {
    const ds_spec *spec;
    ds_spec_attack *a;
} attack_ctx;

/* The keys an attack entry of kind `a` takes (NULL: of any kind), NULL-
 * terminated in keys[cap]: kind, schemes, seed, then the kind's variant and
 * strength keys and its other keys (the table of attack kinds, attack.h). */
enum { MAX_ATTACK_KEYS = 64 };
static void attack_keys_of(const ds_attack_info *a, const char **keys)
{
    int n = 0;
    keys[n++] = "kind";
    keys[n++] = "schemes";
    keys[n++] = "seed";
    for (int i = 0; i < ds_attack_kind_count(); i++) {
        const ds_attack_info *k = a ? a : ds_attack_info_at(i);
        const char *own[3] = {k->variant_key, k->strength.key, k->strength_wb.key};
        for (int j = 0; j < 3; j++)
            if (own[j] && n < MAX_ATTACK_KEYS) keys[n++] = own[j];
        for (const char *const *e = k->extra_keys; *e && n < MAX_ATTACK_KEYS; e++) keys[n++] = *e;
        if (a) break;
    }
    /* the union over all kinds: each key once */
    int m = 0;
    for (int i = 0; i < n; i++) {
        int dup = 0;
        for (int j = 0; j < m && !dup; j++) dup = !strcmp(keys[j], keys[i]);
        if (!dup) keys[m++] = keys[i];
    }
    keys[m] = NULL;
}

static ds_status attack_schemes(const pctx *c, const field *f, void *obj, void *ctx)
{
    (void)obj;
    const attack_ctx *x = ctx;
    unsigned enabled = (x->spec->wb.enabled ? 1u << DS_WM_WHITEBOX : 0) |
                       (x->spec->bb.enabled ? 1u << DS_WM_BLACKBOX : 0);
    etab t = tab_schemes();
    int v[DS_SPEC_MAX_VARIANTS], n;
    ds_status st = conv_enum_list(c, &f->v, f->path, &t, 2, v, &n);
    if (st) return st;
    x->a->schemes = 0;
    for (int i = 0; i < n; i++) {
        if (!(enabled & (1u << v[i]))) {
            char p[PATH_LEN];
            ynode e;
            if ((st = element(c, &f->v, i, f->path, p, &e))) return st;
            return failf(c, DS_EINVAL, e.line, p, "%s is not among the watermarks of this spec",
                         ds_wm_scheme_name((ds_wm_scheme)v[i]));
        }
        x->a->schemes |= 1u << v[i];
    }
    return DS_OK;
}

static ds_status attack_opt(const pctx *c, const field *f, void *obj, void *ctx)
{
    (void)ctx;
    return set_opt(c, f, &((ds_attack_cfg *)obj)->opt);
}

static ds_status attack_layer(const pctx *c, const field *f, void *obj, void *ctx)
{
    ds_attack_cfg *cfg = obj;
    ds_spec_attack *a = ((attack_ctx *)ctx)->a;
    ds_status st = conv_str(c, &f->v, f->path, a->layer, sizeof a->layer);
    if (!st && a->layer[0]) cfg->layer = a->layer;
    return st;
}

/* chain: its steps, distinct, among permute, scale and dummy, in order. */
static ds_status attack_steps(const pctx *c, const field *f, void *obj, void *ctx)
{
    (void)ctx;
    ds_attack_cfg *cfg = obj;
    etab t = tab_steps();
    int v[DS_ATTACK_MAX_STEPS];
    ds_status st = conv_enum_list(c, &f->v, f->path, &t, DS_ATTACK_MAX_STEPS, v, &cfg->nsteps);
    for (int i = 0; !st && i < cfg->nsteps; i++) cfg->steps[i] = (ds_attack_kind)v[i];
    return st;
}

/* The knobs of an entry, in the order they are read; which kinds take which is
 * the table of kinds' (its extra keys), and a key that is a kind's variant or
 * strength axis is read as the axis (attack_axes) instead. */
#define ACFG(member) offsetof(ds_attack_cfg, member)
static const keydef attack_knobs[] = {
    {.key = "schemes", .type = KT_FN, .fn = attack_schemes},
    {.key = "seed", .type = KT_U64, .off = ACFG(seed)},
    {.key = "opt", .type = KT_FN, .fn = attack_opt}, /* before lr: it resets it */
    {.key = "lr", .type = KT_FLOAT, .range = DS_RANGE_LR, .off = ACFG(opt.lr)},
    {.key = "batch", .type = KT_INT, .range = DS_RANGE_BATCH, .off = ACFG(batch)},
    {.key = "data_fraction", .type = KT_REAL, .range = DS_RANGE_DATA_FRACTION, .off = ACFG(data_fraction)},
    {.key = "labels", .type = KT_ENUM, .off = ACFG(predicted_labels), .values = tab_labels},
    {.key = "layer", .type = KT_FN, .fn = attack_layer},
    {.key = "finetune_epochs", .type = KT_INT, .range = DS_RANGE_EPOCHS, .off = ACFG(epochs)},
    {.key = "bias", .type = KT_BOOL, .off = ACFG(prune_bias)},
    {.key = "bn", .type = KT_BOOL, .off = ACFG(prune_bn)},
    {.key = "targets", .type = KT_INT, .range = DS_RANGE_TARGETS, .off = ACFG(targets)},
    {.key = "epochs", .type = KT_INT, .range = DS_RANGE_EPOCHS_POS, .off = ACFG(epochs)},
    {.key = "steps", .type = KT_FN, .fn = attack_steps},
    {.key = "spread", .type = KT_REAL, .range = DS_RANGE_SPREAD, .off = ACFG(spread)},
    {.key = "neurons", .type = KT_INT, .range = DS_RANGE_NEURONS, .off = ACFG(neurons)},
    {.key = "dummy", .type = KT_ENUM, .off = ACFG(dummy), .values = tab_dummy_kinds},
};

static int is_axis_key(const ds_attack_info *info, const char *key)
{
    const char *axes[3] = {info->variant_key, info->strength.key, info->strength_wb.key};
    for (int i = 0; i < 3; i++)
        if (axes[i] && !strcmp(axes[i], key)) return 1;
    return 0;
}

static ds_status attack_knobs_read(const pctx *c, const ynode *m, const char *path, const ds_attack_info *info,
                                   ds_attack_cfg *cfg, attack_ctx *x)
{
    field f;
    ds_status st;
    for (int i = 0; i < NKEYS(attack_knobs); i++) {
        if (is_axis_key(info, attack_knobs[i].key)) continue;
        if ((st = get(c, m, path, attack_knobs[i].key, &f))) return st;
        if (f.found && (st = key_read(c, &attack_knobs[i], &f, cfg, x))) return st;
    }
    if (info->kind == DS_ATTACK_CHAIN && cfg->dummy == DS_DUMMY_CLIQUE && cfg->neurons < 2)
        return failf(c, DS_ERANGE, m->line, path, "neurons %d is too few for dummy clique (it adds at least 2)",
                     cfg->neurons);
    return DS_OK;
}

/* One axis: a list in x's range, or its default (one value) when absent; a
 * required axis refuses absence. */
static ds_status strength_list(const pctx *c, const ynode *m, const char *path, int line, const ds_attack_axis *x,
                               double def, double *vals, int *n)
{
    field f;
    ds_status st = get(c, m, path, x->key, &f);
    if (st) return st;
    if (!f.found) {
        if (x->required) return missing(c, line, path, x->key);
        vals[0] = def;
        *n = 1;
        return DS_OK;
    }
    ds_range r = {x->lo, x->hi, 0, x->hi_open, x->integer};
    return conv_num_list(c, &f.v, f.path, &r, DS_SPEC_MAX_LIST, vals, n);
}

/* The variant and strength lists of an attack entry, from the table of kinds:
 * absent, each is the default configuration's one value. */
static ds_status attack_axes(const pctx *c, const ynode *m, const char *path, const ds_attack_info *info,
                             const ds_attack_cfg *cfg, ds_spec_attack *a)
{
    int v0;
    double x0, xwb;
    info->get(cfg, DS_WM_BLACKBOX, &v0, &x0);
    info->get(cfg, DS_WM_WHITEBOX, &v0, &xwb);
    a->nvariants = 1;
    a->variants[0] = info->variant_key ? v0 : 0;
    field f;
    ds_status st;
    if (info->variant_key) {
        if ((st = get(c, m, path, info->variant_key, &f))) return st;
        etab t = tab_variants(info);
        if (f.found && (st = conv_enum_list(c, &f.v, f.path, &t, DS_SPEC_MAX_VARIANTS, a->variants, &a->nvariants)))
            return st;
    }
    if (!info->strength.key) { /* one cell, strength 0 */
        a->nstrengths = 1;
        a->strengths[0] = 0.0;
        return DS_OK;
    }
    st = strength_list(c, m, path, a->line, &info->strength, x0, a->strengths, &a->nstrengths);
    if (st || !info->strength_wb.key) return st;
    return strength_list(c, m, path, a->line, &info->strength_wb, xwb, a->strengths_wb, &a->nstrengths_wb);
}

/* dummy: the clique variant adds at least 2 neurons. */
static ds_status check_clique(const pctx *c, const ynode *m, const char *path, const ds_spec_attack *a)
{
    int clique = 0;
    for (int i = 0; i < a->nvariants; i++) clique |= a->variants[i] == DS_DUMMY_CLIQUE;
    for (int i = 0; clique && i < a->nstrengths; i++)
        if (a->strengths[i] < 2) {
            char p[PATH_LEN];
            field f;
            ynode e = *m;
            ds_status st = get(c, m, path, "neurons", &f);
            if (!st && f.found) st = element(c, &f.v, i, f.path, p, &e);
            if (st) return st;
            if (!f.found) path_key(p, path, "neurons");
            return failf(c, DS_ERANGE, e.line, p, "%g is too few for variant clique (it adds at least 2 neurons)",
                         a->strengths[i]);
        }
    return DS_OK;
}

/* An entry's kind, its keys checked against the kind's (unknown keys before a
 * missing kind are still the first fault). */
static ds_status attack_kind(const pctx *c, const ynode *m, const char *path, const ds_attack_info **info)
{
    const char *keys[MAX_ATTACK_KEYS + 1];
    field f;
    ds_status st = get(c, m, path, "kind", &f);
    if (st) return st;
    if (!f.found) {
        attack_keys_of(NULL, keys);
        if ((st = check_keys(c, m, path, keys, NULL))) return st;
        return missing(c, m->line, path, "kind");
    }
    etab kinds = tab_attack_kinds();
    int kind;
    if ((st = conv_enum(c, &f.v, f.path, &kinds, &kind))) return st;
    *info = ds_attack_info_of((ds_attack_kind)kind);
    attack_keys_of(*info, keys);
    char what[48];
    snprintf(what, sizeof what, "for kind %s", (*info)->name);
    return check_keys(c, m, path, keys, what);
}

static ds_status parse_attack(const pctx *c, const ynode *m, const char *path, const ds_spec *s,
                              ds_spec_attack *a)
{
    char d[96];
    ds_status st;
    if (m->type != Y_MAP)
        return failf(c, DS_EINVAL, m->line, path, "expected a mapping with a kind, got %s", describe(m, d, sizeof d));
    a->line = m->line;
    const ds_attack_info *info = NULL;
    if ((st = attack_kind(c, m, path, &info))) return st;
    ds_attack_cfg cfg = ds_attack_defaults(info->kind);
    cfg.kind = info->kind;
    cfg.layer = NULL;
    /* the marks it attacks: every enabled one unless `schemes` says */
    a->schemes = (s->wb.enabled ? 1u << DS_WM_WHITEBOX : 0) | (s->bb.enabled ? 1u << DS_WM_BLACKBOX : 0);
    attack_ctx x = {s, a};
    if ((st = attack_knobs_read(c, m, path, info, &cfg, &x))) return st;
    if ((st = attack_axes(c, m, path, info, &cfg, a))) return st;
    if (info->kind == DS_ATTACK_DUMMY && (st = check_clique(c, m, path, a))) return st;
    /* the entry's own configuration: its first variant and strength */
    info->set(&cfg, a->variants[0], a->strengths[0], DS_WM_BLACKBOX);
    if (a->nstrengths_wb) info->set(&cfg, a->variants[0], a->strengths_wb[0], DS_WM_WHITEBOX);
    cfg.scheme = ds_attack_defaults(cfg.kind).scheme;
    a->cfg = cfg;
    return DS_OK;
}

/* A value that must be a list: "expected a list of <what>, got ..." otherwise. */
static ds_status need_list(const pctx *c, const ynode *v, const char *path, const char *what)
{
    char d[96];
    if (v->type == Y_SEQ) return DS_OK;
    return failf(c, DS_EINVAL, v->line, path, "expected a list of %s, got %s", what, describe(v, d, sizeof d));
}

static ds_status root_attacks(const pctx *c, const field *af, void *obj, void *ctx)
{
    (void)ctx;
    ds_spec *s = obj;
    char p[PATH_LEN];
    const ynode *v = &af->v;
    if (v->type == Y_SCALAR && v->null) return DS_OK;
    ds_status st = need_list(c, v, af->path, "attacks");
    if (st) return st;
    if (v->n > DS_SPEC_MAX_ATTACKS)
        return failf(c, DS_ERANGE, v->line, af->path, "%d attacks, at most %d", v->n, DS_SPEC_MAX_ATTACKS);
    for (int i = 0; i < v->n; i++) {
        ynode e;
        if ((st = spec_item(&c->s, c->d, v, i, &e))) return st;
        if ((st = parse_attack(c, &e, path_index(p, af->path, i), s, &s->attacks[i]))) return st;
        s->nattacks = i + 1;
    }
    return DS_OK;
}

/* ---------------------------------------------------------------- the root */

static int valid_name(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > 63) return 0;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_' ||
              ch == '.' || ch == '-'))
            return 0;
    }
    return 1;
}

static ds_status name_check(const pctx *c, const field *f, void *obj, void *ctx)
{
    (void)ctx;
    const ds_spec *s = obj;
    char q[64];
    if (valid_name(s->name)) return DS_OK;
    return failf(c, DS_EINVAL, f->v.line, f->path, "%s is not a valid name (1 to 63 characters of A-Z a-z 0-9 _ . -)",
                 quoted(q, sizeof q, s->name));
}

static ds_status root_seeds(const pctx *c, const field *f, void *obj, void *ctx)
{
    (void)ctx;
    ds_spec *s = obj;
    char p[PATH_LEN];
    const ynode *v = &f->v;
    ds_status st = need_list(c, v, f->path, "seeds");
    if (st || (st = list_size(c, v, f->path, DS_SPEC_MAX_LIST, &s->nseeds))) return st;
    for (int i = 0; i < s->nseeds; i++) {
        ynode e;
        if ((st = element(c, v, i, f->path, p, &e))) return st;
        if ((st = conv_u64(c, &e, p, &s->seeds[i]))) return st;
        for (int j = 0; j < i; j++)
            if (s->seeds[j] == s->seeds[i])
                return failf(c, DS_EINVAL, e.line, p, "%s is listed twice (also at %s[%d])", e.text, f->path, j);
    }
    return DS_OK;
}

static const keydef root_keys[] = {
    {.key = "name", .type = KT_STR, .off = offsetof(ds_spec, name), .aux = sizeof(((ds_spec *)0)->name),
     .fn = name_check, .flags = K_REQUIRED},
    {.key = "seed", .type = KT_U64, .off = offsetof(ds_spec, seed)},
    {.key = "data", .type = KT_SECTION, .sub = &data_section},
    {.key = "model", .type = KT_SECTION, .sub = &model_section, .flags = K_REQUIRED},
    {.key = "train", .type = KT_SECTION, .off = offsetof(ds_spec, train), .sub = &train_section},
    {.key = "seeds", .type = KT_FN, .fn = root_seeds, .flags = K_REQUIRED},
    {.key = "nulls", .type = KT_INT, .range = DS_RANGE_NULLS, .off = offsetof(ds_spec, nulls)},
    {.key = "watermarks", .type = KT_SECTION, .sub = &watermarks_section, .flags = K_REQUIRED},
    {.key = "attacks", .type = KT_FN, .fn = root_attacks},
};
static const section root_section = {NULL, 0, root_keys, NKEYS(root_keys), NULL};

static void spec_defaults(ds_spec *s)
{
    s->seed = 0;
    snprintf(s->data_dir, sizeof s->data_dir, "%s", DS_DEFAULT_DATA_DIR);
    snprintf(s->data_dir_text, sizeof s->data_dir_text, "%s", DS_DEFAULT_DATA_DIR);
    s->data_format = DS_FORMAT_AUTO;
    s->dropout = -1.0f;
    s->train.epochs = 5;
    s->train.batch = 128;
    s->train.opt = ds_optim_defaults(DS_OPT_SGD);
    s->train.opt.lr = 0.05f;
    s->train.opt.momentum = 0.9f;
    s->train.opt.sched = DS_SCHED_COSINE;
    /* the marks' defaults are the library's (and so the CLI's): one default per setting */
    const ds_wb_opts wb = ds_wb_defaults();
    const ds_bb_opts bb = ds_bb_defaults();
    s->wb.nbits = 1;
    s->wb.bits[0] = wb.N;
    s->wb.targets = wb.s;
    s->wb.lambda = wb.lambda2;
    s->wb.lambda1 = wb.lambda1;
    s->wb.epochs = 2;
    s->wb.lr = 0.01f;
    s->wb.keys_per_class = wb.keys_per_class;
    s->bb.nkeys = 1;
    s->bb.keys[0] = bb.K;
    s->bb.alpha = bb.alpha;
    s->bb.epochs = bb.epochs;
    s->bb.lr = bb.lr;
}

/* ================================================================ public */

/* 1-based line of text[off]. */
static int line_at(const char *text, size_t off)
{
    int line = 1;
    for (size_t i = 0; i < off; i++) line += text[i] == '\n';
    return line;
}

/* Offset of the first byte of text[0..len) that does not start a well-formed UTF-8
 * sequence (no overlong forms, no surrogates, nothing above U+10FFFF), or len. */
static size_t utf8_first_invalid(const char *text, size_t len)
{
    const unsigned char *s = (const unsigned char *)text;
    size_t i = 0;
    while (i < len) {
        unsigned char b = s[i];
        size_t more;
        unsigned char lo = 0x80, hi = 0xBF; /* range of the second byte */
        if (b < 0x80) {
            i++;
            continue;
        } else if (b >= 0xC2 && b <= 0xDF) {
            more = 1;
        } else if (b >= 0xE0 && b <= 0xEF) {
            more = 2;
            if (b == 0xE0) lo = 0xA0;      /* overlong */
            if (b == 0xED) hi = 0x9F;      /* surrogates */
        } else if (b >= 0xF0 && b <= 0xF4) {
            more = 3;
            if (b == 0xF0) lo = 0x90;      /* overlong */
            if (b == 0xF4) hi = 0x8F;      /* above U+10FFFF */
        } else {
            return i;
        }
        if (len - i <= more || s[i + 1] < lo || s[i + 1] > hi) return i;
        for (size_t k = 2; k <= more; k++)
            if (s[i + k] < 0x80 || s[i + k] > 0xBF) return i;
        i += more + 1;
    }
    return len;
}

/* A NUL-terminated copy of text[0..len) (text may be NULL when len is 0). */
static char *copy_text(const char *text, size_t len)
{
    char *s = malloc(len + 1);
    if (!s) return NULL;
    if (len) memcpy(s, text, len);
    s[len] = '\0';
    return s;
}

/* The document's root, a mapping, read as a spec into out. */
static ds_status spec_read(const pctx *c, const char *text, size_t len, ds_spec *out)
{
    spec_doc doc;
    int empty_line = 0;
    ds_status st = spec_doc_load(&c->s, text, len, &doc, &empty_line);
    if (st) return st;
    if (empty_line)
        return failf(c, DS_EFORMAT, empty_line, NULL,
                     "empty document (expected a mapping with name, model, seeds and watermarks)");
    pctx r = {c->s, &doc};
    ynode root;
    st = spec_root(&r.s, &doc, &root);
    if (!st && root.type == Y_SCALAR && root.null)
        st = failf(c, DS_EFORMAT, root.line, NULL,
                   "empty document (expected a mapping with name, model, seeds and watermarks)");
    else if (!st && root.type != Y_MAP) {
        char d[96];
        st = failf(c, DS_EFORMAT, root.line, NULL,
                   "the document is %s (expected a mapping with name, model, seeds and watermarks)",
                   describe(&root, d, sizeof d));
    }
    if (!st) {
        spec_defaults(out);
        st = section_read(&r, &root, "", root.line, &root_section, out, NULL);
    }
    spec_doc_free(&doc);
    return st;
}

/* Parse text (a malloc'd buffer of len bytes + NUL, owned from here on) into out. */
static ds_status spec_parse_owned(char *text, size_t len, const char *name, ds_spec *out, ds_err *err)
{
    pctx c = {{name, err}, NULL};
    out->text = text;
    ds_status st = DS_OK;
    if (strlen(name) >= sizeof out->path) {
        st = ds_err_set(err, DS_EINVAL, "%.64s...: spec path too long (at most %zu bytes)", name,
                        sizeof out->path - 1);
        goto done;
    }
    snprintf(out->path, sizeof out->path, "%s", name);
    const char *nul = memchr(text, '\0', len);
    if (nul) {
        st = failf(&c, DS_EFORMAT, line_at(text, (size_t)(nul - text)), NULL,
                   "NUL byte in the text (a spec is a YAML text file)");
        goto done;
    }
    /* libfyaml 0.7 can loop forever on invalid UTF-8 (in a directive name, found by fuzzing) */
    size_t bad = utf8_first_invalid(text, len);
    if (bad < len) {
        st = failf(&c, DS_EFORMAT, line_at(text, bad), NULL,
                   "invalid UTF-8 (byte 0x%02x at offset %zu; a spec is a UTF-8 text file)",
                   (unsigned char)text[bad], bad);
        goto done;
    }
    st = spec_read(&c, text, len, out);
done:
    if (st) {
        ds_spec_free(out);
        memset(out, 0, sizeof *out);
    }
    return st;
}

ds_status ds_spec_parse(const char *text, size_t len, const char *name, ds_spec *out, ds_err *err)
{
    if (!out) return ds_err_set(err, DS_EINVAL, "ds_spec_parse: no output spec");
    memset(out, 0, sizeof *out);
    if (!name) name = "<spec>";
    if (!text && len) return ds_err_set(err, DS_EINVAL, "%s: no text", name);
    if (len > SPEC_MAX_BYTES)
        return ds_err_set(err, DS_ERANGE, "%s: %zu bytes, more than a spec may have (%zu)", name, len,
                          SPEC_MAX_BYTES);
    char *copy = copy_text(text, len);
    if (!copy) return ds_err_set(err, DS_ENOMEM, "%s: out of memory for the spec text", name);
    return spec_parse_owned(copy, len, name, out, err);
}

ds_status ds_spec_load(const char *path, ds_spec *out, ds_err *err)
{
    if (!out) return ds_err_set(err, DS_EINVAL, "ds_spec_load: no output spec");
    memset(out, 0, sizeof *out);
    if (!path) return ds_err_set(err, DS_EINVAL, "ds_spec_load: no path");
    ds_status reg = ds_io_check_regular(path, err);
    if (reg) return reg;
    FILE *f = fopen(path, "rb");
    if (!f) return ds_err_set(err, DS_EIO, "%s: cannot open: %s", path, strerror(errno));
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap + 1);
    if (!buf) {
        fclose(f);
        return ds_err_set(err, DS_ENOMEM, "%s: out of memory for the spec text", path);
    }
    for (;;) {
        if (n == cap) {
            if (cap > SPEC_MAX_BYTES) {
                free(buf);
                fclose(f);
                return ds_err_set(err, DS_ERANGE, "%s: larger than a spec may be (%zu bytes)", path,
                                  SPEC_MAX_BYTES);
            }
            char *nb = realloc(buf, 2 * cap + 1);
            if (!nb) {
                free(buf);
                fclose(f);
                return ds_err_set(err, DS_ENOMEM, "%s: out of memory for the spec text", path);
            }
            buf = nb;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0) break;
    }
    if (ferror(f)) {
        int e = errno;
        free(buf);
        fclose(f);
        return ds_err_set(err, DS_EIO, "%s: cannot read: %s", path, strerror(e));
    }
    fclose(f);
    if (n > SPEC_MAX_BYTES) {
        free(buf);
        return ds_err_set(err, DS_ERANGE, "%s: larger than a spec may be (%zu bytes)", path,
                          SPEC_MAX_BYTES);
    }
    buf[n] = '\0';
    return spec_parse_owned(buf, n, path, out, err);
}

void ds_spec_free(ds_spec *s)
{
    if (!s) return;
    free(s->text);
    s->text = NULL;
}
