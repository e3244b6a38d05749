#include "importers/proto_io.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl.h>

#include <climits>
#include <filesystem>
#include <fstream>

#include "onnx_train/error.h"

namespace onnx_train {

namespace fs = std::filesystem;

void parse_proto_file(const std::string& path, google::protobuf::MessageLite& message, const char* what) {
  std::error_code ec;
  OT_CHECK(fs::exists(path, ec), "{}: no such file", path);
  OT_CHECK(fs::is_regular_file(path, ec), "{}: not a regular file", path);
  std::ifstream in(path, std::ios::binary);
  OT_CHECK(in.good(), "{}: cannot open for reading", path);
  google::protobuf::io::IstreamInputStream raw(&in);
  google::protobuf::io::CodedInputStream coded(&raw);
  coded.SetTotalBytesLimit(INT_MAX);
  OT_CHECK(message.ParseFromCodedStream(&coded) && coded.ConsumedEntireMessage(),
           "{}: not a valid {} (protobuf parsing failed); is this really an ONNX file? Tensors over 2 GB "
           "must be saved as external data",
           path, what);
}

void write_proto_file(const google::protobuf::MessageLite& message, const std::string& path, const char* what) {
  const std::string partial = path + ".partial";
  std::error_code ec;
  try {
    std::ofstream out(partial, std::ios::binary | std::ios::trunc);
    OT_CHECK(out.good(), "{}: cannot open for writing (does the folder exist and is it writable?)", partial);
    OT_CHECK(message.SerializeToOstream(&out), "{}: writing the {} failed (protobuf files are limited to 2 GB)",
             partial, what);
    out.close();
    OT_CHECK(out.good(), "{}: writing the {} failed (disk full?)", partial, what);
  } catch (...) {
    fs::remove(partial, ec);
    throw;
  }
  fs::rename(partial, path, ec);
  if (ec) {
    fs::remove(partial, ec);
    OT_FAIL("{}: cannot move the written {} into place: {}", path, what, ec.message());
  }
}

}  // namespace onnx_train
