#include "importers/tensor_proto.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <utility>
#include <vector>

#include "onnx_train/printable.h"
#include "runtime/core/checked_math.h"
#include "runtime/core/resource_limits.h"

namespace onnx_train {

namespace fs = std::filesystem;

namespace {

// True when `path` is `dir` or lies below it (both already canonical).
bool is_within(const fs::path& dir, const fs::path& path) {
  auto d = dir.begin();
  auto p = path.begin();
  for (; d != dir.end(); ++d, ++p) {
    if (p == path.end() || *d != *p) return false;
  }
  return true;
}

template <typename Src, typename Dst>
void copy_converted(const Src& src, Dst* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = static_cast<Dst>(src.Get(static_cast<int>(i)));
}

}  // namespace

std::string resolve_external_data_path(const std::string& model_dir, const std::string& location,
                                       const std::string& context) {
  const fs::path loc(location);
  OT_CHECK(!location.empty(), "{}: external data has no location", context);
  OT_CHECK(!loc.is_absolute(),
           "{}: external data location '{}' is an absolute path; locations must be relative to the "
           "model's folder '{}'",
           context, location, model_dir);
  for (const auto& part : loc)
    OT_CHECK(part != "..", "{}: external data location '{}' leaves the model's folder '{}' ('..' is not allowed)",
             context, location, model_dir);
  std::error_code ec;
  const fs::path dir = fs::canonical(model_dir.empty() ? fs::path(".") : fs::path(model_dir), ec);
  if (ec)
    OT_FAIL_AS(ErrorCategory::Io, "{}: cannot open the model's folder '{}': {}", context, model_dir, ec.message());
  const fs::path full = dir / loc;
  const fs::path real = fs::canonical(full, ec);
  if (ec)
    OT_FAIL_AS(ErrorCategory::Io,
               "{}: external data file '{}' cannot be opened: {}. Keep the data file next to the model.", context,
               full.string(), ec.message());
  OT_CHECK(is_within(dir, real),
           "{}: external data location '{}' resolves to '{}', outside the model's folder '{}' (through a "
           "symbolic link); copy the data file into the model's folder",
           context, location, real.string(), dir.string());
  OT_CHECK(fs::is_regular_file(real), "{}: external data '{}' is not a regular file", context, real.string());
  return real.string();
}

namespace {

// An external-data `offset` or `length`: a whole, non-negative number of bytes, and nothing
// else ("12abc" is not 12).
int64_t parse_external_number(const std::string& value, const std::string& key, const std::string& context) {
  int64_t number = -1;
  const char* end = value.data() + value.size();
  const auto [stop, ec] = std::from_chars(value.data(), end, number);
  OT_CHECK(ec != std::errc::result_out_of_range,
           "{}: external data {} '{}' is too large for a byte position (over 2^63); the model file is corrupt",
           context, key, printable_bytes(value));
  OT_CHECK(ec == std::errc() && stop == end && number >= 0,
           "{}: external data {} '{}' is not a byte count (a whole number >= 0); fix the {} entry of the tensor's "
           "external_data or save the model again",
           context, key, printable_bytes(value), key);
  return number;
}

// Where a tensor's external bytes are, checked against the file: no overflow in
// offset + length, and the bytes all inside the file.
struct ExternalBytes {
  std::string path;
  int64_t offset = 0;
};

ExternalBytes locate_external_bytes(const onnx::TensorProto& proto, size_t bytes, const std::string& description,
                                    const std::string& model_dir, const std::string& context) {
  std::string location;
  int64_t offset = 0;
  int64_t length = -1;
  for (const auto& entry : proto.external_data()) {
    if (entry.key() == "location")
      location = entry.value();
    else if (entry.key() == "offset")
      offset = parse_external_number(entry.value(), "offset", context);
    else if (entry.key() == "length")
      length = parse_external_number(entry.value(), "length", context);
  }
  const std::string path = resolve_external_data_path(model_dir, location, context);
  if (length < 0) length = static_cast<int64_t>(bytes);
  OT_CHECK(static_cast<uint64_t>(length) == bytes, "{}: external data length {} does not match {} ({} bytes)",
           context, length, description, bytes);
  std::error_code ec;
  const uintmax_t file_size = fs::file_size(path, ec);
  if (ec)
    OT_FAIL_AS(ErrorCategory::Io, "{}: cannot read the size of external data '{}': {}", context, path, ec.message());
  // Compared as offset <= size and length <= size - offset, which cannot overflow.
  OT_CHECK(static_cast<uintmax_t>(offset) <= file_size && static_cast<uintmax_t>(length) <= file_size - offset,
           "{}: external data '{}' has {} bytes; {} needs {} bytes from offset {}", context, path, file_size,
           description, length, offset);
  return {path, offset};
}

// The number of values a typed field (float_data, int32_data, ...) must hold for `dtype`.
int typed_count(const onnx::TensorProto& proto, DType dtype) {
  switch (dtype) {
    case DType::Float32: return proto.float_data_size();
    case DType::Float64: return proto.double_data_size();
    case DType::Int64: return proto.int64_data_size();
    case DType::UInt64:
    case DType::UInt32: return proto.uint64_data_size();
    default: return proto.int32_data_size();  // int8-32, uint8-16, bool, float16, bfloat16
  }
}

// What tensor_from_proto needs once a TensorProto's sizes are known to be consistent.
struct CheckedProto {
  DType dtype = DType::Undefined;
  Shape shape;
  int64_t numel = 0;
  size_t bytes = 0;
  ExternalBytes external;  // path set for external data
};

CheckedProto check_proto(const onnx::TensorProto& proto, const std::string& model_dir, const std::string& context) {
  CheckedProto c;
  c.dtype = static_cast<DType>(proto.data_type());
  // A type ONNX defines that the runtime does not hold (string, complex) is Unsupported; a number
  // no ONNX type has is a damaged file, whose category the boundary (model, data, checkpoint) gives.
  const bool onnx_type = proto.data_type() > 0 && onnx::TensorProto::DataType_IsValid(proto.data_type());
  if (!dtype_is_supported(c.dtype))
    OT_FAIL_AS(onnx_type ? ErrorCategory::Unsupported : ErrorCategory::Unspecified,
               "{}: element type {} is not supported (onnx-train holds {})", context, dtype_name(c.dtype),
               "float32/64, float16, bfloat16, int8-64, uint8-64 and bool");
  c.shape.assign(proto.dims().begin(), proto.dims().end());
  for (int64_t d : c.shape) OT_CHECK(d >= 0, "{}: negative dimension in shape {}", context, shape_str(c.shape));
  c.bytes = checked_nbytes(c.shape, c.dtype, context);
  c.numel = checked_numel(c.shape, context);
  const std::string description = fmt::format("{}{}", dtype_name(c.dtype), shape_str(c.shape));
  if (proto.data_location() == onnx::TensorProto::EXTERNAL) {
    c.external = locate_external_bytes(proto, c.bytes, description, model_dir, context);
  } else if (proto.has_raw_data()) {
    OT_CHECK(proto.raw_data().size() == c.bytes, "{}: raw_data has {} bytes, {} needs {}", context,
             proto.raw_data().size(), description, c.bytes);
  } else {
    const int count = typed_count(proto, c.dtype);
    OT_CHECK(count == c.numel, "{}: holds {} values, shape {} needs {}", context, count, shape_str(c.shape), c.numel);
  }
  // A consistent tensor the machine cannot hold is refused as one, before anything is read or
  // allocated (an inconsistent one is a corrupt file, said above).
  check_memory_limit(c.bytes, fmt::format("{} ({})", context, description));
  return c;
}

// A whole external data file mapped copy-on-write (MAP_PRIVATE, PROT_READ | PROT_WRITE): the
// tensors over it are ordinary writable tensors (the optimizer updates them in place, which
// copies just the touched pages into anonymous memory), the file itself never changes, and the
// weights take no second copy in memory (clean pages are the page cache's, dropped and re-read
// under memory pressure). One mapping per file, shared by all its tensors and unmapped when
// the last of them goes.
struct MappedFile {
  void* base = nullptr;
  size_t size = 0;
  MappedFile(void* b, size_t s) : base(b), size(s) {}
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  ~MappedFile() {
    if (base != nullptr) ::munmap(base, size);
  }
};

// The mapping of `path`, whose bytes [offset, offset + bytes) the caller needs (already checked
// against the file's size once; checked again on the open file, which may have changed since).
std::shared_ptr<MappedFile> map_file(const std::string& path, int64_t offset, size_t bytes,
                                     const std::string& context) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int open_errno = errno;
    OT_FAIL_AS(ErrorCategory::Io, "{}: cannot open external data '{}': {}", context, path, std::strerror(open_errno));
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int stat_errno = errno;
    ::close(fd);
    OT_FAIL_AS(ErrorCategory::Io, "{}: cannot read the size of external data '{}': {}", context, path,
               std::strerror(stat_errno));
  }
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  if (static_cast<uint64_t>(offset) > size || bytes > size - static_cast<uint64_t>(offset)) {
    ::close(fd);
    OT_FAIL("{}: external data '{}' has {} bytes (it changed while being read); {} bytes from offset {} are needed",
            context, path, size, bytes, offset);
  }
  void* base = ::mmap(nullptr, static_cast<size_t>(size), PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
  const int map_errno = errno;
  ::close(fd);  // the mapping keeps the file
  if (base == MAP_FAILED)
    OT_FAIL_AS(ErrorCategory::Io, "{}: cannot map external data '{}' ({} bytes) into memory: {}", context, path, size,
               std::strerror(map_errno));
  return std::make_shared<MappedFile>(base, static_cast<size_t>(size));
}

thread_local ExternalDataMappings* active_mappings = nullptr;

}  // namespace

// Each file once per scope, by its canonical path (resolve_external_data_path); and per file the
// byte ranges already handed out, so that two tensors never share bytes (an initializer trained in
// place must not change another that a hand-made file stored at the same offset).
struct ExternalDataMappings::Files {
  struct File {
    std::shared_ptr<MappedFile> mapped;
    std::vector<std::pair<uint64_t, uint64_t>> used;  // [begin, end) of the tensors over it
  };
  std::map<std::string, File> by_path;
};

ExternalDataMappings::ExternalDataMappings() : files_(std::make_unique<Files>()), outer_(active_mappings) {
  active_mappings = this;
}

ExternalDataMappings::~ExternalDataMappings() { active_mappings = outer_; }

namespace {

// `bytes` at `offset` of `path` as a tensor over the scope's mapping of the file, or an empty
// tensor when those bytes overlap another tensor's (the caller copies them).
Tensor mapped_tensor(ExternalDataMappings::Files& files, const std::string& path, int64_t offset, size_t bytes,
                     DType dtype, const Shape& shape, const std::string& context) {
  auto& file = files.by_path[path];
  if (!file.mapped) file.mapped = map_file(path, offset, bytes, context);
  const uint64_t begin = static_cast<uint64_t>(offset), end = begin + bytes;
  OT_CHECK(end <= file.mapped->size, "{}: external data '{}' has {} bytes; {} bytes from offset {} are needed",
           context, path, file.mapped->size, bytes, offset);
  for (const auto& [b, e] : file.used)
    if (begin < e && b < end) return Tensor();
  file.used.emplace_back(begin, end);
  void* data = static_cast<char*>(file.mapped->base) + offset;
  return Tensor::wrap(dtype, shape, std::shared_ptr<void>(file.mapped, file.mapped->base), data);
}

// The storage for a checked tensor; running out of memory names the tensor.
Tensor allocate(const CheckedProto& c, const std::string& context) {
  try {
    return Tensor(c.dtype, c.shape);
  } catch (const Error& e) {
    throw Error(fmt::format("{}: {}", context, e.what()), e.category());
  }
}

}  // namespace

size_t check_tensor_proto(const onnx::TensorProto& proto, const std::string& model_dir, const std::string& context) {
  return check_proto(proto, model_dir, context).bytes;
}

Tensor tensor_from_proto(const onnx::TensorProto& proto, const std::string& model_dir, const std::string& context) {
  // Every size is checked against the bytes that are really there before anything is
  // allocated: a 200-byte model that declares [16, 50000000] must not take 3 GB first.
  const CheckedProto c = check_proto(proto, model_dir, context);
  const DType dtype = c.dtype;
  const int64_t n = c.numel;
  // External bytes at an offset that is a multiple of the element size are used where they are
  // (the mapping is page-aligned, so every element is aligned; no kernel needs more: oneDNN takes
  // user memory at any address). Other offsets, and empty tensors, are read into a copy.
  if (!c.external.path.empty() && c.bytes > 0 && c.external.offset % static_cast<int64_t>(dtype_size(dtype)) == 0) {
    std::optional<ExternalDataMappings> own;  // no caller's scope: this tensor's own mapping
    if (active_mappings == nullptr) own.emplace();
    Tensor mapped = mapped_tensor(*active_mappings->files_, c.external.path, c.external.offset, c.bytes, dtype,
                                  c.shape, context);
    if (mapped.defined()) return mapped;
  }
  Tensor t = allocate(c, context);
  if (!c.external.path.empty()) {
    std::ifstream in(c.external.path, std::ios::binary);
    in.seekg(c.external.offset);
    in.read(static_cast<char*>(t.raw_data()), static_cast<std::streamsize>(c.bytes));
    OT_CHECK(in.good() || c.bytes == 0, "{}: reading external data '{}' failed", context, c.external.path);
    return t;
  }
  if (proto.has_raw_data()) {
    if (c.bytes) std::memcpy(t.raw_data(), proto.raw_data().data(), c.bytes);
    return t;
  }
  switch (dtype) {
    case DType::Float32:
      copy_converted(proto.float_data(), t.data<float>(), n);
      break;
    case DType::Float64:
      copy_converted(proto.double_data(), t.data<double>(), n);
      break;
    case DType::Int64:
      copy_converted(proto.int64_data(), t.data<int64_t>(), n);
      break;
    case DType::UInt64:
      copy_converted(proto.uint64_data(), t.data<uint64_t>(), n);
      break;
    case DType::UInt32:
      copy_converted(proto.uint64_data(), t.data<uint32_t>(), n);
      break;
    case DType::Int32:
      copy_converted(proto.int32_data(), t.data<int32_t>(), n);
      break;
    case DType::Int16:
      copy_converted(proto.int32_data(), t.data<int16_t>(), n);
      break;
    case DType::UInt16:
      copy_converted(proto.int32_data(), t.data<uint16_t>(), n);
      break;
    case DType::Int8:
      copy_converted(proto.int32_data(), t.data<int8_t>(), n);
      break;
    case DType::UInt8:
      copy_converted(proto.int32_data(), t.data<uint8_t>(), n);
      break;
    case DType::Bool: {
      bool* out = t.data<bool>();
      for (int64_t i = 0; i < n; ++i) out[i] = proto.int32_data(static_cast<int>(i)) != 0;
      break;
    }
    case DType::Float16:
    case DType::BFloat16: {
      // 16-bit floats are stored as their bit patterns in int32_data.
      auto* out = static_cast<uint16_t*>(t.raw_data());
      for (int64_t i = 0; i < n; ++i) out[i] = static_cast<uint16_t>(proto.int32_data(static_cast<int>(i)));
      break;
    }
    default: OT_FAIL("{}: element type {} is not supported", context, dtype_name(dtype));
  }
  return t;
}

void tensor_to_proto(const Tensor& tensor, onnx::TensorProto& proto) {
  proto.set_data_type(static_cast<int32_t>(tensor.dtype()));
  proto.clear_dims();
  for (int64_t d : tensor.shape()) proto.add_dims(d);
  proto.clear_float_data();
  proto.clear_int32_data();
  proto.clear_int64_data();
  proto.clear_double_data();
  proto.clear_uint64_data();
  proto.clear_external_data();
  proto.set_data_location(onnx::TensorProto::DEFAULT);
  proto.set_raw_data(static_cast<const char*>(tensor.raw_data()), tensor.nbytes());
}

}  // namespace onnx_train
