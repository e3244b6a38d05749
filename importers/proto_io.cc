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
#include <functional>
#include <memory>
#include <vector>

#include <onnx/onnx_pb.h>

#include "importers/tensor_proto.h"
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

HeldTensor::HeldTensor(Tensor value) : value_(std::move(value)) {}

HeldTensor::HeldTensor(DeferredTensor deferred) : deferred_(std::move(deferred)), is_deferred_(true) {}

DType HeldTensor::dtype() const { return is_deferred_ ? deferred_.dtype : value_.dtype(); }

const Shape& HeldTensor::shape() const { return is_deferred_ ? deferred_.shape : value_.shape(); }

size_t HeldTensor::nbytes() const {
  return is_deferred_ ? static_cast<size_t>(shape_numel(deferred_.shape)) * dtype_size(deferred_.dtype)
                      : value_.nbytes();
}

Tensor HeldTensor::value() const {
  if (!is_deferred_) return value_;
  Tensor made = deferred_.make();
  OT_CHECK(made.dtype() == deferred_.dtype && made.shape() == deferred_.shape,
           "internal: a deferred tensor was made as {} {}, not the {} {} it was written as", dtype_name(made.dtype()),
           fmt::join(made.shape(), "x"), dtype_name(deferred_.dtype), fmt::join(deferred_.shape, "x"));
  return made;
}

ExternalData::ExternalData(const std::string& path)
    : data_path_(path + ".data"), location_(fs::path(data_path_).filename().string()) {}

namespace {

// `proto` (its name and doc string kept) with `tensor`'s dtype and dims and nothing else.
void set_header(onnx::TensorProto& proto, const HeldTensor& tensor) {
  const std::string name = proto.name(), doc = proto.doc_string();
  proto.Clear();
  proto.set_name(name);
  if (!doc.empty()) proto.set_doc_string(doc);
  proto.set_data_type(static_cast<int32_t>(tensor.dtype()));
  for (int64_t d : tensor.shape()) proto.add_dims(d);
}

}  // namespace

void ExternalData::place(const HeldTensor& tensor, onnx::TensorProto& proto) {
  if (tensor.nbytes() < kInlineBelow) {
    tensor_to_proto(tensor.value(), proto);
    return;
  }
  // The fields tensor_to_proto sets, with a reference to the data file for the bytes.
  set_header(proto, tensor);
  const uint64_t offset = (size_ + kAlignment - 1) / kAlignment * kAlignment;
  proto.set_data_location(onnx::TensorProto::EXTERNAL);
  auto entry = [&](const char* key, const std::string& value) {
    auto* e = proto.add_external_data();
    e->set_key(key);
    e->set_value(value);
  };
  entry("location", location_);
  entry("offset", std::to_string(offset));
  entry("length", std::to_string(tensor.nbytes()));
  pieces_.push_back({offset, tensor});
  size_ = offset + tensor.nbytes();
}

void InlineTensors::place(const HeldTensor& tensor, onnx::TensorProto& proto) {
  if (tensor.nbytes() < kHeldFrom || tensor.dtype() == DType::String) {
    tensor_to_proto(tensor.value(), proto);
    return;
  }
  OT_CHECK(!proto.name().empty() && held_.count(proto.name()) == 0,
           "internal: an inline tensor is held by the name '{}', which is empty or taken", proto.name());
  set_header(proto, tensor);
  proto.set_data_location(onnx::TensorProto::DEFAULT);  // as tensor_to_proto writes it
  held_.emplace(proto.name(), tensor);
}

bool use_external_data(ExternalDataMode mode, bool source_external, uint64_t bytes, const std::string& path,
                       const char* what) {
  switch (mode) {
    case ExternalDataMode::Always: return true;
    case ExternalDataMode::Auto: return source_external || bytes > kExternalDataAutoBytes;
    case ExternalDataMode::Never:
      // Protobuf serializes at most INT_MAX bytes; the graph needs some too.
      OT_CHECK(bytes < static_cast<uint64_t>(INT_MAX),
               "{}: the {}'s tensors take {:.2f} GB, more than one protobuf file can hold (2 GB); write it with "
               "external data (--external-data auto or always)",
               path, what, static_cast<double>(bytes) / 1e9);
      return false;
  }
  return false;
}

namespace {

// Writes all of [data, data + size) at `offset` of `fd` (pwrite may write less, and be
// interrupted). Returns 0 or the errno of the write that failed.
int write_all_at(int fd, const char* data, size_t size, uint64_t offset) {
  while (size > 0) {
    const ssize_t n = ::pwrite(fd, data, std::min<size_t>(size, size_t{1} << 30), static_cast<off_t>(offset));
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    if (n == 0) return ENOSPC;
    data += n;
    size -= static_cast<size_t>(n);
    offset += static_cast<uint64_t>(n);
  }
  return 0;
}

// The data file's tensors at their offsets (the gaps between them are holes, read as zeros),
// into `partial`, synced. Returns 0 or the errno that failed; `partial` is removed on failure.
int write_data_file(const ExternalData& data, const std::string& partial) {
  const int fd = ::open(partial.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return errno;
  int failed = 0;
  try {
    for (const auto& piece : data.pieces()) {
      const Tensor value = piece.tensor.value();  // a deferred one exists from here to the next
      failed = write_all_at(fd, static_cast<const char*>(value.raw_data()), value.nbytes(), piece.offset);
      if (failed != 0) break;
    }
  } catch (...) {
    ::close(fd);
    std::error_code ignored;
    fs::remove(partial, ignored);
    throw;
  }
  if (failed == 0 && ::ftruncate(fd, static_cast<off_t>(data.size())) != 0) failed = errno;
  if (failed == 0 && ::fsync(fd) != 0) failed = errno;
  if (::close(fd) != 0 && failed == 0) failed = errno;
  if (failed != 0) {
    std::error_code ignored;
    fs::remove(partial, ignored);
  }
  return failed;
}

std::string space_hint(int error) {
  return error == ENOSPC || error == EDQUOT ? " (free some space and run again)" : "";
}

}  // namespace

namespace {

// write_proto_file with `serialize(fd)` writing the file's bytes: it returns 0, an errno, or -1
// for a message protobuf cannot write (over 2 GB).
void write_file_whole(const std::string& path, const char* what, const ExternalData* data,
                      const std::function<int(int)>& serialize) {
  // Written (streamed: no second copy of a model's bytes in memory), flushed to the disk
  // (fsync) and renamed over the target, and the folder synced: after a crash or power loss
  // the file is the old one or the whole new one.
  // Errors name `path`, the file the user asked for, never the partial file beside it; each
  // errno is taken right after the call that failed, before cleanup calls can overwrite it.
  // With external data, the data file comes first (under a partial name too): the model file
  // must never be in place without the bytes it refers to.
  std::error_code ignored;
  const std::string data_partial = data != nullptr ? data->data_path() + ".partial" : "";
  if (data != nullptr) {
    OT_CHECK(data->data_path() == path + ".data", "{}: the external data was laid out for '{}'", path,
             data->data_path());
    const int data_errno = write_data_file(*data, data_partial);
    if (data_errno != 0)
      OT_FAIL_AS(ErrorCategory::Io, "{}: writing the {}'s external data '{}' failed: {}{}", path, what,
                 data->data_path(), std::strerror(data_errno), space_hint(data_errno));
  }
  const std::string partial = path + ".partial";
  const int fd = ::open(partial.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    const int open_errno = errno;
    if (data != nullptr) fs::remove(data_partial, ignored);
    OT_FAIL_AS(ErrorCategory::Io, "{}: cannot open for writing: {} (does the folder exist and is it writable?)", path,
               std::strerror(open_errno));
  }
  int failed_errno = 0;
  try {
    failed_errno = serialize(fd);
  } catch (...) {  // a deferred tensor that could not be made
    ::close(fd);
    fs::remove(partial, ignored);
    if (data != nullptr) fs::remove(data_partial, ignored);
    throw;
  }
  if (failed_errno < 0) {
    ::close(fd);
    fs::remove(partial, ignored);
    if (data != nullptr) fs::remove(data_partial, ignored);
    OT_FAIL("{}: serializing the {} failed (protobuf files are limited to 2 GB; larger models are written with "
            "external data: --external-data auto or always)",
            path, what);
  }
  if (failed_errno == 0 && ::fsync(fd) != 0) failed_errno = errno;
  if (::close(fd) != 0 && failed_errno == 0) failed_errno = errno;
  if (failed_errno != 0) {
    fs::remove(partial, ignored);
    if (data != nullptr) fs::remove(data_partial, ignored);
    OT_FAIL_AS(ErrorCategory::Io, "{}: writing the {} failed: {}{}", path, what, std::strerror(failed_errno),
               space_hint(failed_errno));
  }
  std::error_code rename_error;
  if (data != nullptr) {
    fs::rename(data_partial, data->data_path(), rename_error);
    if (rename_error) {
      fs::remove(partial, ignored);
      fs::remove(data_partial, ignored);
      OT_FAIL_AS(ErrorCategory::Io, "{}: cannot move the written external data into place as '{}': {}", path,
                 data->data_path(), rename_error.message());
    }
  }
  fs::rename(partial, path, rename_error);
  if (rename_error) {
    fs::remove(partial, ignored);
    // The data file just renamed belongs to the model file that could not be put in place.
    if (data != nullptr) fs::remove(data->data_path(), ignored);
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

size_t varint_size(uint64_t v) { return google::protobuf::io::CodedOutputStream::VarintSize64(v); }

// The size of a length-delimited field (tag, length, `bytes` of payload) of field number < 16.
uint64_t field_size(uint64_t bytes) { return 1 + varint_size(bytes) + bytes; }

// Writes `model` into `fd` with the bytes of each initializer `held` holds streamed from its
// tensor. Protobuf's wire format lets a message's fields come in any order, so the file is the
// model's fields other than `graph`, then `graph` (field 7) as its fields other than
// `initializer`, then each initializer (field 5) as its fields, then `raw_data` (field 9) from the
// tensor. Every length is known before its bytes: the held tensors' sizes come from dtype and shape.
// Returns as serialize_to_fd does.
int serialize_model_streamed(onnx::ModelProto& model, const InlineTensors& held, int fd) {
  using google::protobuf::io::CodedOutputStream;
  constexpr uint32_t kGraphTag = (7 << 3) | 2, kInitializerTag = (5 << 3) | 2, kRawDataTag = (9 << 3) | 2;
  // Taken apart here, put back on every way out.
  std::unique_ptr<onnx::GraphProto> graph(model.release_graph());
  google::protobuf::RepeatedPtrField<onnx::TensorProto> initializers;
  graph->mutable_initializer()->Swap(&initializers);
  struct Restore {
    onnx::ModelProto& model;
    std::unique_ptr<onnx::GraphProto>& graph;
    google::protobuf::RepeatedPtrField<onnx::TensorProto>& initializers;
    ~Restore() {
      graph->mutable_initializer()->Swap(&initializers);
      model.set_allocated_graph(graph.release());
    }
  } restore{model, graph, initializers};

  std::vector<const HeldTensor*> streamed(static_cast<size_t>(initializers.size()), nullptr);
  std::vector<uint64_t> tensor_sizes(streamed.size());
  uint64_t graph_size = graph->ByteSizeLong();
  size_t found = 0;
  for (int i = 0; i < initializers.size(); ++i) {
    const onnx::TensorProto& t = initializers.Get(i);
    const auto it = held.held().find(t.name());
    if (it != held.held().end() && t.raw_data().empty()) {
      streamed[i] = &it->second;
      ++found;
    }
    tensor_sizes[i] = t.ByteSizeLong() + (streamed[i] != nullptr ? field_size(streamed[i]->nbytes()) : 0);
    graph_size += field_size(tensor_sizes[i]);
  }
  OT_CHECK(found == held.held().size(), "internal: {} of the {} held tensors are no initializers of the graph written",
           held.held().size() - found, held.held().size());
  const uint64_t total = model.ByteSizeLong() + field_size(graph_size);
  if (total > static_cast<uint64_t>(INT_MAX)) return -1;  // what protobuf readers refuse

  google::protobuf::io::FileOutputStream out(fd);
  {
    CodedOutputStream coded(&out);
    model.SerializeWithCachedSizes(&coded);
    coded.WriteTag(kGraphTag);
    coded.WriteVarint64(graph_size);
    graph->SerializeWithCachedSizes(&coded);
    for (int i = 0; i < initializers.size() && !coded.HadError(); ++i) {
      coded.WriteTag(kInitializerTag);
      coded.WriteVarint64(tensor_sizes[i]);
      initializers.Get(i).SerializeWithCachedSizes(&coded);
      if (streamed[i] == nullptr) continue;
      const Tensor value = streamed[i]->value();  // a deferred one exists from here to the next
      coded.WriteTag(kRawDataTag);
      coded.WriteVarint64(value.nbytes());
      coded.WriteRaw(value.raw_data(), static_cast<int>(value.nbytes()));
    }
    if (!coded.HadError() && static_cast<uint64_t>(coded.ByteCount()) != total)
      OT_FAIL("internal: the streamed model took {} bytes, not the {} laid out", coded.ByteCount(), total);
  }
  if (out.Flush()) return 0;
  return out.GetErrno() != 0 ? out.GetErrno() : ENOSPC;
}

}  // namespace

void write_proto_file(const google::protobuf::MessageLite& message, const std::string& path, const char* what,
                      const ExternalData* data) {
  write_file_whole(path, what, data, [&](int fd) { return serialize_to_fd(message, fd); });
}

void write_model_file(onnx::ModelProto& model, const std::string& path, const char* what, const ExternalData* data,
                      const InlineTensors* inline_tensors) {
  if (inline_tensors == nullptr || inline_tensors->held().empty()) return write_proto_file(model, path, what, data);
  write_file_whole(path, what, data,
                   [&](int fd) { return serialize_model_streamed(model, *inline_tensors, fd); });
}

}  // namespace onnx_train
