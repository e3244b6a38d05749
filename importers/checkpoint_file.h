// Training checkpoints on disk.
//
// A checkpoint is an ONNX file (onnx.ModelProto) whose graph has no nodes: its initializers
// are the saved tensors and its metadata_props the saved scalars and texts. Any ONNX tool
// can open one (python: onnx.load(path).graph.initializer); the graph name
// "onnx_train_checkpoint" and the metadata key "onnx_train.checkpoint_format" mark it.
// What a training session stores in it is described in onnx_train/training_session.h.
#pragma once

#include <map>
#include <string>

#include "onnx_train/external_data.h"
#include "onnx_train/tensor.h"

namespace onnx_train {

// The graph name that marks a checkpoint (with the metadata key "onnx_train.checkpoint_format").
inline constexpr const char* kCheckpointGraphName = "onnx_train_checkpoint";

struct CheckpointFile {
  std::map<std::string, Tensor> tensors;
  std::map<std::string, std::string> metadata;
};

// Writes all or nothing (a partial file is never left in place of `path`). With external data
// (Always, or Auto when the tensors take more than 1.5 GiB: onnx_train/external_data.h) the
// tensors of 1 KiB or more go into "<path>.data", 4096-byte aligned, written and renamed before
// `path` is; whoever removes the checkpoint removes that file too (checkpoint_data_path).
void write_checkpoint_file(const CheckpointFile& checkpoint, const std::string& path,
                           ExternalDataMode external_data = ExternalDataMode::Auto);

// The external data file a checkpoint at `path` may have ("<path>.data").
std::string checkpoint_data_path(const std::string& path);

// Throws naming the file when it cannot be read or is not an onnx-train checkpoint. Tensors in
// external data are mapped from the data file, not copied (importers/tensor_proto.h).
CheckpointFile read_checkpoint_file(const std::string& path);

}  // namespace onnx_train
