// Reading and writing whole protobuf files (models, tensors, checkpoints) with the errors a
// user can act on.
#pragma once

#include <google/protobuf/message_lite.h>

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "onnx_train/external_data.h"
#include "onnx_train/tensor.h"

namespace onnx {
class ModelProto;
class TensorProto;
}  // namespace onnx

namespace onnx_train {

// Parses `path` into `message` (files up to 2 GB); `what` names the expected content in the
// error ("ONNX model"). Throws naming the file when it is missing or does not parse.
void parse_proto_file(const std::string& path, google::protobuf::MessageLite& message, const char* what);

// A tensor whose values are made only when a file writer writes its bytes: `make` computes
// them (a merged LoRA weight W + s A B), so that an export holds one such tensor at a time, not
// all of them. `make` must return `dtype` and `shape`.
struct DeferredTensor {
  DType dtype = DType::Float32;
  Shape shape;
  std::function<Tensor()> make;
};

// A tensor a file writer holds until it writes its bytes: a value (sharing its storage, not a
// copy) or a DeferredTensor made then.
class HeldTensor {
 public:
  HeldTensor(Tensor value);           // NOLINT(google-explicit-constructor): a held value
  HeldTensor(DeferredTensor deferred);  // NOLINT(google-explicit-constructor)
  DType dtype() const;
  const Shape& shape() const;
  size_t nbytes() const;
  // The values: the held tensor, or the deferred one made now (checked against dtype and shape).
  Tensor value() const;

 private:
  Tensor value_;
  DeferredTensor deferred_;
  bool is_deferred_ = false;
};

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
  void place(const HeldTensor& tensor, onnx::TensorProto& proto);

  struct Piece {
    uint64_t offset = 0;
    HeldTensor tensor;
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

// The large graph initializers of a model written as one file (no external data): the
// ModelProto holds their dtype and dims only, and write_model_file streams each tensor's bytes
// into the file as the initializer's raw_data, so that writing a model never holds a second copy
// of its weights in memory (a protobuf message holding them would).
//
//   InlineTensors held;
//   held.place(tensor, *model.mutable_graph()->add_initializer());   // named first
//   write_model_file(model, "out.onnx", "model", nullptr, &held);
class InlineTensors {
 public:
  // Smaller tensors go into the proto at once.
  static constexpr size_t kHeldFrom = 1024;

  // Fills `proto` (a graph initializer of the model to be written, found by its name then, which
  // must be set and unique) with `tensor`'s dtype and dims, holding its bytes for the writer.
  void place(const HeldTensor& tensor, onnx::TensorProto& proto);

  const std::map<std::string, HeldTensor>& held() const { return held_; }

 private:
  std::map<std::string, HeldTensor> held_;
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

// write_proto_file for a model (or a checkpoint, an ONNX file too) whose large initializers
// `inline_tensors` holds (their bytes are streamed into the file; see InlineTensors). `model` is
// taken apart while it is written and put back together before this returns or throws.
void write_model_file(onnx::ModelProto& model, const std::string& path, const char* what, const ExternalData* data,
                      const InlineTensors* inline_tensors);

}  // namespace onnx_train
