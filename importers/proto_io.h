// Reading and writing whole protobuf files (models, tensors, checkpoints) with the errors a
// user can act on.
#pragma once

#include <google/protobuf/message_lite.h>

#include <string>

namespace onnx_train {

// Parses `path` into `message` (files up to 2 GB); `what` names the expected content in the
// error ("ONNX model"). Throws naming the file when it is missing or does not parse.
void parse_proto_file(const std::string& path, google::protobuf::MessageLite& message, const char* what);

// Writes `message` to `path` so that the file appears whole or not at all: it is written to
// "<path>.partial" beside the target, synced to the disk and renamed; on any failure the
// partial file is removed.
// `what` names the content in errors ("model", "checkpoint").
void write_proto_file(const google::protobuf::MessageLite& message, const std::string& path, const char* what);

}  // namespace onnx_train
