// onnx_train/tensor.h: a dense, row-major tensor with shared, 64-byte aligned storage.
//
// Copying a Tensor copies the handle, not the data (like a shared_ptr); reshaped() makes a
// view over the same storage. clone() copies the data. Storage may come from a BufferPool,
// in which case it returns there when the last handle goes away.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "onnx_train/dtype.h"
#include "onnx_train/error.h"

namespace onnx_train {

using Shape = std::vector<int64_t>;

int64_t shape_numel(const Shape& shape);
std::string shape_str(const Shape& shape);  // "[2, 3, 4]"

class BufferPool;

class Tensor {
 public:
  Tensor() = default;
  // A new zero-filled tensor with its own storage (or storage from `pool`).
  Tensor(DType dtype, Shape shape, BufferPool* pool = nullptr);
  // The same without the zero fill: for a writer that sets every element before anything
  // reads one (a kernel's output), where clearing it first would be a wasted pass over memory.
  static Tensor uninitialized(DType dtype, Shape shape, BufferPool* pool = nullptr);

  // A tensor over the given storage; `data` must point inside `owner`'s allocation.
  static Tensor wrap(DType dtype, Shape shape, std::shared_ptr<void> owner, void* data);
  // A rank-0 or rank-1 tensor holding `values`: Tensor::from<float>({3}, {1, 2, 3}).
  template <typename T>
  static Tensor from(Shape shape, const std::vector<T>& values);
  template <typename T>
  static Tensor scalar(T value) {
    return from<T>({}, {value});
  }

  bool defined() const { return dtype_ != DType::Undefined; }
  DType dtype() const { return dtype_; }
  const Shape& shape() const { return shape_; }
  int rank() const { return static_cast<int>(shape_.size()); }
  int64_t dim(int axis) const;  // negative axes count from the end
  int64_t numel() const { return shape_numel(shape_); }
  size_t nbytes() const { return static_cast<size_t>(numel()) * dtype_size(dtype_); }

  void* raw_data() { return data_; }
  const void* raw_data() const { return data_; }
  template <typename T>
  T* data() {
    check_type(dtype_of<T>());
    return static_cast<T*>(data_);
  }
  template <typename T>
  const T* data() const {
    check_type(dtype_of<T>());
    return static_cast<const T*>(data_);
  }

  // A view with another shape of the same element count.
  Tensor reshaped(Shape shape) const;
  // Whether this handle is the only one on its storage (no copy, view or caller shares it):
  // what the executor checks before letting a kernel write over an input it was the last to read.
  bool sole_owner() const { return owner_ != nullptr && owner_.use_count() == 1; }
  // A deep copy with its own storage.
  Tensor clone() const;
  // Values as double / int64 (any numeric dtype): for shape inputs, tests and printing.
  std::vector<double> to_doubles() const;
  std::vector<int64_t> to_int64s() const;
  // "float32[2, 3]"
  std::string describe() const;

 private:
  void check_type(DType wanted) const;
  Tensor(DType dtype, Shape shape, BufferPool* pool, bool zero_fill);

  DType dtype_ = DType::Undefined;
  Shape shape_;
  std::shared_ptr<void> owner_;
  void* data_ = nullptr;
};

template <typename T>
Tensor Tensor::from(Shape shape, const std::vector<T>& values) {
  Tensor t(dtype_of<T>(), std::move(shape));
  OT_CHECK(static_cast<int64_t>(values.size()) == t.numel(), "Tensor::from: {} values for shape {}", values.size(),
           shape_str(t.shape()));
  T* out = t.data<T>();
  for (size_t i = 0; i < values.size(); ++i) out[i] = values[i];
  return t;
}

}  // namespace onnx_train
