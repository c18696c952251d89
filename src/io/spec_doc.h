/* spec_doc.h - the YAML document of an experiment spec, for the spec reader
 * (spec.c) and its overrides (spec_set.c): loaded with libfyaml's document API,
 * checked once for what a spec may not hold (tags, aliases to no complete
 * anchor before them, nesting over SPEC_MAX_DEPTH, a second document), and read
 * through views of its nodes that carry the line libfyaml marks them with.
 * Internal to src/io.
 */
#ifndef DEEPSIGNS_IO_SPEC_DOC_H
#define DEEPSIGNS_IO_SPEC_DOC_H

#include <stddef.h>

#include "deepsigns/status.h"

struct fy_node;
struct fy_document;

#define SPEC_MAX_DEPTH 32 /* the schema nests 4 deep */

/* The context of a read: the name used in messages and the error to fill. */
typedef struct spec_ctx {
    const char *file;
    ds_err *err;
} spec_ctx;

/* "<file>:<line>: <path>: <what>" (no path: "<file>:<line>: <what>"). */
ds_status spec_failf(const spec_ctx *c, ds_status code, int line, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
ds_status spec_nomem(const spec_ctx *c);

/* A loaded document; the parser that built it lives as long as it does. */
typedef struct spec_doc {
    struct fy_parser *parser;
    struct fy_diag *diag;
    struct fy_document *doc;
} spec_doc;

/* text[0..len) (NUL-free, valid UTF-8) as one YAML document whose root is not
 * empty: on failure "<file>:<line>: YAML syntax error: ..." or the first tag,
 * alias without anchor, nesting too deep or second document, in document order,
 * and *d holds nothing. *empty_line is 0, or 1 for a document without even a
 * root (then DS_OK, *d holds nothing, and the caller says what it should hold). */
ds_status spec_doc_load(const spec_ctx *c, const char *text, size_t len, spec_doc *d, int *empty_line);
void spec_doc_free(spec_doc *d); /* accepts a zeroed or freed one */

typedef enum ytype { Y_SCALAR, Y_MAP, Y_SEQ } ytype;

/* What the reader sees of a node (aliases followed). */
typedef struct ynode {
    struct fy_node *node;
    ytype type;
    int line;               /* 1-based */
    int plain;              /* scalar: plain style (can be a number, a boolean or null) */
    int null;               /* scalar: plain and empty, ~ or null */
    const char *text;       /* scalar: the value, NUL-terminated ("" when empty) */
    size_t len;             /* scalar: its length (a NUL inside: len > strlen) */
    int n;                  /* map: pairs; seq: items */
} ynode;

/* The view of node n of a loaded document; fallback_line is used for a node
 * libfyaml gives no position (an empty value: the line of its key). */
ds_status spec_view(const spec_ctx *c, const spec_doc *d, struct fy_node *n, int fallback_line, ynode *out);
/* The view of the document's root. */
ds_status spec_root(const spec_ctx *c, const spec_doc *d, ynode *root);
/* The i-th pair of a mapping (value NULL: the key alone), the i-th item of a list. */
ds_status spec_pair(const spec_ctx *c, const spec_doc *d, const ynode *map, int i, ynode *key, ynode *value);
ds_status spec_item(const spec_ctx *c, const spec_doc *d, const ynode *seq, int i, ynode *item);

#endif
