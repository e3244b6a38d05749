// MNIST-style IDX files: the magic 0x00 0x00 TYPE NDIM, NDIM big-endian uint32 dimensions,
// then the values, row-major and big-endian. TYPE: 0x08 uint8, 0x09 int8, 0x0B int16,
// 0x0C int32, 0x0D float32, 0x0E float64. Plain or gzip-compressed (zlib's gz* functions
// read both), and read whole into memory at open: MNIST-sized data is tens of megabytes, and
// reading a sample is then a copy.
#include <zlib.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <filesystem>
#include <optional>
#include <system_error>

#include "importers/data/formats.h"
#include "importers/data/image_fields.h"
#include "runtime/core/checked_math.h"
#include "runtime/core/dispatch.h"
#include "runtime/core/resource_limits.h"

namespace onnx_train {

namespace {

struct IdxType {
  uint8_t code;
  DType dtype;
};

constexpr IdxType kIdxTypes[] = {{0x08, DType::UInt8}, {0x09, DType::Int8},    {0x0B, DType::Int16},
                                 {0x0C, DType::Int32}, {0x0D, DType::Float32}, {0x0E, DType::Float64}};

std::optional<DType> idx_dtype(uint8_t code) {
  for (const IdxType& t : kIdxTypes)
    if (t.code == code) return t.dtype;
  return std::nullopt;
}

// Calls f(TypeTag<T>{}) for the element type of an IDX dtype.
template <typename F>
void visit_idx_dtype(DType dtype, F&& f) {
  switch (dtype) {
    case DType::UInt8: f(TypeTag<uint8_t>{}); return;
    case DType::Int8: f(TypeTag<int8_t>{}); return;
    case DType::Int16: f(TypeTag<int16_t>{}); return;
    case DType::Int32: f(TypeTag<int32_t>{}); return;
    case DType::Float32: f(TypeTag<float>{}); return;
    case DType::Float64: f(TypeTag<double>{}); return;
    default: OT_FAIL("IDX files hold no {} values", dtype_name(dtype));
  }
}

// A file read through zlib, which inflates gzip data and passes other files through.
class GzReader {
 public:
  explicit GzReader(const std::string& path) : path_(path), file_(gzopen(path.c_str(), "rb")) {
    if (file_ == nullptr)
      OT_FAIL_AS(ErrorCategory::Io, "{}: cannot open: {}", path, std::generic_category().message(errno));
    gzbuffer(file_, 1 << 18);
  }
  ~GzReader() { gzclose(file_); }
  GzReader(const GzReader&) = delete;
  GzReader& operator=(const GzReader&) = delete;

  // Reads up to `size` bytes to `out`; fewer only at the end of the data.
  size_t read(void* out, size_t size) {
    size_t total = 0;
    while (total < size) {
      const unsigned chunk = static_cast<unsigned>(std::min<size_t>(size - total, 1u << 30));
      const int got = gzread(file_, static_cast<char*>(out) + total, chunk);
      if (got < 0) {
        int code = 0;
        OT_FAIL("{}: corrupt gzip data ({}); re-download or re-compress the file", path_, gzerror(file_, &code));
      }
      if (got == 0) break;
      total += static_cast<size_t>(got);
    }
    return total;
  }
  bool compressed() { return gzdirect(file_) == 0; }

 private:
  std::string path_;
  gzFile file_;
};

// MNIST's names (train-images-idx3-ubyte, t10k-labels.idx1-ubyte.gz): a file named so that
// does not start like IDX is a broken IDX file rather than another format's.
bool named_like_idx(const std::string& path) {
  const std::string name = ascii_lower(std::filesystem::path(path).filename().string());
  if (name.find("ubyte") != std::string::npos) return true;
  for (size_t at = name.find("idx"); at != std::string::npos; at = name.find("idx", at + 1))
    if (at + 3 < name.size() && std::isdigit(static_cast<unsigned char>(name[at + 3]))) return true;
  return false;
}

std::string hex_bytes(const uint8_t* bytes, size_t count) {
  std::string out;
  for (size_t i = 0; i < count; ++i) out += fmt::format("{}{:02x}", i == 0 ? "" : " ", bytes[i]);
  return count == 0 ? "none (the file is empty)" : out;
}

template <typename UInt>
void swap_bytes(uint8_t* data, size_t count) {
  for (size_t i = 0; i < count; ++i) {
    UInt v;
    std::memcpy(&v, data + i * sizeof(UInt), sizeof(UInt));
    if constexpr (sizeof(UInt) == 2) v = __builtin_bswap16(v);
    if constexpr (sizeof(UInt) == 4) v = __builtin_bswap32(v);
    if constexpr (sizeof(UInt) == 8) v = __builtin_bswap64(v);
    std::memcpy(data + i * sizeof(UInt), &v, sizeof(UInt));
  }
}

// Big-endian values (IDX's order) to the host's order, in place.
void to_host_order(std::vector<uint8_t>& values, size_t element_size) {
  const uint16_t one = 1;
  uint8_t first_byte = 0;
  std::memcpy(&first_byte, &one, 1);
  if (first_byte == 0) return;  // big-endian host
  const size_t count = values.size() / element_size;
  if (element_size == 2) swap_bytes<uint16_t>(values.data(), count);
  if (element_size == 4) swap_bytes<uint32_t>(values.data(), count);
  if (element_size == 8) swap_bytes<uint64_t>(values.data(), count);
}

// An IDX file in memory: dims[0] samples of shape dims[1:], values in the host's byte order.
struct IdxArray {
  std::string path;
  DType dtype = DType::UInt8;
  Shape dims;
  std::vector<uint8_t> values;

  int64_t samples() const { return dims[0]; }
  Shape sample_shape() const { return Shape(dims.begin() + 1, dims.end()); }
  std::string description() const { return fmt::format("{} {}", dtype_name(dtype), shape_str(dims)); }
};

// The IDX file at `path`, or nullopt when it is another format's file.
std::optional<IdxArray> read_idx_file(const std::string& path) {
  GzReader reader(path);
  uint8_t magic[4] = {};
  const size_t magic_size = reader.read(magic, 4);
  const std::optional<DType> dtype =
      magic_size == 4 && magic[0] == 0 && magic[1] == 0 && magic[3] > 0 ? idx_dtype(magic[2]) : std::nullopt;
  if (!dtype) {
    if (!named_like_idx(path)) return std::nullopt;
    OT_FAIL(
        "{}: named like an IDX file but not one: it starts with bytes {}, where IDX files start with 00 00, a type "
        "code (08 uint8, 09 int8, 0b int16, 0c int32, 0d float32, 0e float64) and the number of dimensions; "
        "re-download the file or rename it if it is not IDX data",
        path, hex_bytes(magic, magic_size));
  }
  IdxArray array;
  array.path = path;
  array.dtype = *dtype;
  const bool compressed = reader.compressed();
  const char* bytes_kind = compressed ? "decompressed bytes" : "bytes";

  const size_t rank = magic[3];
  std::vector<uint8_t> header(4 * rank);
  const size_t header_size = reader.read(header.data(), header.size());
  OT_CHECK(header_size == header.size(),
           "{}: truncated IDX header: {} dimensions need {} {} after the magic number, the file has {}; re-download "
           "the file",
           path, rank, header.size(), bytes_kind, header_size);
  for (size_t d = 0; d < rank; ++d) {
    const uint8_t* b = header.data() + 4 * d;
    array.dims.push_back((int64_t{b[0]} << 24) | (int64_t{b[1]} << 16) | (int64_t{b[2]} << 8) | b[3]);
  }
  const uint64_t total = checked_nbytes(array.dims, array.dtype, path + ": IDX header of impossible size");
  OT_CHECK(array.dims[0] > 0 && shape_numel(array.sample_shape()) > 0,
           "{}: the IDX file holds no values (shape {}); a data file needs at least one sample", path,
           shape_str(array.dims));
  const size_t element_size = dtype_size(array.dtype);
  const uint64_t sample_bytes = static_cast<uint64_t>(shape_numel(array.sample_shape())) * element_size;
  const uint64_t header_bytes = 4 + header.size();
  const std::string says = fmt::format("its header says {} ({} {} after the {}-byte header)", array.description(),
                                       total, bytes_kind, header_bytes);

  // The header is checked against what the file can hold before any memory is taken for the
  // values: a plain file holds its size less the header, and deflate expands data at most
  // 1032-fold, so a gzip file of N bytes holds at most 1032 N. Within that bound, memory
  // grows only as data arrives.
  std::error_code ec;
  const uint64_t file_size = std::filesystem::file_size(path, ec);
  if (!ec) {
    const uint64_t most = compressed ? file_size * 1032 : file_size;
    const uint64_t holds = most > header_bytes ? most - header_bytes : 0;
    if (compressed)
      OT_CHECK(total <= holds,
               "{}: truncated IDX file: {}, but a gzip file of {} bytes inflates to at most {} bytes (deflate expands "
               "data at most 1032-fold); re-download the file",
               path, says, file_size, most);
    else
      OT_CHECK(total <= holds, "{}: truncated IDX file: {}, but it holds {} ({} whole samples); re-download the file",
               path, says, holds, holds / sample_bytes);
  }
  // Then against the caps (onnx_train/limits.h): the values are held in memory, and a gzip file
  // may not inflate past the decompression cap. The reading below stops at the declared size
  // (one byte more is read to see that the data ends there), so no more is ever inflated.
  const std::string values_of = fmt::format("{}: the IDX data {}", path, array.description());
  if (compressed && !ec)
    check_decompressed_size(total, file_size, values_of);
  else
    check_memory_limit(total, values_of);
  while (array.values.size() < total) {
    const size_t old = array.values.size();
    const size_t want = static_cast<size_t>(std::min<uint64_t>(total - old, 1 << 24));
    array.values.resize(old + want);
    const size_t got = reader.read(array.values.data() + old, want);
    array.values.resize(old + got);
    if (got < want) break;
  }
  OT_CHECK(array.values.size() == total,
           "{}: truncated IDX file: {}, but it holds {} ({} whole samples); re-download the file", path, says,
           array.values.size(), array.values.size() / sample_bytes);
  uint8_t extra = 0;
  OT_CHECK(reader.read(&extra, 1) == 0,
           "{}: the IDX file holds more data than its header says ({}: {} {} after the {}-byte header); the header or "
           "the file is corrupt",
           path, array.description(), total, bytes_kind, header_bytes);
  to_host_order(array.values, element_size);
  return array;
}

class IdxDataset : public Dataset {
 public:
  IdxDataset(std::vector<FieldSpec> fields, PictureFields which, PixelScaling scaling, IdxArray images,
             std::optional<IdxArray> labels)
      : fields_(std::move(fields)),
        which_(which),
        scaling_(std::move(scaling)),
        images_(std::move(images)),
        labels_(std::move(labels)) {}

  int64_t size() const override { return images_.samples(); }
  const std::vector<FieldSpec>& fields() const override { return fields_; }

  void read(size_t field, int64_t index, void* out) const override {
    OT_CHECK(field < fields_.size() && index >= 0 && index < size(),
             "{}: no sample {} of field {} (the data has {} samples and {} fields)", images_.path, index, field, size(),
             fields_.size());
    const bool image = field == which_.image;
    const IdxArray& array = image ? images_ : *labels_;
    const int64_t count = shape_numel(array.sample_shape());
    const uint8_t* sample = array.values.data() + index * count * static_cast<int64_t>(dtype_size(array.dtype));
    visit_idx_dtype(array.dtype, [&](auto tag) {
      using T = typename decltype(tag)::type;
      store_values(reinterpret_cast<const T*>(sample), count, fields_[field], image ? scaling_ : PixelScaling{}, out,
                   [&] { return source_of(field, index); });
    });
  }

  std::string source_of(size_t field, int64_t index) const override {
    const bool label = labels_ && field != which_.image;
    return fmt::format("{}, sample {}", label ? labels_->path : images_.path, index);
  }

  std::string describe() const override {
    return fmt::format("{} samples from {}{} (IDX)", size(), images_.path, labels_ ? " and " + labels_->path : "");
  }

 private:
  std::vector<FieldSpec> fields_;
  PictureFields which_;
  PixelScaling scaling_;
  IdxArray images_;
  std::optional<IdxArray> labels_;  // set when the model has a label
};

std::string paths_of(const std::vector<IdxArray>& arrays) {
  std::string out;
  for (const IdxArray& a : arrays) out += (out.empty() ? "" : ", ") + a.path;
  return out;
}

}  // namespace

std::unique_ptr<Dataset> open_idx_files(const SplitSource& split, const std::vector<FieldSpec>& wanted,
                                        const DataOptions& options) {
  std::vector<IdxArray> images, labels;  // rank >= 2 and rank 1 files
  for (const std::string& path : split.files) {
    std::optional<IdxArray> array = read_idx_file(path);
    if (array) (array->dims.size() >= 2 ? images : labels).push_back(std::move(*array));
  }
  if (images.empty() && labels.empty()) return nullptr;
  const std::string source = "IDX files in " + split.dir;
  OT_CHECK(images.size() == 1,
           "{}: {} IDX files of rank >= 2 ({}); a split holds one such file with the model input's samples (e.g. "
           "train-images-idx3-ubyte) and one rank-1 file with the labels",
           source, images.size(), images.empty() ? "only labels: " + paths_of(labels) : paths_of(images));
  OT_CHECK(labels.size() <= 1,
           "{}: {} rank-1 IDX files ({}); a split holds one labels file (e.g. train-labels-idx1-ubyte)", source,
           labels.size(), paths_of(labels));

  std::vector<FieldSpec> fields = wanted;
  const PictureFields which = pick_picture_fields(wanted, source);
  IdxArray& pixels = images[0];
  FieldSpec& input = fields[which.image];
  input.sample_shape = resolve_sample_shape(input, pixels.sample_shape(), pixels.path);
  const double divisor = pixels.dtype == DType::UInt8 ? 255.0 : 1.0;  // ToTensor's scaling of 8-bit pixels
  PixelScaling scaling = make_pixel_scaling(divisor, options, input, pixels.path);

  std::optional<IdxArray> label_array;
  if (which.label) {
    FieldSpec& label = fields[*which.label];
    OT_CHECK(!labels.empty(),
             "{}: the model's label '{}' needs a rank-1 IDX labels file (e.g. train-labels-idx1-ubyte) next to {}, "
             "and there is none",
             source, label.name, pixels.path);
    label.sample_shape = resolve_sample_shape(label, {}, labels[0].path + " (one label per sample)");
    OT_CHECK(labels[0].samples() == pixels.samples(),
             "{}: {} labels for {} samples in {}; the two files must hold the same samples, in the same order",
             labels[0].path, labels[0].samples(), pixels.samples(), pixels.path);
    label_array = std::move(labels[0]);
  }
  return std::make_unique<IdxDataset>(std::move(fields), which, std::move(scaling), std::move(pixels),
                                      std::move(label_array));
}

}  // namespace onnx_train
