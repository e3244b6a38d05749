// Reading and writing whole protobuf files (models, tensors, checkpoints) with the errors a
// user can act on.
#pragma once

#include <google/protobuf/message_lite.h>

#include <cstdint>
#include <string>
#include <vector>

#include "onnx_train/external_data.h"
#include "onnx_train/tensor.h"

namespace onnx {
class TensorProto;
}

namespace onnx_train {

// Parses `path` into `message` (files up to 2 GB); `what` names the expected content in the
// error ("ONNX model"). Throws naming the file when it is missing or does not parse.
void parse_proto_file(const std::string& path, google::protobuf::MessageLite& message, const char* what);

// The tensors of a model or checkpoint file that go into its external data file
// "<path>.data" (ONNX external data: data_location EXTERNAL, external_data {location: the data
// file's base name, offset, length}). Tensors are held, not copied, until the file is written.
//
//   ExternalData data("out.onnx");
//   data.place(tensor, *model.mutable_graph()->add_initializer());   // one per tensor
//   write_proto_file(model, "out.onnx", "model", &data);             // out.onnx.data, then out.onnx
class ExternalData {
 public:
  // Tensors smaller than this stay inline (onnx.save_model's size_threshold).
  static constexpr size_t kInlineBelow = 1024;
  // Each tensor starts at a multiple of this in the data file, so that a reader can map the
  // file and use every tensor where it lies (a page; a multiple of every element size).
  static constexpr uint64_t kAlignment = 4096;

  // For the file `path` (the data file is `path` + ".data").
  explicit ExternalData(const std::string& path);

  // Fills `proto` (dtype, dims; the name is left alone) with `tensor`: inline when smaller than
  // kInlineBelow, else a reference to the next aligned offset of the data file.
  void place(const Tensor& tensor, onnx::TensorProto& proto);

  struct Piece {
    uint64_t offset = 0;
    Tensor tensor;
  };
  const std::vector<Piece>& pieces() const { return pieces_; }
  const std::string& data_path() const { return data_path_; }
  const std::string& location() const { return location_; }
  uint64_t size() const { return size_; }  // the data file's size

 private:
  std::string data_path_, location_;
  std::vector<Piece> pieces_;
  uint64_t size_ = 0;
};

// Whether a file whose tensors take `bytes` (and whose model had external data, `source_external`)
// is written with external data under `mode`. Never for more than protobuf can write is an error
// naming `path`.
bool use_external_data(ExternalDataMode mode, bool source_external, uint64_t bytes, const std::string& path,
                       const char* what);

// Writes `message` to `path` so that the file appears whole or not at all: it is written to
// "<path>.partial" beside the target, synced to the disk and renamed; on any failure the
// partial file is removed.
// `what` names the content in errors ("model", "checkpoint").
// With `data` (made for `path`), its tensors are written first into "<path>.data.partial",
// synced, and renamed to "<path>.data" just before the model file is renamed into place: a
// failure before that leaves neither new file, and an earlier "<path>.data" is replaced whole,
// never appended to.
void write_proto_file(const google::protobuf::MessageLite& message, const std::string& path, const char* what,
                      const ExternalData* data = nullptr);

}  // namespace onnx_train
