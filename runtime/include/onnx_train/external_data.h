// onnx_train/external_data.h: whether written models and checkpoints keep their tensors in an
// external data file beside them (ONNX external data: "model.onnx" + "model.onnx.data").
//
// A protobuf file holds at most 2 GB, so a model whose weights take more can only be written
// this way; reading such a model maps the data file instead of copying it into memory.
#pragma once

#include <cstdint>

namespace onnx_train {

enum class ExternalDataMode {
  // External data when the model read had external data, or when the tensors written take
  // more than kExternalDataAutoBytes; otherwise everything inline in one file.
  Auto,
  Always,  // tensors of 1 KiB or more in the data file, smaller ones inline
  Never,   // everything inline; an error for a file that would pass protobuf's 2 GB limit
};

// Auto's size threshold: 1.5 GiB of tensors, leaving room below protobuf's 2 GB for the graph.
inline constexpr uint64_t kExternalDataAutoBytes = uint64_t{3} << 29;

}  // namespace onnx_train
