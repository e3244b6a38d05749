#include "importers/proto_io.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl.h>

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>
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
  // Serialized in memory first (a model's size is bounded by protobuf's 2 GB anyway), then
  // written, flushed to the disk (fsync) and renamed over the target, and the folder synced:
  // after a crash or power loss the file is the old one or the whole new one.
  std::string bytes;
  OT_CHECK(message.SerializeToString(&bytes), "{}: serializing the {} failed (protobuf files are limited to 2 GB)",
           path, what);
  const std::string partial = path + ".partial";
  const int fd = ::open(partial.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  OT_CHECK(fd >= 0, "{}: cannot open for writing: {} (does the folder exist and is it writable?)", partial,
           std::strerror(errno));
  size_t written = 0;
  bool ok = true;
  while (ok && written < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + written, bytes.size() - written);
    if (n < 0 && errno == EINTR) continue;
    ok = n > 0;
    if (ok) written += static_cast<size_t>(n);
  }
  const int write_errno = errno;
  ok = ok && ::fsync(fd) == 0;
  ok = (::close(fd) == 0) && ok;
  std::error_code ec;
  if (!ok) {
    fs::remove(partial, ec);
    OT_FAIL("{}: writing the {} failed: {} (disk full?)", path, what, std::strerror(write_errno ? write_errno : errno));
  }
  fs::rename(partial, path, ec);
  if (ec) {
    fs::remove(partial, ec);
    OT_FAIL("{}: cannot move the written {} into place: {}", path, what, ec.message());
  }
  const std::string dir = fs::path(path).parent_path().empty() ? "." : fs::path(path).parent_path().string();
  const int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd >= 0) {
    ::fsync(dir_fd);
    ::close(dir_fd);
  }
}

}  // namespace onnx_train
