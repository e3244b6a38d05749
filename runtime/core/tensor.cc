#include "onnx_train/tensor.h"

#include <cstring>
#include <new>

#include "runtime/core/buffer_pool.h"
#include "runtime/core/checked_math.h"
#include "runtime/core/dispatch.h"
#include "runtime/core/resource_limits.h"

namespace onnx_train {

int64_t shape_numel(const Shape& shape) { return checked_numel(shape, ""); }

std::string shape_str(const Shape& shape) { return fmt::format("[{}]", fmt::join(shape, ", ")); }

Tensor::Tensor(DType dtype, Shape shape, BufferPool* pool) : Tensor(dtype, std::move(shape), pool, true) {}

Tensor Tensor::uninitialized(DType dtype, Shape shape, BufferPool* pool) {
  return Tensor(dtype, std::move(shape), pool, false);
}

Tensor::Tensor(DType dtype, Shape shape, BufferPool* pool, bool zero_fill) : dtype_(dtype), shape_(std::move(shape)) {
  OT_CHECK(dtype_is_supported(dtype), "a tensor cannot hold elements of type {}", dtype_name(dtype));
  for (int64_t d : shape_) OT_CHECK(d >= 0, "a tensor shape cannot have a negative dimension: {}", shape_str(shape_));
  const size_t bytes = checked_nbytes(shape_, dtype_, "a tensor");
  // Over the memory limit is refused before asking for it (a file's declared size reaches here
  // through tensor_from_proto and the data readers, which name the file in front of this).
  if (bytes > memory_limit()) check_memory_limit(bytes, fmt::format("a tensor {}", describe()));
  try {
    owner_ = pool != nullptr ? pool->acquire(bytes, zero_fill) : allocate_aligned(bytes, zero_fill);
  } catch (const std::bad_alloc&) {
    OT_FAIL_AS(ErrorCategory::ResourceLimit, "out of memory: a tensor {} needs {} bytes ({:.3g} GB)", describe(), bytes,
               bytes / 1e9);
  }
  data_ = owner_.get();
}

Tensor Tensor::wrap(DType dtype, Shape shape, std::shared_ptr<void> owner, void* data) {
  checked_nbytes(shape, dtype, "a tensor view");
  Tensor t;
  t.dtype_ = dtype;
  t.shape_ = std::move(shape);
  t.owner_ = std::move(owner);
  t.data_ = data;
  return t;
}

int64_t Tensor::dim(int axis) const {
  const int r = rank();
  const int a = axis < 0 ? axis + r : axis;
  OT_CHECK(a >= 0 && a < r, "axis {} is out of range for a tensor of rank {}", axis, r);
  return shape_[a];
}

Tensor Tensor::reshaped(Shape shape) const {
  OT_CHECK(shape_numel(shape) == numel(), "cannot view {} as shape {}", describe(), shape_str(shape));
  Tensor t = *this;
  t.shape_ = std::move(shape);
  return t;
}

Tensor Tensor::clone() const {
  Tensor t(dtype_, shape_);
  if (nbytes() > 0) std::memcpy(t.data_, data_, nbytes());
  return t;
}

std::vector<double> Tensor::to_doubles() const {
  std::vector<double> out(static_cast<size_t>(numel()));
  visit_dtype(dtype_, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* p = static_cast<const T*>(data_);
    for (size_t i = 0; i < out.size(); ++i) out[i] = static_cast<double>(to_compute(p[i]));
  });
  return out;
}

std::vector<int64_t> Tensor::to_int64s() const {
  std::vector<int64_t> out(static_cast<size_t>(numel()));
  visit_dtype(dtype_, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* p = static_cast<const T*>(data_);
    for (size_t i = 0; i < out.size(); ++i) out[i] = static_cast<int64_t>(to_compute(p[i]));
  });
  return out;
}

std::string Tensor::describe() const { return fmt::format("{}{}", dtype_name(dtype_), shape_str(shape_)); }

void Tensor::check_type(DType wanted) const {
  OT_CHECK(wanted == dtype_, "tensor {} accessed as {}", describe(), dtype_name(wanted));
}

}  // namespace onnx_train
