/* spec.c - experiment specs: a YAML file read with libfyaml into a validated ds_spec.
 *
 * Two passes. First libfyaml's event parser turns the text into a small tree of
 * our own that records the line of every node (libfyaml 0.7 has no public way
 * to ask a document node for its position); its diagnostics are collected, not
 * printed, and the first error becomes "<file>:<line>: YAML syntax error: ...".
 * Anchors and aliases work (an alias shares the anchored node); tags and a
 * second document are refused. Then the tree is walked against the schema
 * (docs/spec.md): every mapping's keys are checked for unknown names and
 * repeats in document order, every scalar is converted strictly (a number is a
 * plain scalar consumed whole, finite, integral where an integer is expected)
 * and range-checked. Every refusal reads "<file>:<line>: <key path>: <what was
 * wrong> (<what was expected>)".
 */
#include "deepsigns/spec.h"

#include <errno.h>
#include <libfyaml.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deepsigns/wm.h"
#include "io/untrusted.h" /* ds_io_check_regular */

#define SPEC_MAX_BYTES ((size_t)1 << 20) /* a spec is a few hundred bytes; refuse a huge file */
#define SPEC_MAX_DEPTH 32                 /* the schema nests 4 deep */
#define PATH_LEN 192                      /* "attacks[31].strengths[63]" and some */

/* ================================================================ the node tree */

typedef enum ytype { Y_SCALAR, Y_MAP, Y_SEQ } ytype;

typedef struct ynode {
    ytype type;
    int line;               /* 1-based */
    int plain;              /* scalar: plain style (can be a number, a boolean or null) */
    int null;               /* scalar: plain and empty, ~ or null */
    char *text;             /* scalar: NUL-terminated copy of the value */
    size_t len;
    struct ynode **kids;    /* map: key, value, key, value, ...; seq: the items */
    int nkids, cap;
    struct ynode *next;     /* chain of every node of the tree, for freeing */
} ynode;

typedef struct yanchor {
    char *name;
    ynode *node;
} yanchor;

typedef struct ytree {
    ynode *root;
    ynode *all;
    yanchor *anchors;
    int nanchors, capanchors;
    ynode *stack[SPEC_MAX_DEPTH];
    char *stack_anchor[SPEC_MAX_DEPTH]; /* anchor of an open collection, registered when it closes */
    int depth;
    int ndocs;
    int last_line;          /* line of the last event that had a position */
    int done;               /* stream end seen */
} ytree;

static void ytree_free(ytree *t)
{
    for (ynode *n = t->all, *next; n; n = next) {
        next = n->next;
        free(n->text);
        free(n->kids);
        free(n);
    }
    for (int i = 0; i < t->nanchors; i++) free(t->anchors[i].name);
    free(t->anchors);
    for (int i = 0; i < t->depth; i++) free(t->stack_anchor[i]);
    memset(t, 0, sizeof *t);
}

/* The context of a parse: the name used in messages and the error to fill. */
typedef struct pctx {
    const char *file;
    ds_err *err;
} pctx;

static ds_status failf(const pctx *c, ds_status code, int line, const char *path, const char *fmt,
                       ...) __attribute__((format(printf, 5, 6)));

static ds_status failf(const pctx *c, ds_status code, int line, const char *path, const char *fmt,
                       ...)
{
    char what[DS_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    if (path && *path) return ds_err_set(c->err, code, "%s:%d: %s: %s", c->file, line, path, what);
    return ds_err_set(c->err, code, "%s:%d: %s", c->file, line, what);
}

static ds_status nomem(const pctx *c)
{
    return ds_err_set(c->err, DS_ENOMEM, "%s: out of memory while reading the spec", c->file);
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

static ynode *node_new(ytree *t, ytype type, int line)
{
    ynode *n = calloc(1, sizeof *n);
    if (!n) return NULL;
    n->type = type;
    n->line = line;
    n->next = t->all;
    t->all = n;
    return n;
}

static int event_line(ytree *t, struct fy_event *ev)
{
    const struct fy_mark *m = fy_event_start_mark(ev);
    if (m) t->last_line = m->line + 1;
    return t->last_line;
}

/* Hang a finished node under the open collection (or make it the root). */
static ds_status attach(const pctx *c, ytree *t, ynode *n)
{
    if (t->depth == 0) {
        t->root = n;
        return DS_OK;
    }
    ynode *p = t->stack[t->depth - 1];
    if (p->nkids == p->cap) {
        int cap = p->cap ? 2 * p->cap : 8;
        ynode **k = realloc(p->kids, (size_t)cap * sizeof *k);
        if (!k) return nomem(c);
        p->kids = k;
        p->cap = cap;
    }
    p->kids[p->nkids++] = n;
    return DS_OK;
}

static ds_status add_anchor(const pctx *c, ytree *t, char *name, ynode *n)
{
    if (!name) return DS_OK;
    if (t->nanchors == t->capanchors) {
        int cap = t->capanchors ? 2 * t->capanchors : 8;
        yanchor *a = realloc(t->anchors, (size_t)cap * sizeof *a);
        if (!a) {
            free(name);
            return nomem(c);
        }
        t->anchors = a;
        t->capanchors = cap;
    }
    t->anchors[t->nanchors].name = name;
    t->anchors[t->nanchors].node = n;
    t->nanchors++;
    return DS_OK;
}

/* A copy of a token's text; *out is NULL when tok is NULL. */
static ds_status token_copy(const pctx *c, struct fy_token *tok, char **out, size_t *lenp)
{
    *out = NULL;
    if (lenp) *lenp = 0;
    if (!tok) return DS_OK;
    size_t len = 0;
    const char *s = fy_token_get_text(tok, &len);
    if (!s) len = 0;
    *out = copy_text(s, len);
    if (!*out) return nomem(c);
    if (lenp) *lenp = len;
    return DS_OK;
}

static int is_null_word(const char *s)
{
    return !*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") || !strcmp(s, "NULL");
}

static ds_status refuse_tag(const pctx *c, int line, struct fy_token *tag)
{
    if (!tag) return DS_OK;
    size_t len = 0;
    const char *s = fy_token_get_text(tag, &len);
    return failf(c, DS_EFORMAT, line, NULL, "YAML tag '%.*s' is not supported (write plain values)",
                 s ? (int)(len > 40 ? 40 : len) : 0, s ? s : "");
}

static ds_status on_event(const pctx *c, ytree *t, struct fy_event *ev)
{
    int line = event_line(t, ev);
    ds_status st;
    switch (ev->type) {
    case FYET_STREAM_END:
        t->done = 1;
        return DS_OK;
    case FYET_DOCUMENT_START:
        if (++t->ndocs > 1)
            return failf(c, DS_EFORMAT, line, NULL,
                         "a second YAML document (a spec is exactly one document)");
        return DS_OK;
    case FYET_SCALAR: {
        if ((st = refuse_tag(c, line, ev->scalar.tag))) return st;
        ynode *n = node_new(t, Y_SCALAR, line);
        if (!n) return nomem(c);
        if ((st = token_copy(c, ev->scalar.value, &n->text, &n->len))) return st;
        if (!n->text && !(n->text = copy_text(NULL, 0))) return nomem(c);
        n->plain = !ev->scalar.value || fy_token_scalar_style(ev->scalar.value) == FYSS_PLAIN;
        n->null = n->plain && is_null_word(n->text);
        char *anchor;
        if ((st = token_copy(c, ev->scalar.anchor, &anchor, NULL))) return st;
        if ((st = add_anchor(c, t, anchor, n))) return st;
        return attach(c, t, n);
    }
    case FYET_MAPPING_START:
    case FYET_SEQUENCE_START: {
        int map = ev->type == FYET_MAPPING_START;
        struct fy_token *tag = map ? ev->mapping_start.tag : ev->sequence_start.tag;
        struct fy_token *anchor = map ? ev->mapping_start.anchor : ev->sequence_start.anchor;
        if ((st = refuse_tag(c, line, tag))) return st;
        if (t->depth == SPEC_MAX_DEPTH)
            return failf(c, DS_EFORMAT, line, NULL, "nested more than %d levels deep",
                         SPEC_MAX_DEPTH);
        ynode *n = node_new(t, map ? Y_MAP : Y_SEQ, line);
        if (!n) return nomem(c);
        char *name;
        if ((st = token_copy(c, anchor, &name, NULL))) return st;
        t->stack[t->depth] = n;
        t->stack_anchor[t->depth] = name;
        t->depth++;
        return DS_OK;
    }
    case FYET_MAPPING_END:
    case FYET_SEQUENCE_END: {
        if (t->depth == 0) return failf(c, DS_EFORMAT, line, NULL, "YAML syntax error: unbalanced end");
        t->depth--;
        ynode *n = t->stack[t->depth];
        char *name = t->stack_anchor[t->depth];
        t->stack_anchor[t->depth] = NULL;
        if ((st = add_anchor(c, t, name, n))) return st;
        return attach(c, t, n);
    }
    case FYET_ALIAS: {
        size_t len = 0;
        const char *s = ev->alias.anchor ? fy_token_get_text(ev->alias.anchor, &len) : NULL;
        if (!s) len = 0;
        for (int i = t->nanchors - 1; i >= 0; i--)
            if (strlen(t->anchors[i].name) == len && !memcmp(t->anchors[i].name, s, len))
                return attach(c, t, t->anchors[i].node);
        return failf(c, DS_EFORMAT, line, NULL, "alias *%.*s names no complete anchor before it",
                     (int)(len > 40 ? 40 : len), s ? s : "");
    }
    default:
        return DS_OK;
    }
}

static void diag_discard(struct fy_diag *diag, void *user, const char *buf, size_t len)
{
    (void)diag, (void)user, (void)buf, (void)len;
}

/* The first error libfyaml collected, as a syntax error message. */
static ds_status syntax_error(const pctx *c, struct fy_diag *diag, int fallback_line)
{
    void *it = NULL;
    struct fy_diag_error *e;
    while ((e = fy_diag_errors_iterate(diag, &it)))
        if (e->type >= FYET_ERROR)
            return failf(c, DS_EFORMAT, e->line > 0 ? e->line : fallback_line, NULL,
                         "YAML syntax error: %s", e->msg ? e->msg : "(no detail)");
    return failf(c, DS_EFORMAT, fallback_line, NULL, "YAML syntax error");
}

static ds_status ytree_build(const pctx *c, const char *text, size_t len, ytree *t)
{
    memset(t, 0, sizeof *t);
    t->last_line = 1;
    struct fy_diag_cfg dcfg;
    fy_diag_cfg_default(&dcfg);
    dcfg.fp = NULL;
    dcfg.output_fn = diag_discard;
    dcfg.colorize = false;
    struct fy_diag *diag = fy_diag_create(&dcfg);
    if (!diag) return ds_err_set(c->err, DS_ELIB, "%s: libfyaml: cannot create a diagnostic object", c->file);
    fy_diag_set_collect_errors(diag, true);
    struct fy_parse_cfg pcfg = {.search_path = NULL,
                                .flags = FYPCF_QUIET | FYPCF_COLLECT_DIAG,
                                .userdata = NULL,
                                .diag = diag};
    struct fy_parser *p = fy_parser_create(&pcfg);
    if (!p) {
        fy_diag_destroy(diag);
        return ds_err_set(c->err, DS_ELIB, "%s: libfyaml: cannot create a parser", c->file);
    }
    ds_status st = DS_OK;
    if (fy_parser_set_string(p, text, len) != 0)
        st = ds_err_set(c->err, DS_ELIB, "%s: libfyaml: cannot set the input", c->file);
    while (!st) {
        struct fy_event *ev = fy_parser_parse(p);
        if (!ev) break;
        st = on_event(c, t, ev);
        fy_parser_event_free(p, ev);
    }
    if (!st && (fy_parser_get_stream_error(p) || !t->done))
        st = syntax_error(c, diag, t->last_line);
    fy_parser_destroy(p);
    fy_diag_destroy(diag);
    if (st) ytree_free(t);
    return st;
}

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
static ds_status check_keys(const pctx *c, const ynode *map, const char *path,
                            const char *const *keys, const char *what)
{
    char p[PATH_LEN], d[96], list[384];
    for (int i = 0; i + 1 < map->nkids; i += 2) {
        const ynode *k = map->kids[i];
        if (k->type != Y_SCALAR || k->null)
            return failf(c, DS_EFORMAT, k->line, path, "a key must be a name, got %s",
                         describe(k, d, sizeof d));
        int known = 0;
        for (int j = 0; keys[j] && !known; j++) known = key_is(k, keys[j]);
        path_key(p, path, k->text);
        if (!known)
            return failf(c, DS_EINVAL, k->line, p, "unknown key%s%s (expected %s)", what ? " " : "",
                         what ? what : "", name_list(list, sizeof list, keys));
        for (int j = 0; j < i; j += 2)
            if (map->kids[j]->len == k->len && !memcmp(map->kids[j]->text, k->text, k->len))
                return failf(c, DS_EFORMAT, k->line, p, "duplicate key (first on line %d)",
                             map->kids[j]->line);
    }
    return DS_OK;
}

/* A key's value within a checked mapping; NULL if absent. */
typedef struct field {
    const ynode *v;
    int kline;              /* line of the key */
    char path[PATH_LEN];
} field;

static int get(const ynode *map, const char *mpath, const char *key, field *f)
{
    for (int i = 0; i + 1 < map->nkids; i += 2)
        if (key_is(map->kids[i], key)) {
            f->v = map->kids[i + 1];
            f->kline = map->kids[i]->line;
            path_key(f->path, mpath, key);
            return 1;
        }
    f->v = NULL;
    return 0;
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
    return failf(c, DS_EINVAL, v->line, path, "expected %s, got %s", expected,
                 describe(v, d, sizeof d));
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

/* A real number in the range r; unbounded above when hi is HUGE_VAL. */
typedef struct range {
    double lo, hi;
    int lo_open, hi_open;
} range;

static const char *range_text(char *buf, size_t size, const range *r)
{
    if (r->hi == HUGE_VAL)
        snprintf(buf, size, "(expected %s %g)", r->lo_open ? ">" : ">=", r->lo);
    else
        snprintf(buf, size, "%s%g, %g%s", r->lo_open ? "(" : "[", r->lo, r->hi, r->hi_open ? ")" : "]");
    return buf;
}

static ds_status conv_real(const pctx *c, const ynode *v, const char *path, const range *r,
                           double *out)
{
    char d[96], rt[64];
    double x = 0.0;
    numres nr = scan_real(v, &x);
    if (nr == NUM_NONFINITE)
        return failf(c, DS_EINVAL, v->line, path, "expected a finite number, got %s",
                     describe(v, d, sizeof d));
    if (nr != NUM_OK)
        return failf(c, DS_EINVAL, v->line, path, "expected a number, got %s", describe(v, d, sizeof d));
    if (x < r->lo || (r->lo_open && x == r->lo) || x > r->hi || (r->hi_open && x == r->hi)) {
        range_text(rt, sizeof rt, r);
        return failf(c, DS_ERANGE, v->line, path, "%s is out of range %s", v->text, rt);
    }
    *out = x;
    return DS_OK;
}

static ds_status conv_float(const pctx *c, const ynode *v, const char *path, const range *r,
                            float *out)
{
    double x;
    ds_status st = conv_real(c, v, path, r, &x);
    if (!st) *out = (float)x;
    return st;
}

/* An integer: plain digits with an optional sign, or an integral decimal (1e3, 5.0). */
static ds_status conv_int(const pctx *c, const ynode *v, const char *path, long long lo,
                          long long hi, long long *out)
{
    char d[96];
    int digits_only = 0;
    long long x = 0;
    int in_range = 1;
    if (v->type == Y_SCALAR && v->plain && !v->null && is_decimal(v->text, &digits_only) &&
        digits_only) {
        char *end;
        errno = 0;
        x = strtoll(v->text, &end, 10);
        if (*end) goto not_int;
        if (errno == ERANGE) in_range = 0;
    } else {
        double r;
        numres nr = scan_real(v, &r);
        if (nr != NUM_OK || r != floor(r)) goto not_int;
        if (r < -9.0e18 || r > 9.0e18)
            in_range = 0;
        else
            x = (long long)r;
    }
    if (!in_range || x < lo || x > hi)
        return failf(c, DS_ERANGE, v->line, path, "%s is out of range [%lld, %lld]", v->text, lo, hi);
    *out = x;
    return DS_OK;
not_int:
    return failf(c, DS_EINVAL, v->line, path, "expected an integer, got %s", describe(v, d, sizeof d));
}

static ds_status conv_i32(const pctx *c, const ynode *v, const char *path, int lo, int hi, int *out)
{
    long long x;
    ds_status st = conv_int(c, v, path, lo, hi, &x);
    if (!st) *out = (int)x;
    return st;
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
            return failf(c, DS_ERANGE, v->line, path,
                         "%s is negative (expected an unsigned integer)", v->text);
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
                             "%s is too large to be exact as a decimal (write all the digits)",
                             v->text);
            *out = (uint64_t)r;
            return DS_OK;
        }
    }
    return failf(c, DS_EINVAL, v->line, path, "expected an unsigned integer, got %s",
                 describe(v, d, sizeof d));
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
    if (strlen(v->text) != v->len)
        return failf(c, DS_EINVAL, v->line, path, "contains a NUL character");
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
    return failf(c, DS_EINVAL, v->line, path, "unknown value %s (expected %s)",
                 quoted(d, sizeof d, v->text), name_list(list, sizeof list, t->names));
}

static etab tab_attack_kinds(void)
{
    etab t = {0};
    for (int i = 0; i < ds_attack_kind_count(); i++)
        etab_add(&t, ds_attack_info_at(i)->name, (int)ds_attack_info_at(i)->kind);
    return t;
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
    for (int k = DS_SCHED_CONST; k <= DS_SCHED_COSINE; k++)
        etab_add(&t, ds_sched_kind_name((ds_sched_kind)k), k);
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
    etab_add(&t, "mnist-mlp", 0);
    etab_add(&t, "mnist-cnn", 1);
    etab_add(&t, "cifar10-cnn", 2);
    etab_add(&t, "cifar10-wrn", 3);
    return t;
}

/* ---------------------------------------------------------------- lists */

/* The i-th element of a value that is a list or a single scalar. */
static const ynode *element(const ynode *v, int i, const char *path, char *buf)
{
    if (v->type != Y_SEQ) {
        snprintf(buf, PATH_LEN, "%s", path);
        return v;
    }
    path_index(buf, path, i);
    return v->kids[i];
}

static ds_status list_size(const pctx *c, const ynode *v, const char *path, int max, int *n)
{
    if (v->type != Y_SEQ) {
        *n = 1;
        return DS_OK;
    }
    if (v->nkids == 0)
        return failf(c, DS_EINVAL, v->line, path, "empty list (expected 1 to %d values)", max);
    if (v->nkids > max)
        return failf(c, DS_ERANGE, v->line, path, "%d values, at most %d", v->nkids, max);
    *n = v->nkids;
    return DS_OK;
}

/* What the numbers of a list are: integers in [lo, hi], or reals in r. */
typedef struct numspec {
    int integer;
    long long lo, hi;
    range r;
} numspec;

/* A number or a list of distinct numbers into vals[0..*n), at most max. */
static ds_status conv_num_list(const pctx *c, const ynode *v, const char *path, const numspec *ns,
                               int max, double *vals, int *n)
{
    char d[96], p[PATH_LEN];
    ds_status st;
    if (v->type == Y_MAP || (v->type == Y_SCALAR && v->null))
        return failf(c, DS_EINVAL, v->line, path, "expected %s or a list of them, got %s",
                     ns->integer ? "an integer" : "a number", describe(v, d, sizeof d));
    int cnt = 0;
    if ((st = list_size(c, v, path, max, &cnt))) return st;
    for (int i = 0; i < cnt; i++) {
        const ynode *e = element(v, i, path, p);
        if (ns->integer) {
            long long x;
            if ((st = conv_int(c, e, p, ns->lo, ns->hi, &x))) return st;
            vals[i] = (double)x;
        } else if ((st = conv_real(c, e, p, &ns->r, &vals[i]))) {
            return st;
        }
        for (int j = 0; j < i; j++)
            if (vals[j] == vals[i])
                return failf(c, DS_EINVAL, e->line, p, "%s is listed twice (also at %s[%d])",
                             e->text, path, j);
    }
    *n = cnt;
    return DS_OK;
}

/* A name or a list of distinct names from t into vals[0..*n), at most max. */
static ds_status conv_enum_list(const pctx *c, const ynode *v, const char *path, const etab *t,
                                int max, int *vals, int *n)
{
    char d[96], p[PATH_LEN];
    ds_status st;
    if (v->type == Y_MAP || (v->type == Y_SCALAR && v->null))
        return failf(c, DS_EINVAL, v->line, path, "expected a name or a list of names, got %s",
                     describe(v, d, sizeof d));
    int cnt = 0;
    if ((st = list_size(c, v, path, max, &cnt))) return st;
    for (int i = 0; i < cnt; i++) {
        const ynode *e = element(v, i, path, p);
        if ((st = conv_enum(c, e, p, t, &vals[i]))) return st;
        for (int j = 0; j < i; j++)
            if (vals[j] == vals[i])
                return failf(c, DS_EINVAL, e->line, p, "%s is listed twice (also at %s[%d])",
                             quoted(d, sizeof d, e->text), path, j);
    }
    *n = cnt;
    return DS_OK;
}

/* ================================================================ sections */

static const range R_POS = {0.0, DS_LR_MAX, 1, 0};    /* learning rates (0, 10] */
static const range R_NONNEG = {0.0, HUGE_VAL, 0, 0};  /* >= 0 */
static const range R_UNIT_CO = {0.0, 1.0, 0, 1};      /* [0, 1) */
static const range R_MOMENTUM = {0.0, DS_MOMENTUM_MAX, 0, 1}; /* [0, 1) */
static const range R_UNIT_OC = {0.0, 1.0, 1, 0};      /* (0, 1] */
static const range R_UNIT_OO = {0.0, 1.0, 1, 1};      /* (0, 1) */

static int valid_name(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > 63) return 0;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
              ch == '_' || ch == '.' || ch == '-'))
            return 0;
    }
    return 1;
}

static ds_status parse_data(const pctx *c, const ynode *m, const char *path, ds_spec *s)
{
    static const char *const keys[] = {"dir", "format", "train_limit", "test_limit", NULL};
    ds_status st;
    field f;
    if ((st = need_map(c, m, path, "a mapping of dir, format, train_limit, test_limit"))) return st;
    if (m->type != Y_MAP) return DS_OK;
    if ((st = check_keys(c, m, path, keys, NULL))) return st;
    if (get(m, path, "dir", &f)) {
        if ((st = conv_str(c, f.v, f.path, s->data_dir, sizeof s->data_dir))) return st;
        if (!s->data_dir[0]) return failf(c, DS_EINVAL, f.v->line, f.path, "empty (expected a directory)");
        memcpy(s->data_dir_text, s->data_dir, sizeof s->data_dir_text);
        /* a relative directory is the spec file's neighbour, wherever the sweep runs */
        const char *slash = c->file ? strrchr(c->file, '/') : NULL;
        if (s->data_dir[0] != '/' && slash) {
            char rel[sizeof s->data_dir];
            memcpy(rel, s->data_dir, sizeof rel);
            int k = snprintf(s->data_dir, sizeof s->data_dir, "%.*s/%s", (int)(slash - c->file), c->file, rel);
            if (k < 0 || (size_t)k >= sizeof s->data_dir)
                return failf(c, DS_ERANGE, f.v->line, f.path, "too long once joined to the spec's directory");
        }
    }
    if (get(m, path, "format", &f)) {
        etab t = tab_formats();
        int v;
        if ((st = conv_enum(c, f.v, f.path, &t, &v))) return st;
        s->data_format = (ds_data_format)v;
    }
    long long x;
    if (get(m, path, "train_limit", &f)) {
        if ((st = conv_int(c, f.v, f.path, 0, 1000000000, &x))) return st;
        s->train_limit = (size_t)x;
    }
    if (get(m, path, "test_limit", &f)) {
        if ((st = conv_int(c, f.v, f.path, 0, 1000000000, &x))) return st;
        s->test_limit = (size_t)x;
    }
    return DS_OK;
}

static ds_status parse_model(const pctx *c, const ynode *m, const char *path, int line, ds_spec *s)
{
    static const char *const keys[] = {"arch", "hidden", "dropout", "depth", "widen", NULL};
    ds_status st;
    field f;
    if ((st = need_map(c, m, path, "a mapping with arch"))) return st;
    if (m->type == Y_MAP && (st = check_keys(c, m, path, keys, NULL))) return st;
    if (m->type != Y_MAP || !get(m, path, "arch", &f)) return missing(c, line, path, "arch");
    etab archs = tab_archs();
    int a;
    if ((st = conv_enum(c, f.v, f.path, &archs, &a))) return st;
    snprintf(s->arch.name, sizeof s->arch.name, "%s", archs.names[a]);
    int mlp = !strcmp(s->arch.name, "mnist-mlp"), wrn = !strcmp(s->arch.name, "cifar10-wrn");
    if (get(m, path, "hidden", &f)) {
        if (!mlp)
            return failf(c, DS_EINVAL, f.kline, f.path, "applies to arch mnist-mlp only (arch is %s)",
                         s->arch.name);
        if ((st = conv_i32(c, f.v, f.path, DS_ARCH_HIDDEN_MIN, DS_ARCH_HIDDEN_MAX, &s->hidden))) return st;
    }
    if (get(m, path, "dropout", &f) && (st = conv_float(c, f.v, f.path, &R_UNIT_CO, &s->dropout)))
        return st;
    if (get(m, path, "depth", &f)) {
        if (!wrn)
            return failf(c, DS_EINVAL, f.kline, f.path, "applies to arch cifar10-wrn only (arch is %s)",
                         s->arch.name);
        if ((st = conv_i32(c, f.v, f.path, DS_ARCH_DEPTH_MIN, DS_ARCH_DEPTH_MAX, &s->depth))) return st;
        if ((s->depth - 4) % 6)
            return failf(c, DS_ERANGE, f.v->line, f.path, "%d is not of the form 6n+4 (10, 16, 22, 28, ...)",
                         s->depth);
    }
    if (get(m, path, "widen", &f)) {
        if (!wrn)
            return failf(c, DS_EINVAL, f.kline, f.path, "applies to arch cifar10-wrn only (arch is %s)",
                         s->arch.name);
        if ((st = conv_i32(c, f.v, f.path, DS_ARCH_WIDEN_MIN, DS_ARCH_WIDEN_MAX, &s->widen))) return st;
    }
    return DS_OK;
}

/* opt (an optimizer name) replacing o by that optimizer's defaults, keeping its schedule. */
static ds_status set_opt(const pctx *c, const field *f, ds_optim_cfg *o)
{
    etab t = tab_opt_kinds();
    int k;
    ds_status st = conv_enum(c, f->v, f->path, &t, &k);
    if (st) return st;
    ds_optim_cfg n = ds_optim_defaults((ds_opt_kind)k);
    n.sched = o->sched;
    n.step_every = o->step_every;
    n.gamma = o->gamma;
    *o = n;
    return DS_OK;
}

static ds_status parse_train(const pctx *c, const ynode *m, const char *path, ds_spec *s)
{
    static const char *const keys[] = {"epochs",   "batch",        "opt",      "lr",
                                       "momentum", "nesterov",     "weight_decay",
                                       "schedule", "step_every",   "gamma",    NULL};
    ds_status st;
    field f;
    ds_spec_train *t = &s->train;
    if ((st = need_map(c, m, path, "a mapping of training options"))) return st;
    if (m->type != Y_MAP) return DS_OK;
    if ((st = check_keys(c, m, path, keys, NULL))) return st;
    if (get(m, path, "opt", &f) && (st = set_opt(c, &f, &t->opt))) return st;
    if (get(m, path, "epochs", &f) && (st = conv_i32(c, f.v, f.path, 0, DS_EPOCHS_MAX, &t->epochs))) return st;
    if (get(m, path, "batch", &f) && (st = conv_i32(c, f.v, f.path, 1, DS_BATCH_MAX, &t->batch))) return st;
    if (get(m, path, "lr", &f) && (st = conv_float(c, f.v, f.path, &R_POS, &t->opt.lr))) return st;
    int sgd = t->opt.kind == DS_OPT_SGD;
    if (get(m, path, "momentum", &f)) {
        if (!sgd)
            return failf(c, DS_EINVAL, f.kline, f.path, "applies to opt sgd only (opt is %s)",
                         ds_opt_kind_name(t->opt.kind));
        if ((st = conv_float(c, f.v, f.path, &R_MOMENTUM, &t->opt.momentum))) return st;
    }
    if (get(m, path, "nesterov", &f)) {
        if (!sgd)
            return failf(c, DS_EINVAL, f.kline, f.path, "applies to opt sgd only (opt is %s)",
                         ds_opt_kind_name(t->opt.kind));
        if ((st = conv_bool(c, f.v, f.path, &t->opt.nesterov))) return st;
    }
    static const range wd = {0.0, 1.0, 0, 0};
    if (get(m, path, "weight_decay", &f) && (st = conv_float(c, f.v, f.path, &wd, &t->opt.weight_decay)))
        return st;
    if (get(m, path, "schedule", &f)) {
        etab tab = tab_sched_kinds();
        int k;
        if ((st = conv_enum(c, f.v, f.path, &tab, &k))) return st;
        t->opt.sched = (ds_sched_kind)k;
    }
    int step = t->opt.sched == DS_SCHED_STEP;
    if (get(m, path, "step_every", &f)) {
        if (!step)
            return failf(c, DS_EINVAL, f.kline, f.path, "applies to schedule step only (schedule is %s)",
                         ds_sched_kind_name(t->opt.sched));
        if ((st = conv_i32(c, f.v, f.path, 1, 100000, &t->opt.step_every))) return st;
    }
    if (get(m, path, "gamma", &f)) {
        if (!step)
            return failf(c, DS_EINVAL, f.kline, f.path, "applies to schedule step only (schedule is %s)",
                         ds_sched_kind_name(t->opt.sched));
        if ((st = conv_float(c, f.v, f.path, &R_UNIT_OC, &t->opt.gamma))) return st;
    }
    return DS_OK;
}

static ds_status parse_seeds(const pctx *c, const field *f, ds_spec *s)
{
    char d[96], p[PATH_LEN];
    ds_status st;
    const ynode *v = f->v;
    if (v->type != Y_SEQ)
        return failf(c, DS_EINVAL, v->line, f->path, "expected a list of seeds, got %s",
                     describe(v, d, sizeof d));
    if ((st = list_size(c, v, f->path, DS_SPEC_MAX_LIST, &s->nseeds))) return st;
    for (int i = 0; i < s->nseeds; i++) {
        const ynode *e = element(v, i, f->path, p);
        if ((st = conv_u64(c, e, p, &s->seeds[i]))) return st;
        for (int j = 0; j < i; j++)
            if (s->seeds[j] == s->seeds[i])
                return failf(c, DS_EINVAL, e->line, p, "%s is listed twice (also at %s[%d])", e->text,
                             f->path, j);
    }
    return DS_OK;
}

static ds_status parse_whitebox(const pctx *c, const ynode *m, const char *path, ds_spec_whitebox *w)
{
    static const char *const keys[] = {"bits", "targets", "lambda", "lambda1", "epochs",
                                       "lr", "layer", "keys_per_class", NULL};
    static const numspec bits = {.integer = 1, .lo = 1, .hi = 4096};
    ds_status st;
    field f;
    if ((st = need_map(c, m, path, "a mapping of white-box options"))) return st;
    w->enabled = 1;
    if (m->type != Y_MAP) return DS_OK;
    if ((st = check_keys(c, m, path, keys, NULL))) return st;
    if (get(m, path, "bits", &f)) {
        double v[DS_SPEC_MAX_LIST];
        if ((st = conv_num_list(c, f.v, f.path, &bits, DS_SPEC_MAX_LIST, v, &w->nbits))) return st;
        for (int i = 0; i < w->nbits; i++) w->bits[i] = (int)v[i];
    }
    if (get(m, path, "targets", &f) && (st = conv_i32(c, f.v, f.path, 1, 1000, &w->targets))) return st;
    if (get(m, path, "lambda", &f) && (st = conv_float(c, f.v, f.path, &R_NONNEG, &w->lambda))) return st;
    if (get(m, path, "lambda1", &f) && (st = conv_float(c, f.v, f.path, &R_NONNEG, &w->lambda1)))
        return st;
    if (get(m, path, "epochs", &f) && (st = conv_i32(c, f.v, f.path, 1, DS_EPOCHS_MAX, &w->epochs))) return st;
    if (get(m, path, "lr", &f) && (st = conv_float(c, f.v, f.path, &R_POS, &w->lr))) return st;
    if (get(m, path, "layer", &f) && (st = conv_str(c, f.v, f.path, w->layer, sizeof w->layer)))
        return st;
    if (get(m, path, "keys_per_class", &f) &&
        (st = conv_i32(c, f.v, f.path, 1, 100000, &w->keys_per_class)))
        return st;
    return DS_OK;
}

static ds_status parse_blackbox(const pctx *c, const ynode *m, const char *path, ds_spec_blackbox *b)
{
    static const char *const keys[] = {"keys", "alpha", "epochs", "lr", NULL};
    static const numspec nkeys = {.integer = 1, .lo = 1, .hi = 10000};
    ds_status st;
    field f;
    if ((st = need_map(c, m, path, "a mapping of black-box options"))) return st;
    b->enabled = 1;
    if (m->type != Y_MAP) return DS_OK;
    if ((st = check_keys(c, m, path, keys, NULL))) return st;
    if (get(m, path, "keys", &f)) {
        double v[DS_SPEC_MAX_LIST];
        if ((st = conv_num_list(c, f.v, f.path, &nkeys, DS_SPEC_MAX_LIST, v, &b->nkeys))) return st;
        for (int i = 0; i < b->nkeys; i++) b->keys[i] = (int)v[i];
    }
    if (get(m, path, "alpha", &f) && (st = conv_real(c, f.v, f.path, &R_UNIT_OO, &b->alpha))) return st;
    if (get(m, path, "epochs", &f) && (st = conv_i32(c, f.v, f.path, 1, DS_EPOCHS_MAX, &b->epochs))) return st;
    if (get(m, path, "lr", &f) && (st = conv_float(c, f.v, f.path, &R_POS, &b->lr))) return st;
    return DS_OK;
}

static ds_status parse_watermarks(const pctx *c, const field *wf, ds_spec *s)
{
    static const char *const keys[] = {"whitebox", "blackbox", NULL};
    ds_status st;
    field f;
    const ynode *m = wf->v;
    if ((st = need_map(c, m, wf->path, "a mapping with whitebox and/or blackbox"))) return st;
    if (m->type == Y_MAP && (st = check_keys(c, m, wf->path, keys, NULL))) return st;
    if (m->type == Y_MAP && get(m, wf->path, "whitebox", &f) &&
        (st = parse_whitebox(c, f.v, f.path, &s->wb)))
        return st;
    if (m->type == Y_MAP && get(m, wf->path, "blackbox", &f) &&
        (st = parse_blackbox(c, f.v, f.path, &s->bb)))
        return st;
    if (!s->wb.enabled && !s->bb.enabled)
        return failf(c, DS_EINVAL, wf->kline, wf->path, "expected at least one of whitebox, blackbox");
    return DS_OK;
}

/* ---------------------------------------------------------------- attacks */

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

/* The strength axis: a list of numbers, or default (one value) when absent; required
 * lists refuse absence. */
static ds_status strength_list(const pctx *c, const ynode *m, const char *path, int line,
                               const char *key, const numspec *ns, int required, double def,
                               double *vals, int *n)
{
    field f;
    if (!get(m, path, key, &f)) {
        if (required) return missing(c, line, path, key);
        vals[0] = def;
        *n = 1;
        return DS_OK;
    }
    return conv_num_list(c, f.v, f.path, ns, DS_SPEC_MAX_LIST, vals, n);
}

static ds_status variant_list(const pctx *c, const ynode *m, const char *path, const char *key,
                              const etab *t, int def, int *vals, int *n)
{
    field f;
    if (!get(m, path, key, &f)) {
        vals[0] = def;
        *n = 1;
        return DS_OK;
    }
    return conv_enum_list(c, f.v, f.path, t, DS_SPEC_MAX_VARIANTS, vals, n);
}

/* The numbers an axis takes, as the spec reader checks them. */
static numspec axis_numspec(const ds_attack_axis *x)
{
    numspec ns = {0};
    if (x->integer) {
        ns.integer = 1;
        ns.lo = (long long)x->lo;
        ns.hi = (long long)x->hi;
    } else {
        ns.r = (range){x->lo, x->hi, 0, x->hi_open};
    }
    return ns;
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
    a->variants[0] = 0;
    ds_status st = DS_OK;
    if (info->variant_key) {
        etab t = {0};
        for (int i = 0; i < info->nvariants; i++) etab_add(&t, info->variants[i], i);
        st = variant_list(c, m, path, info->variant_key, &t, v0, a->variants, &a->nvariants);
    }
    if (st) return st;
    if (!info->strength.key) { /* one cell, strength 0 */
        a->nstrengths = 1;
        a->strengths[0] = 0.0;
        return DS_OK;
    }
    numspec ns = axis_numspec(&info->strength);
    st = strength_list(c, m, path, a->line, info->strength.key, &ns, info->strength.required, x0,
                       a->strengths, &a->nstrengths);
    if (st || !info->strength_wb.key) return st;
    ns = axis_numspec(&info->strength_wb);
    return strength_list(c, m, path, a->line, info->strength_wb.key, &ns, info->strength_wb.required,
                         xwb, a->strengths_wb, &a->nstrengths_wb);
}

/* chain: its steps (distinct, among permute, scale and dummy, in order) and the
 * knobs of those steps as single values. */
static ds_status parse_chain(const pctx *c, const ynode *m, const char *path, ds_attack_cfg *cfg)
{
    field f;
    ds_status st = DS_OK;
    if (get(m, path, "steps", &f)) {
        etab t = {0};
        for (int i = 0; i < ds_attack_kind_count(); i++)
            if (ds_attack_step_ok(ds_attack_info_at(i)->kind))
                etab_add(&t, ds_attack_info_at(i)->name, (int)ds_attack_info_at(i)->kind);
        int v[DS_ATTACK_MAX_STEPS];
        if ((st = conv_enum_list(c, f.v, f.path, &t, DS_ATTACK_MAX_STEPS, v, &cfg->nsteps))) return st;
        for (int i = 0; i < cfg->nsteps; i++) cfg->steps[i] = (ds_attack_kind)v[i];
    }
    static const range spread = {0.0, DS_ATTACK_SCALE_MAX_SPREAD, 0, 0};
    if (get(m, path, "spread", &f) && (st = conv_real(c, f.v, f.path, &spread, &cfg->spread))) return st;
    if (get(m, path, "neurons", &f) && (st = conv_i32(c, f.v, f.path, 1, 65536, &cfg->neurons))) return st;
    if (get(m, path, "dummy", &f)) {
        const ds_attack_info *d = ds_attack_info_of(DS_ATTACK_DUMMY);
        etab t = {0};
        for (int i = 0; i < d->nvariants; i++) etab_add(&t, d->variants[i], i);
        int v;
        if ((st = conv_enum(c, f.v, f.path, &t, &v))) return st;
        cfg->dummy = (ds_dummy_kind)v;
    }
    if (cfg->dummy == DS_DUMMY_CLIQUE && cfg->neurons < 2)
        return failf(c, DS_ERANGE, m->line, path, "neurons %d is too few for dummy clique (it adds at least 2)",
                     cfg->neurons);
    return DS_OK;
}

/* dummy: the clique variant adds at least 2 neurons. */
static ds_status check_clique(const pctx *c, const ynode *m, const char *path, const ds_spec_attack *a)
{
    int clique = 0;
    field f;
    for (int i = 0; i < a->nvariants; i++) clique |= a->variants[i] == DS_DUMMY_CLIQUE;
    for (int i = 0; clique && i < a->nstrengths; i++)
        if (a->strengths[i] < 2) {
            char p[PATH_LEN];
            const ynode *e = get(m, path, "neurons", &f) ? element(f.v, i, f.path, p) : m;
            if (e == m) path_key(p, path, "neurons");
            return failf(c, DS_ERANGE, e->line, p,
                         "%g is too few for variant clique (it adds at least 2 neurons)", a->strengths[i]);
        }
    return DS_OK;
}

static ds_status parse_attack(const pctx *c, const ynode *m, const char *path, const ds_spec *s,
                              ds_spec_attack *a)
{
    char d[96];
    ds_status st;
    field f;
    if (m->type != Y_MAP)
        return failf(c, DS_EINVAL, m->line, path, "expected a mapping with a kind, got %s",
                     describe(m, d, sizeof d));
    a->line = m->line;
    if (!get(m, path, "kind", &f)) {
        /* unknown keys before a missing kind are still the first fault */
        const char *all[MAX_ATTACK_KEYS + 1];
        attack_keys_of(NULL, all);
        if ((st = check_keys(c, m, path, all, NULL))) return st;
        return missing(c, m->line, path, "kind");
    }
    etab kinds = tab_attack_kinds();
    int kind;
    if ((st = conv_enum(c, f.v, f.path, &kinds, &kind))) return st;
    const ds_attack_info *info = ds_attack_info_of((ds_attack_kind)kind);
    const char *keys[MAX_ATTACK_KEYS + 1];
    attack_keys_of(info, keys);
    char what[48];
    snprintf(what, sizeof what, "for kind %s", ds_attack_kind_name((ds_attack_kind)kind));
    if ((st = check_keys(c, m, path, keys, what))) return st;

    ds_attack_cfg cfg = ds_attack_defaults((ds_attack_kind)kind);
    cfg.kind = (ds_attack_kind)kind;
    cfg.layer = NULL;

    /* the marks it attacks */
    unsigned enabled = (s->wb.enabled ? 1u << DS_WM_WHITEBOX : 0) | (s->bb.enabled ? 1u << DS_WM_BLACKBOX : 0);
    a->schemes = enabled;
    if (get(m, path, "schemes", &f)) {
        etab t = tab_schemes();
        int v[DS_SPEC_MAX_VARIANTS], n;
        if ((st = conv_enum_list(c, f.v, f.path, &t, 2, v, &n))) return st;
        a->schemes = 0;
        for (int i = 0; i < n; i++) {
            if (!(enabled & (1u << v[i]))) {
                char p[PATH_LEN];
                const ynode *e = element(f.v, i, f.path, p);
                return failf(c, DS_EINVAL, e->line, p, "%s is not among the watermarks of this spec",
                             ds_wm_scheme_name((ds_wm_scheme)v[i]));
            }
            a->schemes |= 1u << v[i];
        }
    }
    if (get(m, path, "seed", &f) && (st = conv_u64(c, f.v, f.path, &cfg.seed))) return st;

    /* training knobs (prune's fine-tuning, finetune, overwrite) */
    if (get(m, path, "opt", &f) && (st = set_opt(c, &f, &cfg.opt))) return st;
    if (get(m, path, "lr", &f) && (st = conv_float(c, f.v, f.path, &R_POS, &cfg.opt.lr))) return st;
    if (get(m, path, "batch", &f) && (st = conv_i32(c, f.v, f.path, 1, DS_BATCH_MAX, &cfg.batch))) return st;
    if (get(m, path, "data_fraction", &f) &&
        (st = conv_real(c, f.v, f.path, &R_UNIT_OC, &cfg.data_fraction)))
        return st;
    if (get(m, path, "labels", &f)) {
        etab t = tab_labels();
        if ((st = conv_enum(c, f.v, f.path, &t, &cfg.predicted_labels))) return st;
    }
    if (get(m, path, "layer", &f)) {
        if ((st = conv_str(c, f.v, f.path, a->layer, sizeof a->layer))) return st;
        if (a->layer[0]) cfg.layer = a->layer;
    }

    if (get(m, path, "finetune_epochs", &f) && (st = conv_i32(c, f.v, f.path, 0, DS_EPOCHS_MAX, &cfg.epochs)))
        return st;
    if (get(m, path, "bias", &f) && (st = conv_bool(c, f.v, f.path, &cfg.prune_bias))) return st;
    if (get(m, path, "bn", &f) && (st = conv_bool(c, f.v, f.path, &cfg.prune_bn))) return st;
    if (get(m, path, "targets", &f) && (st = conv_i32(c, f.v, f.path, 1, 1000, &cfg.targets))) return st;
    if (kind == DS_ATTACK_OVERWRITE && get(m, path, "epochs", &f) &&
        (st = conv_i32(c, f.v, f.path, 1, DS_EPOCHS_MAX, &cfg.epochs)))
        return st;
    if (kind == DS_ATTACK_CHAIN && (st = parse_chain(c, m, path, &cfg))) return st;
    if ((st = attack_axes(c, m, path, info, &cfg, a))) return st;
    if (kind == DS_ATTACK_DUMMY && (st = check_clique(c, m, path, a))) return st;
    /* the entry's own configuration: its first variant and strength */
    info->set(&cfg, a->variants[0], a->strengths[0], DS_WM_BLACKBOX);
    if (a->nstrengths_wb) info->set(&cfg, a->variants[0], a->strengths_wb[0], DS_WM_WHITEBOX);
    cfg.scheme = ds_attack_defaults(cfg.kind).scheme;
    a->cfg = cfg;
    return DS_OK;
}

static ds_status parse_attacks(const pctx *c, const field *af, ds_spec *s)
{
    char d[96], p[PATH_LEN];
    ds_status st;
    const ynode *v = af->v;
    if (v->type == Y_SCALAR && v->null) return DS_OK;
    if (v->type != Y_SEQ)
        return failf(c, DS_EINVAL, v->line, af->path, "expected a list of attacks, got %s",
                     describe(v, d, sizeof d));
    if (v->nkids > DS_SPEC_MAX_ATTACKS)
        return failf(c, DS_ERANGE, v->line, af->path, "%d attacks, at most %d", v->nkids,
                     DS_SPEC_MAX_ATTACKS);
    for (int i = 0; i < v->nkids; i++) {
        if ((st = parse_attack(c, v->kids[i], path_index(p, af->path, i), s, &s->attacks[i]))) return st;
        s->nattacks = i + 1;
    }
    return DS_OK;
}

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

static ds_status parse_root(const pctx *c, const ynode *root, ds_spec *s)
{
    static const char *const keys[] = {"name",  "seed",  "data",       "model",   "train",
                                       "seeds", "nulls", "watermarks", "attacks", NULL};
    static const char *const required[] = {"name", "model", "seeds", "watermarks"};
    ds_status st;
    field f;
    if ((st = check_keys(c, root, "", keys, NULL))) return st;
    for (size_t i = 0; i < sizeof required / sizeof required[0]; i++)
        if (!get(root, "", required[i], &f)) return missing(c, root->line, "", required[i]);
    spec_defaults(s);

    get(root, "", "name", &f);
    if ((st = conv_str(c, f.v, f.path, s->name, sizeof s->name))) return st;
    if (!valid_name(s->name)) {
        char q[64];
        return failf(c, DS_EINVAL, f.v->line, f.path,
                     "%s is not a valid name (1 to 63 characters of A-Z a-z 0-9 _ . -)",
                     quoted(q, sizeof q, s->name));
    }
    if (get(root, "", "seed", &f) && (st = conv_u64(c, f.v, f.path, &s->seed))) return st;
    if (get(root, "", "data", &f) && (st = parse_data(c, f.v, f.path, s))) return st;
    get(root, "", "model", &f);
    if ((st = parse_model(c, f.v, f.path, f.kline, s))) return st;
    if (get(root, "", "train", &f) && (st = parse_train(c, f.v, f.path, s))) return st;
    get(root, "", "seeds", &f);
    if ((st = parse_seeds(c, &f, s))) return st;
    if (get(root, "", "nulls", &f) && (st = conv_i32(c, f.v, f.path, 0, 1000, &s->nulls))) return st;
    get(root, "", "watermarks", &f);
    if ((st = parse_watermarks(c, &f, s))) return st;
    if (get(root, "", "attacks", &f) && (st = parse_attacks(c, &f, s))) return st;
    return DS_OK;
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

/* Parse text (a malloc'd buffer of len bytes + NUL, owned from here on) into out. */
static ds_status spec_parse_owned(char *text, size_t len, const char *name, ds_spec *out, ds_err *err)
{
    pctx c = {name, err};
    out->text = text;
    ds_status st = DS_OK;
    ytree t = {0};
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
    if ((st = ytree_build(&c, text, len, &t))) goto done;
    const ynode *root = t.root;
    if (!root || (root->type == Y_SCALAR && root->null)) {
        st = failf(&c, DS_EFORMAT, root ? root->line : 1, NULL,
                   "empty document (expected a mapping with name, model, seeds and watermarks)");
        goto done;
    }
    if (root->type != Y_MAP) {
        char d[96];
        st = failf(&c, DS_EFORMAT, root->line, NULL,
                   "the document is %s (expected a mapping with name, model, seeds and watermarks)",
                   describe(root, d, sizeof d));
        goto done;
    }
    st = parse_root(&c, root, out);
done:
    ytree_free(&t);
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
