/* model_file.h - models on disk (HDF5): save, load, Keras import, extra attributes.
 *
 * A model file holds the architecture and its options, the input preprocessing,
 * the training metadata and one float32 dataset per tensor (/params/<name> for
 * trainable tensors, /stats/<name> for batch-norm running statistics). The layout
 * is documented in docs/model-file.md; h5py and h5dump read it without this
 * library. Saving is atomic and deterministic: the same model gives the same
 * bytes, and a failed save leaves any existing file untouched. Loading checks
 * everything before trusting it.
 */
#ifndef DEEPSIGNS_MODEL_FILE_H
#define DEEPSIGNS_MODEL_FILE_H

#include <stddef.h>

#include "deepsigns/data.h"
#include "deepsigns/model.h"
#include "deepsigns/status.h"

/* Value of the root attribute `magic`. */
#define DS_MODEL_MAGIC "DEEPSIGNS-MODEL"

/* Value of the root attribute `format_version`; bump on any incompatible layout change. */
typedef enum ds_model_format {
    DS_MODEL_FORMAT_V1 = 1,
    DS_MODEL_FORMAT_CURRENT = DS_MODEL_FORMAT_V1,
} ds_model_format;

/* Longest value ds_model_file_set_attr_string accepts (bytes, without the NUL). */
enum { DS_MODEL_ATTR_MAX = 4096 };

/* Write m (architecture, metadata, params and stats) to path. Writes
 * "<path>.tmp.<pid>" and renames it over path, so path is either the old file or
 * the complete new one. Refuses a model holding NaN or Inf (DS_ENUM). */
ds_status ds_model_save(const ds_model *m, const char *path, ds_err *err);

/* Read a model written by ds_model_save. Checks the magic and format version,
 * validates the architecture before building it, and requires every tensor to be
 * present as a float dataset of exactly the model's shape holding finite values,
 * and no dataset the model does not have. Returns NULL (err set) on failure. */
ds_model *ds_model_load(const char *path, ds_err *err);

/* The bytes ds_model_save would write, in a malloc'd buffer *image of *n bytes
 * (to send a model over MPI or store it inside another file). */
ds_status ds_model_save_image(const ds_model *m, void **image, size_t *n, ds_err *err);
/* ds_model_load from bytes; name is used in messages. */
ds_model *ds_model_load_image(const void *image, size_t n, const char *name, ds_err *err);

/* Import a model from a Keras HDF5 weights file (save_weights, Keras 1 or 2,
 * or a full-model file with /model_weights): exactly three dense layers
 * [784,H]+[H], [H,H]+[H], [H,10]+[10] give a 784-H-H-10 mnist-mlp; two Conv2D
 * and two dense layers the Keras MNIST CNN (mnist-cnn, C x 28 x 28), four Conv2D
 * and two dense the Keras CIFAR-10 CNN (cifar10-cnn, C x 32 x 32), channels-last
 * kernels transposed to ours (wider layers become extra units). pp is the
 * preprocessing the weights expect; NULL means pixels/255. meta.source is
 * "keras-import". Returns NULL (err set) on failure. */
ds_model *ds_model_import_keras(const char *path, const ds_preproc *pp, ds_err *err);

/* Import an ONNX model (a serialized ModelProto, opsets 9 to 17): a graph of
 * Conv, Gemm, MatMul (+ Add), Relu, MaxPool, AveragePool,
 * GlobalAveragePool, ReduceMean (over H, W), BatchNormalization, Flatten,
 * Reshape (to [N, -1]), Pad (of zero width), Add
 * (residual), Dropout, Identity, Constant and a final Softmax becomes a "graph"
 * architecture (model.h) whose layers keep the ONNX node names. pp is the
 * preprocessing the model expects; NULL means the one a deepsigns export
 * recorded (DS_ONNX_PREPROC_KEY), else pixels/255. meta.source is
 * "onnx-import". An unsupported node is an error naming its op type, its name
 * and the opset; tensors with external data are refused. NULL (err set) on failure. */
ds_model *ds_model_import_onnx(const char *path, const ds_preproc *pp, ds_err *err);
/* The same from the bytes of an ONNX file; name is used in messages. */
ds_model *ds_model_import_onnx_image(const void *buf, size_t n, const char *name, const ds_preproc *pp,
                                     ds_err *err);
/* 1 if the first n bytes of a file (at least 8 for a certain answer) look like
 * ONNX rather than HDF5: no HDF5 signature, and a protobuf starting with the
 * ir_version field. */
int ds_model_file_is_onnx(const void *head, size_t n);

/* The metadata property of an ONNX file in which ds_model_export_onnx records
 * the input preprocessing ("scale S channels C mean M0 M1 M2 std S0 S1 S2"), and
 * from which ds_model_import_onnx takes it when given no pp. */
#define DS_ONNX_PREPROC_KEY "deepsigns.preproc"

/* Write m as an ONNX model (opset 13) to path, atomically: one node per layer,
 * named as the layer, one initializer per tensor, named as the tensor;
 * ds_model_import_onnx reads it back with the same layers and bit-identical
 * parameters (as architecture "graph"). */
ds_status ds_model_export_onnx(const ds_model *m, const char *path, ds_err *err);
/* The bytes ds_model_export_onnx writes, in a malloc'd *image of *n bytes. */
ds_status ds_model_export_onnx_image(const ds_model *m, void **image, size_t *n, ds_err *err);

/* A model file of any kind, told apart by its content: a deepsigns model file
 * (ds_model_load), a Keras weights file (ds_model_import_keras with pixels/255),
 * or an ONNX model (ds_model_import_onnx with pixels/255). *keras (if non-NULL)
 * says whether it was Keras. */
ds_model *ds_model_load_any(const char *path, int *keras, ds_err *err);

/* Set a string attribute on the root of an existing model file (e.g. a
 * "commitment"), replacing any string attribute of that name. The file is
 * rewritten atomically (copy, modify, rename). Refuses the attributes that define
 * the file (magic, format_version, arch) and names of non-string attributes. */
ds_status ds_model_file_set_attr_string(const char *path, const char *name, const char *value,
                                        ds_err *err);

/* The same on a model image (ds_model_save_image): *image is replaced by the
 * new image (the old one freed) only on success. */
ds_status ds_model_image_set_attr_string(void **image, size_t *n, const char *name, const char *value,
                                         ds_err *err);

/* Read root string attribute name of a model file into buf[len]. *found is 0 (and
 * buf "") when the file has no such attribute; a value longer than len - 1 is
 * DS_ERANGE. */
ds_status ds_model_file_get_attr_string(const char *path, const char *name, char *buf, size_t len,
                                        int *found, ds_err *err);

#endif
