#include "importers/proto_io.h"

#include <fcntl.h>
#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "onnx_train/error.h"
#include "runtime/core/resource_limits.h"

namespace onnx_train {

namespace fs = std::filesystem;

void parse_proto_file(const std::string& path, google::protobuf::MessageLite& message, const char* what) {
  std::error_code ec;
  if (!fs::exists(path, ec)) OT_FAIL_AS(ErrorCategory::Io, "{}: no such file", path);
  if (!fs::is_regular_file(path, ec)) OT_FAIL_AS(ErrorCategory::Io, "{}: not a regular file", path);
  // Parsing holds the whole file in memory (tensors stored outside it are checked as they are read).
  const uintmax_t size = fs::file_size(path, ec);
  if (!ec) check_memory_limit(size, fmt::format("{}: the {} file, parsed whole", path, what));
  std::ifstream in(path, std::ios::binary);
  if (!in.good()) OT_FAIL_AS(ErrorCategory::Io, "{}: cannot open for reading", path);
  google::protobuf::io::IstreamInputStream raw(&in);
  google::protobuf::io::CodedInputStream coded(&raw);
  coded.SetTotalBytesLimit(INT_MAX);
  OT_CHECK(message.ParseFromCodedStream(&coded) && coded.ConsumedEntireMessage(),
           "{}: not a valid {} (protobuf parsing failed); is this really an ONNX file? Tensors over 2 GB "
           "must be saved as external data",
           path, what);
}

// Streams `message` into `fd` (protobuf's FileOutputStream writes in 64 KB chunks and retries
// EINTR). Returns 0, or the errno of the write that failed (ENOSPC for a write that made no
// progress), or -1 when protobuf refuses to serialize (a message over 2 GB).
int serialize_to_fd(const google::protobuf::MessageLite& message, int fd) {
  if (message.ByteSizeLong() > static_cast<size_t>(INT_MAX)) return -1;
  google::protobuf::io::FileOutputStream out(fd);
  if (message.SerializeToZeroCopyStream(&out) && out.Flush()) return 0;
  return out.GetErrno() != 0 ? out.GetErrno() : ENOSPC;
}

void write_proto_file(const google::protobuf::MessageLite& message, const std::string& path, const char* what) {
  // Written (streamed: no second copy of a model's bytes in memory), flushed to the disk
  // (fsync) and renamed over the target, and the folder synced: after a crash or power loss
  // the file is the old one or the whole new one.
  // Errors name `path`, the file the user asked for, never the partial file beside it; each
  // errno is taken right after the call that failed, before cleanup calls can overwrite it.
  const std::string partial = path + ".partial";
  const int fd = ::open(partial.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    const int open_errno = errno;
    OT_FAIL_AS(ErrorCategory::Io, "{}: cannot open for writing: {} (does the folder exist and is it writable?)", path,
               std::strerror(open_errno));
  }
  int failed_errno = serialize_to_fd(message, fd);
  if (failed_errno < 0) {
    std::error_code ignored;
    ::close(fd);
    fs::remove(partial, ignored);
    OT_FAIL("{}: serializing the {} failed (protobuf files are limited to 2 GB)", path, what);
  }
  if (failed_errno == 0 && ::fsync(fd) != 0) failed_errno = errno;
  if (::close(fd) != 0 && failed_errno == 0) failed_errno = errno;
  std::error_code ignored;
  if (failed_errno != 0) {
    fs::remove(partial, ignored);
    OT_FAIL_AS(ErrorCategory::Io, "{}: writing the {} failed: {}{}", path, what, std::strerror(failed_errno),
               failed_errno == ENOSPC || failed_errno == EDQUOT ? " (free some space and run again)" : "");
  }
  std::error_code rename_error;
  fs::rename(partial, path, rename_error);
  if (rename_error) {
    fs::remove(partial, ignored);
    OT_FAIL_AS(ErrorCategory::Io, "{}: cannot move the written {} into place: {}{}", path, what, rename_error.message(),
               fs::is_directory(path, ignored) ? " (a folder of that name is in the way; give a file name)" : "");
  }
  const std::string dir = fs::path(path).parent_path().empty() ? "." : fs::path(path).parent_path().string();
  const int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd >= 0) {
    ::fsync(dir_fd);
    ::close(dir_fd);
  }
}

}  // namespace onnx_train
