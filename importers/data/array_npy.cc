#include "importers/data/array_npy.h"

#include <cctype>
#include <charconv>
#include <cstring>
#include <limits>
#include <map>

#include "onnx_train/printable.h"
#include "runtime/core/checked_math.h"

namespace onnx_train {

namespace {

constexpr char kMagic[] = "\x93NUMPY";
constexpr size_t kMagicSize = 6;

// The header's dict literal: string keys mapping to a string, True/False, or a tuple of
// integers; the three keys numpy writes are all this reader needs.
class HeaderParser {
 public:
  HeaderParser(std::string text, std::string path) : text_(std::move(text)), path_(std::move(path)) {}

  struct Value {
    std::string text;   // strings
    bool flag = false;  // True / False
    Shape dims;         // tuples
  };

  std::map<std::string, Value> parse() {
    std::map<std::string, Value> entries;
    expect('{');
    while (peek() != '}') {
      const std::string key = parse_string();
      expect(':');
      entries[key] = parse_value();
      if (peek() == ',') ++pos_;
    }
    return entries;
  }

 private:
  char peek() {
    while (pos_ < text_.size() && std::isspace(static_cast<unsigned char>(text_[pos_]))) ++pos_;
    if (pos_ >= text_.size()) fail();
    return text_[pos_];
  }
  void expect(char c) {
    if (peek() != c) fail();
    ++pos_;
  }
  [[noreturn]] void fail() const {
    OT_FAIL("{}: the npy header '{}' is malformed (at character {}); save the array again with numpy.save", path_,
            printable_bytes(text_.substr(0, text_.find_last_not_of(" \n") + 1)), pos_);
  }

  std::string parse_string() {
    const char quote = peek();
    if (quote != '\'' && quote != '"') fail();
    const size_t end = text_.find(quote, pos_ + 1);
    if (end == std::string::npos) fail();
    std::string s = text_.substr(pos_ + 1, end - pos_ - 1);
    pos_ = end + 1;
    return s;
  }

  Value parse_value() {
    Value v;
    const char c = peek();
    if (c == '\'' || c == '"') {
      v.text = parse_string();
    } else if (text_.compare(pos_, 4, "True") == 0 || text_.compare(pos_, 5, "False") == 0) {
      v.flag = text_[pos_] == 'T';
      pos_ += v.flag ? 4 : 5;
    } else if (c == '(') {
      ++pos_;
      while (peek() != ')') {
        int64_t d = 0;
        const auto [end, ec] = std::from_chars(text_.data() + pos_, text_.data() + text_.size(), d);
        if (ec != std::errc() || d < 0) fail();
        pos_ = static_cast<size_t>(end - text_.data());
        if (pos_ < text_.size() && text_[pos_] == 'L') ++pos_;  // Python 2's long integers: (3L, 4L)
        v.dims.push_back(d);
        if (peek() == ',') ++pos_;
      }
      ++pos_;
    } else if (c == '[') {
      OT_FAIL("{}: the array has a structured (record) element type; save each field as its own plain array", path_);
    } else {
      fail();
    }
    return v;
  }

  std::string text_;
  std::string path_;
  size_t pos_ = 0;
};

DType dtype_of_descr(const std::string& descr, const std::string& path) {
  static const std::map<std::string, DType> kTypes = {
      {"b1", DType::Bool},   {"i1", DType::Int8},    {"i2", DType::Int16},   {"i4", DType::Int32},
      {"i8", DType::Int64},  {"u1", DType::UInt8},   {"u2", DType::UInt16},  {"u4", DType::UInt32},
      {"u8", DType::UInt64}, {"f2", DType::Float16}, {"f4", DType::Float32}, {"f8", DType::Float64}};
  const auto it = descr.size() == 3 ? kTypes.find(descr.substr(1)) : kTypes.end();
  OT_CHECK(it != kTypes.end() && std::strchr("<>|=", descr[0]),
           "{}: element type '{}' is not supported; npy data must be bool, int8-64, uint8-64, float16, float32 or "
           "float64 (convert with array.astype(numpy.float32))",
           path, printable_bytes(descr));
  OT_CHECK(descr[0] != '>' || dtype_size(it->second) == 1,
           "{}: the array is big-endian ('{}'); save it little-endian: array.astype(array.dtype.newbyteorder('<'))",
           path, descr);
  return it->second;
}

}  // namespace

uint64_t read_little_endian(const uint8_t* p, int bytes) {
  uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

NpyArray parse_npy(const uint8_t* bytes, size_t size, const std::string& path) {
  OT_CHECK(size >= kMagicSize + 2 && std::memcmp(bytes, kMagic, kMagicSize) == 0,
           "{}: not an npy file (it does not start with \\x93NUMPY); save arrays with numpy.save", path);
  const int major = bytes[6];
  const int minor = bytes[7];
  OT_CHECK(major >= 1 && major <= 3, "{}: npy format version {}.{} is not supported (1.0, 2.0 and 3.0 are)", path,
           major, minor);
  const size_t length_bytes = major == 1 ? 2 : 4;
  const size_t header_start = kMagicSize + 2 + length_bytes;
  OT_CHECK(size >= header_start, "{}: truncated: the file ends inside the npy preamble; save it again", path);
  const size_t header_size = read_little_endian(bytes + kMagicSize + 2, static_cast<int>(length_bytes));
  OT_CHECK(header_size <= size - header_start,
           "{}: truncated: the npy header is {} bytes long but the file holds {} after the preamble; save it again",
           path, header_size, size - header_start);

  auto entries =
      HeaderParser(std::string(reinterpret_cast<const char*>(bytes) + header_start, header_size), path).parse();
  for (const char* key : {"descr", "fortran_order", "shape"})
    OT_CHECK(entries.count(key), "{}: the npy header has no '{}'; save the array again with numpy.save", path, key);
  NpyArray array;
  array.dtype = dtype_of_descr(entries["descr"].text, path);
  array.shape = entries["shape"].dims;
  OT_CHECK(!entries["fortran_order"].flag,
           "{}: the array is stored in Fortran (column-major) order; save it in C order: "
           "numpy.save(path, numpy.ascontiguousarray(array))",
           path);
  OT_CHECK(!array.shape.empty(),
           "{}: the array is a single value (shape []); save one entry per sample along the first axis", path);

  const size_t available = size - header_start - header_size;
  const size_t expected = checked_nbytes(array.shape, array.dtype, path);
  OT_CHECK(expected == available, "{}: the header describes {} {} = {} bytes of data but the file holds {}; {}", path,
           dtype_name(array.dtype), shape_str(array.shape), expected, available,
           expected > available ? "the file is truncated, save it again" : "this is not a file numpy.save wrote");
  array.data = bytes + header_start + header_size;
  return array;
}

ArrayColumn npy_column(const NpyArray& array, const std::string& path) {
  ArrayColumn column;
  column.dtype = array.dtype;
  column.sample_shape.assign(array.shape.begin() + 1, array.shape.end());
  column.chunks.push_back({path, array.data, array.shape[0], {}});
  return column;
}

}  // namespace onnx_train
