// onnx::TensorProto <-> Tensor, including tensors whose bytes live in external data files.
#pragma once

#include <onnx/onnx_pb.h>

#include <memory>
#include <string>

#include "onnx_train/tensor.h"

namespace onnx_train {

// Converts a TensorProto. `model_dir` is where external data locations are resolved;
// `context` names the file and tensor in error messages.
// External data must stay inside model_dir: absolute locations, '..' and symlinks that
// lead out of the folder are rejected.
// External bytes are not copied: the tensor lies in a copy-on-write mapping of the data file
// (MAP_PRIVATE, readable and writable: writes into the tensor copy the touched pages and never
// reach the file), which it keeps alive. The file is mapped once per ExternalDataMappings scope
// (see below). Bytes at an offset that is not a multiple of the element size, and bytes another
// tensor of the scope already lies on, are read into a copy.
Tensor tensor_from_proto(const onnx::TensorProto& proto, const std::string& model_dir, const std::string& context);

// While one lives (on its thread), tensor_from_proto maps each external data file once for all
// the tensors it reads: one model's (or checkpoint's) weights share one mapping per file. Each
// scope maps anew, so that two models loaded from one file never share weights that training
// changes in place. Without a scope, each tensor gets a mapping of its own.
//
//   ExternalDataMappings mappings;
//   for (const auto& init : graph.initializer()) tensors[init.name()] = tensor_from_proto(init, dir, ...);
class ExternalDataMappings {
 public:
  ExternalDataMappings();
  ~ExternalDataMappings();
  ExternalDataMappings(const ExternalDataMappings&) = delete;
  ExternalDataMappings& operator=(const ExternalDataMappings&) = delete;
  struct Files;
  std::unique_ptr<Files> files_;

 private:
  ExternalDataMappings* outer_;
};

// The checks of tensor_from_proto without reading or allocating anything: the dims multiply
// without overflow and the data present (raw_data, typed values, the external file's bytes
// at offset/length) is exactly what the dims and type need, and it fits in the memory limit
// (onnx_train/limits.h). Returns the tensor's size in bytes.
size_t check_tensor_proto(const onnx::TensorProto& proto, const std::string& model_dir, const std::string& context);

// Fills `proto` with the tensor's dtype, dims and raw bytes (the name is left alone).
void tensor_to_proto(const Tensor& tensor, onnx::TensorProto& proto);

// Resolves an external-data `location` against `model_dir`, rejecting any that escape it.
std::string resolve_external_data_path(const std::string& model_dir, const std::string& location,
                                       const std::string& context);

}  // namespace onnx_train
