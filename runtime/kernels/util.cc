#include "runtime/kernels/util.h"

#include <algorithm>

#include "runtime/core/checked_math.h"
#include "runtime/core/dispatch.h"
#include "runtime/kernels/bf16_convert.h"

namespace onnx_train {

int64_t normalize_axis(int64_t axis, int64_t rank, const char* what) {
  const int64_t a = axis < 0 ? axis + rank : axis;
  OT_CHECK(a >= 0 && a < std::max<int64_t>(rank, 1), "{} {} is out of range for rank {}", what, axis, rank);
  return a;
}

std::vector<int64_t> strides_of(const Shape& shape) {
  std::vector<int64_t> strides(shape.size(), 1);
  for (int64_t d = static_cast<int64_t>(shape.size()) - 2; d >= 0; --d)
    strides[d] = checked_mul(strides[d + 1], shape[d + 1], "strides of a tensor");
  return strides;
}

Shape broadcast_shapes(const Shape& a, const Shape& b) {
  const size_t rank = std::max(a.size(), b.size());
  Shape out(rank);
  for (size_t i = 0; i < rank; ++i) {
    const int64_t da = i < rank - a.size() ? 1 : a[i - (rank - a.size())];
    const int64_t db = i < rank - b.size() ? 1 : b[i - (rank - b.size())];
    OT_CHECK(da == db || da == 1 || db == 1, "shapes {} and {} cannot be broadcast together (dimension {}: {} vs {})",
             shape_str(a), shape_str(b), i, da, db);
    out[i] = da == 1 ? db : da;
  }
  checked_numel(out, fmt::format("the broadcast of {} and {}", shape_str(a), shape_str(b)));
  return out;
}

Shape broadcast_shapes(const std::vector<Shape>& shapes) {
  Shape out;
  for (const auto& s : shapes) out = broadcast_shapes(out, s);
  return out;
}

std::vector<int64_t> broadcast_strides(const Shape& in, const Shape& out) {
  OT_CHECK(in.size() <= out.size(), "cannot broadcast {} to {}", shape_str(in), shape_str(out));
  std::vector<int64_t> strides(out.size(), 0);
  const std::vector<int64_t> own = strides_of(in);
  const size_t lead = out.size() - in.size();
  for (size_t i = 0; i < in.size(); ++i) {
    OT_CHECK(in[i] == out[lead + i] || in[i] == 1, "cannot broadcast {} to {}", shape_str(in), shape_str(out));
    strides[lead + i] = in[i] == 1 ? 0 : own[i];
  }
  return strides;
}

StridedWalk::StridedWalk(const Shape& shape, std::vector<std::vector<int64_t>> strides)
    : shape_(shape), strides_(std::move(strides)), index_(shape.size(), 0), offsets_(strides_.size(), 0) {}

void StridedWalk::next() {
  for (int64_t d = static_cast<int64_t>(shape_.size()) - 1; d >= 0; --d) {
    if (++index_[d] < shape_[d]) {
      for (size_t k = 0; k < strides_.size(); ++k) offsets_[k] += strides_[k][d];
      return;
    }
    index_[d] = 0;
    for (size_t k = 0; k < strides_.size(); ++k) offsets_[k] -= strides_[k][d] * (shape_[d] - 1);
  }
}

Tensor to_float32(const Tensor& t) {
  if (t.dtype() == DType::Float32) return t;
  Tensor out(DType::Float32, t.shape());
  float* dst = out.data<float>();
  if (t.dtype() == DType::BFloat16) {
    float_from_bf16(t.data<BFloat16>(), dst, t.numel());
    return out;
  }
  visit_float(t.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* src = t.data<T>();
    for (int64_t i = 0; i < t.numel(); ++i) dst[i] = static_cast<float>(to_compute(src[i]));
  });
  return out;
}

void store_float32(const Tensor& src, Tensor& dst) {
  const float* s = src.data<float>();
  if (dst.dtype() == DType::BFloat16) {
    bf16_from_float(s, dst.data<BFloat16>(), dst.numel());
    return;
  }
  visit_float(dst.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    T* d = dst.data<T>();
    for (int64_t i = 0; i < dst.numel(); ++i) d[i] = from_compute<T>(s[i]);
  });
}

const float* to_float32(const Tensor& t, std::vector<float>& buffer) {
  if (t.dtype() == DType::Float32) return t.data<float>();
  buffer.resize(static_cast<size_t>(t.numel()));
  if (t.dtype() == DType::BFloat16) {
    float_from_bf16(t.data<BFloat16>(), buffer.data(), t.numel());
  } else {
    visit_float(t.dtype(), [&](auto tag) {
      using T = typename decltype(tag)::type;
      const T* src = t.data<T>();
      for (int64_t i = 0; i < t.numel(); ++i) buffer[static_cast<size_t>(i)] = static_cast<float>(to_compute(src[i]));
    });
  }
  return buffer.data();
}

void store_float32(const float* src, Tensor& dst) {
  if (dst.dtype() == DType::BFloat16) {
    bf16_from_float(src, dst.data<BFloat16>(), dst.numel());
    return;
  }
  visit_float(dst.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    T* d = dst.data<T>();
    for (int64_t i = 0; i < dst.numel(); ++i) d[i] = from_compute<T>(src[i]);
  });
}

}  // namespace onnx_train
