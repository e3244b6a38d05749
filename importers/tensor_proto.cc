#include "importers/tensor_proto.h"

#include <cstring>
#include <filesystem>
#include <fstream>

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
  OT_CHECK(!ec, "{}: cannot open the model's folder '{}': {}", context, model_dir, ec.message());
  const fs::path full = dir / loc;
  const fs::path real = fs::canonical(full, ec);
  OT_CHECK(!ec, "{}: external data file '{}' cannot be opened: {}. Keep the data file next to the model.", context,
           full.string(), ec.message());
  OT_CHECK(is_within(dir, real),
           "{}: external data location '{}' resolves to '{}', outside the model's folder '{}' (through a "
           "symbolic link); copy the data file into the model's folder",
           context, location, real.string(), dir.string());
  OT_CHECK(fs::is_regular_file(real), "{}: external data '{}' is not a regular file", context, real.string());
  return real.string();
}

Tensor tensor_from_proto(const onnx::TensorProto& proto, const std::string& model_dir, const std::string& context) {
  const DType dtype = static_cast<DType>(proto.data_type());
  OT_CHECK(dtype_is_supported(dtype), "{}: element type {} is not supported (onnx-train holds {})", context,
           dtype_name(dtype), "float32/64, float16, bfloat16, int8-64, uint8-64 and bool");
  Shape shape(proto.dims().begin(), proto.dims().end());
  for (int64_t d : shape) OT_CHECK(d >= 0, "{}: negative dimension in shape {}", context, shape_str(shape));
  Tensor t(dtype, shape);
  const int64_t n = t.numel();
  const size_t bytes = t.nbytes();

  if (proto.data_location() == onnx::TensorProto::EXTERNAL) {
    std::string location;
    int64_t offset = 0;
    int64_t length = -1;
    for (const auto& entry : proto.external_data()) {
      if (entry.key() == "location")
        location = entry.value();
      else if (entry.key() == "offset")
        offset = std::stoll(entry.value());
      else if (entry.key() == "length")
        length = std::stoll(entry.value());
    }
    const std::string path = resolve_external_data_path(model_dir, location, context);
    if (length < 0) length = static_cast<int64_t>(bytes);
    OT_CHECK(static_cast<size_t>(length) == bytes, "{}: external data length {} does not match {} ({} bytes)", context,
             length, t.describe(), bytes);
    const auto file_size = static_cast<int64_t>(fs::file_size(path));
    OT_CHECK(offset >= 0 && offset + length <= file_size,
             "{}: external data '{}' has {} bytes; the tensor needs bytes {} to {}", context, path, file_size, offset,
             offset + length);
    std::ifstream in(path, std::ios::binary);
    in.seekg(offset);
    in.read(static_cast<char*>(t.raw_data()), static_cast<std::streamsize>(bytes));
    OT_CHECK(in.good() || bytes == 0, "{}: reading external data '{}' failed", context, path);
    return t;
  }

  if (proto.has_raw_data()) {
    OT_CHECK(proto.raw_data().size() == bytes, "{}: raw_data has {} bytes, {} needs {}", context,
             proto.raw_data().size(), t.describe(), bytes);
    if (bytes) std::memcpy(t.raw_data(), proto.raw_data().data(), bytes);
    return t;
  }

  auto check_count = [&](int count) {
    OT_CHECK(count == n, "{}: holds {} values, shape {} needs {}", context, count, shape_str(shape), n);
  };
  switch (dtype) {
    case DType::Float32:
      check_count(proto.float_data_size());
      copy_converted(proto.float_data(), t.data<float>(), n);
      break;
    case DType::Float64:
      check_count(proto.double_data_size());
      copy_converted(proto.double_data(), t.data<double>(), n);
      break;
    case DType::Int64:
      check_count(proto.int64_data_size());
      copy_converted(proto.int64_data(), t.data<int64_t>(), n);
      break;
    case DType::UInt64:
      check_count(proto.uint64_data_size());
      copy_converted(proto.uint64_data(), t.data<uint64_t>(), n);
      break;
    case DType::UInt32:
      check_count(proto.uint64_data_size());
      copy_converted(proto.uint64_data(), t.data<uint32_t>(), n);
      break;
    case DType::Int32:
      check_count(proto.int32_data_size());
      copy_converted(proto.int32_data(), t.data<int32_t>(), n);
      break;
    case DType::Int16:
      check_count(proto.int32_data_size());
      copy_converted(proto.int32_data(), t.data<int16_t>(), n);
      break;
    case DType::UInt16:
      check_count(proto.int32_data_size());
      copy_converted(proto.int32_data(), t.data<uint16_t>(), n);
      break;
    case DType::Int8:
      check_count(proto.int32_data_size());
      copy_converted(proto.int32_data(), t.data<int8_t>(), n);
      break;
    case DType::UInt8:
      check_count(proto.int32_data_size());
      copy_converted(proto.int32_data(), t.data<uint8_t>(), n);
      break;
    case DType::Bool: {
      check_count(proto.int32_data_size());
      bool* out = t.data<bool>();
      for (int64_t i = 0; i < n; ++i) out[i] = proto.int32_data(static_cast<int>(i)) != 0;
      break;
    }
    case DType::Float16:
    case DType::BFloat16: {
      // 16-bit floats are stored as their bit patterns in int32_data.
      check_count(proto.int32_data_size());
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
