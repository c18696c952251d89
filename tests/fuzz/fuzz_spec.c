/* fuzz_spec.c - libFuzzer target for the YAML spec reader (ds_spec_parse,
 * src/io/spec.c, on libfyaml's event parser).
 *
 * The input is the text of a spec. A parsed spec must keep the text it was
 * read from, NUL-terminated; a refused one must say why.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "deepsigns/spec.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* a copy of exactly size bytes, so that ASan sees any read past the end */
    char *text = malloc(size ? size : 1);
    if (!text) dsf_die("malloc");
    if (size) memcpy(text, data, size);
    ds_spec s;
    ds_err err = {0};
    ds_status st = ds_spec_parse(text, size, "fuzz.yaml", &s, &err);
    dsf_check_err(st, &err);
    if (st == DS_OK) {
        if (!s.text || strlen(s.text) != size || memcmp(s.text, data, size) != 0) abort();
        if (s.nattacks < 0 || s.nattacks > DS_SPEC_MAX_ATTACKS) abort();
        ds_spec_free(&s);
    }
    free(text);
    return 0;
}
