#include "importers/data/array_convert.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>

#include "runtime/core/dispatch.h"

namespace onnx_train {

namespace {

template <typename T>
constexpr bool is_float_type = std::is_floating_point_v<T> || std::is_same_v<T, Float16> || std::is_same_v<T, BFloat16>;

// Element i of a buffer that may be unaligned (members of a zip archive lie anywhere).
template <typename T>
T load(const uint8_t* src, int64_t i) {
  T value;
  std::memcpy(&value, src + i * static_cast<int64_t>(sizeof(T)), sizeof(T));
  return value;
}

// Element i of type From, widened to the type conversions compute in. A bool is read as its
// byte, because a byte other than 0 or 1 is not a valid C++ bool.
template <typename From>
auto load_value(const uint8_t* src, int64_t i) {
  if constexpr (std::is_same_v<From, bool>)
    return static_cast<uint8_t>(load<uint8_t>(src, i) != 0);
  else
    return to_compute(load<From>(src, i));
}

// Whether integer `v` is a value of integer type To; comparisons between signed and unsigned
// types go through the unsigned type only when the signed value is known to be >= 0.
template <typename To, typename V>
bool integer_fits(V v) {
  using Limits = std::numeric_limits<To>;
  if constexpr (std::is_signed_v<V> && !std::is_signed_v<To>) {
    return v >= 0 && static_cast<std::make_unsigned_t<V>>(v) <= Limits::max();
  } else if constexpr (!std::is_signed_v<V> && std::is_signed_v<To>) {
    return v <= static_cast<std::make_unsigned_t<To>>(Limits::max());
  } else if constexpr (std::is_signed_v<V>) {
    return v >= Limits::min() && v <= Limits::max();
  } else {
    return v <= Limits::max();
  }
}

// Whether `v` converts to To without changing: any value for float types; 0 or 1 for bool;
// whole numbers in range for integers.
template <typename To, typename V>
bool fits(V v) {
  if constexpr (is_float_type<To>) {
    return true;
  } else if constexpr (std::is_same_v<To, bool>) {
    return v == 0 || v == 1;
  } else if constexpr (std::is_floating_point_v<V>) {
    // [-2^digits, 2^digits) for signed types, [0, 2^digits) for unsigned: both bounds are
    // exact doubles, unlike numeric_limits<int64_t>::max().
    const double hi = std::ldexp(1.0, std::numeric_limits<To>::digits);
    const double lo = std::is_signed_v<To> ? -hi : 0.0;
    return std::isfinite(v) && std::trunc(v) == v && v >= lo && v < hi;
  } else {
    return integer_fits<To>(v);
  }
}

template <typename To>
std::string accepted_values() {
  if constexpr (is_float_type<To>)
    return "any number";
  else if constexpr (std::is_same_v<To, bool>)
    return "0 or 1";
  else
    return fmt::format("whole numbers from {} to {}", std::numeric_limits<To>::min(), std::numeric_limits<To>::max());
}

template <typename From, typename To>
void convert_typed(const uint8_t* src, uint8_t* dst, int64_t count, const std::function<std::string()>& where) {
  for (int64_t i = 0; i < count; ++i) {
    const auto v = load_value<From>(src, i);
    if (!fits<To>(v)) {
      OT_FAIL(
          "{}: value {} (element {} of the sample) is not a {} value; the field takes {}. Check that the file "
          "holds what the field expects (class labels as whole numbers) or convert the data before saving it",
          where(), v, i, dtype_name(dtype_of<To>()), accepted_values<To>());
    }
    To out;
    if constexpr (std::is_same_v<To, bool>)
      out = v != 0;
    else
      out = from_compute<To>(v);
    std::memcpy(dst + i * static_cast<int64_t>(sizeof(To)), &out, sizeof(To));
  }
}

}  // namespace

bool is_data_dtype(DType dtype) { return dtype_is_supported(dtype); }

void convert_elements(DType from, const void* src, DType to, void* dst, int64_t count,
                      const std::function<std::string()>& where) {
  if (from == to && from != DType::Bool) {
    std::memcpy(dst, src, static_cast<size_t>(count) * dtype_size(from));
    return;
  }
  visit_dtype(from, [&](auto from_tag) {
    using From = typename decltype(from_tag)::type;
    visit_dtype(to, [&](auto to_tag) {
      using To = typename decltype(to_tag)::type;
      convert_typed<From, To>(static_cast<const uint8_t*>(src), static_cast<uint8_t*>(dst), count, where);
    });
  });
}

Shape resolve_sample_shape(const FieldSpec& field, const Shape& found, const std::string& file) {
  const Shape& wanted = field.sample_shape;
  if (found.size() <= wanted.size()) {
    Shape padded(wanted.size() - found.size(), 1);
    padded.insert(padded.end(), found.begin(), found.end());
    bool same = true;
    for (size_t d = 0; d < wanted.size(); ++d) same = same && (wanted[d] < 0 || wanted[d] == padded[d]);
    if (same) return padded;
  }
  const int64_t open = std::count_if(wanted.begin(), wanted.end(), [](int64_t d) { return d < 0; });
  int64_t fixed = 1;
  for (int64_t d : wanted) fixed *= d < 0 ? 1 : d;
  const int64_t found_numel = shape_numel(found);
  if (open == 0 && fixed == found_numel) return wanted;
  if (open == 1 && fixed > 0 && found_numel % fixed == 0) {
    Shape resolved = wanted;
    for (int64_t& d : resolved)
      if (d < 0) d = found_numel / fixed;
    return resolved;
  }
  const std::string wanted_text =
      open > 0 ? shape_str(wanted) : fmt::format("{} ({} elements)", shape_str(wanted), fixed);
  OT_FAIL(
      "{}: field '{}' takes samples of shape {} but the samples in this file have shape {} ({} elements); save "
      "the array with the samples along its first axis and each sample shaped like the model input{}",
      file, field.name, wanted_text, shape_str(found), found_numel, field.shape_note.empty() ? "" : "; " + field.shape_note);
}

}  // namespace onnx_train
