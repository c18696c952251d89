/* fuzz_cifar.c - libFuzzer target for the CIFAR-10 binary reader (ds_cifar10_load,
 * src/data/cifar.c).
 *
 * The input is one batch file, written to a temporary file and loaded alone and
 * twice over (two paths naming it), which exercises the growth of the dataset
 * from one batch to the next.
 */
#include <stdint.h>
#include <stdlib.h>

#include "deepsigns/data.h"
#include "fuzz_util.h"

enum { DSF_CIFAR_PIXELS = 3 * 32 * 32, DSF_CIFAR_CLASSES = 10 };

static void load(const char *const *paths, int npaths, size_t size)
{
    ds_dataset d;
    ds_err err = {0};
    ds_status st = ds_cifar10_load(paths, npaths, &d, &err);
    dsf_check_err(st, &err);
    if (st != DS_OK) return;
    /* a loaded dataset must be what the file holds: ASan checks the last bytes */
    if (d.n == 0 || d.n != (size_t)npaths * (size / (1 + DSF_CIFAR_PIXELS)) || d.c != 3 ||
        d.h != 32 || d.w != 32 || !d.x || !d.y)
        abort();
    volatile uint8_t last = d.x[d.n * DSF_CIFAR_PIXELS - 1];
    (void)last;
    for (size_t i = 0; i < d.n; i++)
        if (d.y[i] >= DSF_CIFAR_CLASSES) abort();
    ds_dataset_free(&d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = dsf_path(0, "data_batch.bin");
    dsf_write(path, data, size);
    const char *paths[2] = {path, path};
    load(paths, 1, size);
    load(paths, 2, size);
    return 0;
}
