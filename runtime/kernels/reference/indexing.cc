// Indexing ops that read or write elements at given indices: Gather, GatherElements,
// GatherND, ScatterElements (and its deprecated alias Scatter), ScatterND and OneHot.
// The selection ops (TopK, ArgMax/ArgMin, CumSum, NonZero, Compress, ReverseSequence)
// are in indexing_select.cc.
//
// Indices are int32 or int64; negative indices count from the end of their axis. An index
// outside [-size, size - 1] is an error naming the node, the value and the valid range.
// Data of any dtype is moved by its bits, so every dtype a Tensor holds works.
#include <algorithm>
#include <cstring>
#include <string>
#include <type_traits>

#include "runtime/core/dispatch.h"
#include "runtime/kernels/kernel.h"
#include "runtime/kernels/registry.h"
#include "runtime/kernels/reference/indexing_common.h"
#include "runtime/kernels/util.h"

namespace onnx_train {

namespace indexing {

std::vector<int64_t> read_indices(const Tensor& indices, const Node& node, const char* what) {
  OT_CHECK(indices.dtype() == DType::Int32 || indices.dtype() == DType::Int64, "{}: {} must be int32 or int64, got {}",
           node.label(), what, indices.describe());
  return indices.to_int64s();
}

int64_t resolve_index(int64_t index, int64_t size, int64_t axis, const Tensor& data, const Node& node) {
  OT_CHECK(index >= -size && index < size,
           "{}: index {} is out of range for axis {} of data {}: valid indices are [{}, {}]", node.label(), index, axis,
           data.describe(), -size, size - 1);
  return index < 0 ? index + size : index;
}

int64_t resolve_axis(int64_t axis, int64_t rank, const Tensor& tensor, const Node& node) {
  OT_CHECK(axis >= -rank && axis < rank, "{}: axis {} is out of range [{}, {}] for input {}", node.label(), axis, -rank,
           rank - 1, tensor.describe());
  return axis < 0 ? axis + rank : axis;
}

int64_t dims_product(const Shape& shape, size_t begin, size_t end) {
  int64_t p = 1;
  for (size_t i = begin; i < end; ++i) p *= shape[i];
  return p;
}

}  // namespace indexing

namespace {

using indexing::dims_product;
using indexing::read_indices;
using indexing::resolve_axis;
using indexing::resolve_index;
using indexing::visit_element_bits;

// How a scatter combines an update with the element already there (reduction attribute,
// opset 16; max and min from opset 18, which reaches these kernels through the lowering of
// importers/lowerings/indexing.cc): none overwrites, add and mul accumulate (bool: or / and,
// as numpy does), max and min keep the larger / smaller (bool: or / and).
enum class Reduction { None, Add, Mul, Max, Min };

Reduction read_reduction(const Node& node) {
  const bool has_reduction = node.op_type != "Scatter" && node.since_version >= 16;
  const std::string r = has_reduction ? node.attr_string("reduction", "none") : "none";
  if (r == "none") return Reduction::None;
  if (r == "add") return Reduction::Add;
  if (r == "mul") return Reduction::Mul;
  if (r == "max") return Reduction::Max;
  if (r == "min") return Reduction::Min;
  OT_FAIL("{}: reduction '{}' is not supported (expected none, add, mul, max or min)", node.label(), r);
}

template <typename T>
T combine(T current, T update, Reduction reduction) {
  if (reduction == Reduction::None) return update;
  if constexpr (std::is_same_v<T, bool>) {
    const bool any = reduction == Reduction::Add || reduction == Reduction::Max;
    return any ? (current || update) : (current && update);
  } else {
    const auto a = to_compute(current), b = to_compute(update);
    switch (reduction) {
      case Reduction::Add: return from_compute<T>(a + b);
      case Reduction::Mul: return from_compute<T>(a * b);
      case Reduction::Max: return from_compute<T>(std::max(a, b));
      default: return from_compute<T>(std::min(a, b));
    }
  }
}

// Copies `src` into a new output 0 of the same dtype and shape (the scatter ops start so).
Tensor& copy_to_output(KernelContext& ctx, const Tensor& src) {
  Tensor& out = ctx.allocate_output(0, src.dtype(), src.shape());
  if (src.nbytes() > 0) std::memcpy(out.raw_data(), src.raw_data(), src.nbytes());
  return out;
}

// Gather: data [d0, ..., d(r-1)], indices I (any shape), axis a:
//   out[o..., i..., p...] = data[o..., indices[i...], p...]
// with out shape d[:a] + shape(I) + d[a+1:].
class GatherKernel : public Kernel {
 public:
  explicit GatherKernel(const KernelInfo& info) : axis_(info.node.attr_int("axis", 0)) {}
  void run(KernelContext& ctx) override {
    const Node& node = ctx.node();
    const Tensor& data = ctx.input(0);
    const Tensor& index_tensor = ctx.input(1);
    const int64_t axis = resolve_axis(axis_, data.rank(), data, node);
    std::vector<int64_t> indices = read_indices(index_tensor, node, "indices");
    const size_t a = static_cast<size_t>(axis);
    const int64_t size = data.shape()[a];
    for (int64_t& k : indices) k = resolve_index(k, size, axis, data, node);

    Shape out_shape(data.shape().begin(), data.shape().begin() + axis);
    out_shape.insert(out_shape.end(), index_tensor.shape().begin(), index_tensor.shape().end());
    out_shape.insert(out_shape.end(), data.shape().begin() + axis + 1, data.shape().end());
    Tensor& out = ctx.allocate_output(0, data.dtype(), out_shape);

    const int64_t outer = dims_product(data.shape(), 0, a);
    const int64_t inner = dims_product(data.shape(), a + 1, data.shape().size());
    const size_t chunk = static_cast<size_t>(inner) * dtype_size(data.dtype());
    const auto* src = static_cast<const char*>(data.raw_data());
    auto* dst = static_cast<char*>(out.raw_data());
    const int64_t count = static_cast<int64_t>(indices.size());
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t j = 0; j < count; ++j)
        std::memcpy(dst + static_cast<size_t>(o * count + j) * chunk,
                    src + static_cast<size_t>(o * size + indices[static_cast<size_t>(j)]) * chunk, chunk);
  }

 private:
  int64_t axis_;
};

// The strides of `data` with the one along `axis` set to 0: walking an indices-shaped
// tensor with them gives the data offset of every element except along the axis.
std::vector<int64_t> strides_without_axis(const Tensor& data, size_t axis) {
  std::vector<int64_t> strides = strides_of(data.shape());
  strides[axis] = 0;
  return strides;
}

// Checks the indices (and updates) of GatherElements / ScatterElements against data:
// same rank, and no dimension larger than data's except along the axis.
void check_elementwise_indices(const Node& node, const Tensor& data, const Tensor& indices, size_t axis) {
  OT_CHECK(indices.rank() == data.rank(), "{}: indices {} must have the rank of data {}", node.label(),
           indices.describe(), data.describe());
  for (size_t d = 0; d < data.shape().size(); ++d)
    OT_CHECK(d == axis || indices.shape()[d] <= data.shape()[d], "{}: indices {} are larger than data {} along axis {}",
             node.label(), indices.describe(), data.describe(), d);
}

// GatherElements: indices and out have the same shape and the rank of data;
//   out[i0, ..., i(r-1)] = data[i0, ..., indices[i0, ..., i(r-1)], ..., i(r-1)]  (at axis).
class GatherElementsKernel : public Kernel {
 public:
  explicit GatherElementsKernel(const KernelInfo& info) : axis_(info.node.attr_int("axis", 0)) {}
  void run(KernelContext& ctx) override {
    const Node& node = ctx.node();
    const Tensor& data = ctx.input(0);
    const Tensor& index_tensor = ctx.input(1);
    const int64_t axis = resolve_axis(axis_, data.rank(), data, node);
    const size_t a = static_cast<size_t>(axis);
    check_elementwise_indices(node, data, index_tensor, a);
    const std::vector<int64_t> indices = read_indices(index_tensor, node, "indices");
    const int64_t size = data.shape()[a];
    const int64_t axis_stride = strides_of(data.shape())[a];
    Tensor& out = ctx.allocate_output(0, data.dtype(), index_tensor.shape());
    visit_element_bits(data.dtype(), [&](auto tag) {
      using U = typename decltype(tag)::type;
      const U* src = static_cast<const U*>(data.raw_data());
      U* dst = static_cast<U*>(out.raw_data());
      StridedWalk walk(index_tensor.shape(), {strides_without_axis(data, a)});
      for (size_t i = 0; i < indices.size(); ++i, walk.next())
        dst[i] = src[walk.offset(0) + resolve_index(indices[i], size, axis, data, node) * axis_stride];
    });
  }

 private:
  int64_t axis_;
};

// ScatterElements (and Scatter, its deprecated name): out = data, then for every position
// p of indices (updates has the same shape):
//   out[p with p[axis] = indices[p]] = updates[p]   (or += / *= with reduction add / mul)
class ScatterElementsKernel : public Kernel {
 public:
  explicit ScatterElementsKernel(const KernelInfo& info)
      : axis_(info.node.attr_int("axis", 0)), reduction_(read_reduction(info.node)) {}
  void run(KernelContext& ctx) override {
    const Node& node = ctx.node();
    const Tensor& data = ctx.input(0);
    const Tensor& index_tensor = ctx.input(1);
    const Tensor& updates = ctx.input(2);
    const int64_t axis = resolve_axis(axis_, data.rank(), data, node);
    const size_t a = static_cast<size_t>(axis);
    check_elementwise_indices(node, data, index_tensor, a);
    OT_CHECK(updates.shape() == index_tensor.shape() && updates.dtype() == data.dtype(),
             "{}: updates {} must have the shape of indices {} and the dtype of data {}", node.label(),
             updates.describe(), index_tensor.describe(), data.describe());
    std::vector<int64_t> indices = read_indices(index_tensor, node, "indices");
    const int64_t size = data.shape()[a];
    for (int64_t& k : indices) k = resolve_index(k, size, axis, data, node);
    const int64_t axis_stride = strides_of(data.shape())[a];
    Tensor& out = copy_to_output(ctx, data);
    visit_dtype(data.dtype(), [&](auto tag) {
      using T = typename decltype(tag)::type;
      const T* upd = updates.data<T>();
      T* dst = out.data<T>();
      StridedWalk walk(index_tensor.shape(), {strides_without_axis(data, a)});
      for (size_t i = 0; i < indices.size(); ++i, walk.next()) {
        T& target = dst[walk.offset(0) + indices[i] * axis_stride];
        target = combine(target, upd[i], reduction_);
      }
    });
  }

 private:
  int64_t axis_;
  Reduction reduction_;
};

// For GatherND / ScatterND: the data offsets of the slices addressed by index tuples.
// indices [..., m] (m = last dim) holds tuples into data dims [b, b + m); offsets are
// relative to the start of a batch (b = batch_dims leading dims shared with indices).
std::vector<int64_t> tuple_offsets(const Node& node, const Tensor& data, const Tensor& index_tensor,
                                   size_t batch_dims) {
  const std::vector<int64_t> indices = read_indices(index_tensor, node, "indices");
  const size_t m = static_cast<size_t>(index_tensor.shape().back());
  const std::vector<int64_t> strides = strides_of(data.shape());
  std::vector<int64_t> offsets(m == 0 ? 0 : indices.size() / m);
  for (size_t t = 0; t < offsets.size(); ++t) {
    int64_t offset = 0;
    for (size_t j = 0; j < m; ++j) {
      const size_t d = batch_dims + j;
      offset += resolve_index(indices[t * m + j], data.shape()[d], static_cast<int64_t>(d), data, node) * strides[d];
    }
    offsets[t] = offset;
  }
  return offsets;
}

// GatherND with batch_dims b (opset 12; 0 before): data [B..., D...], indices [B..., J..., m]
// where B are b shared batch dims and 1 <= m <= rank(data) - b;
//   out[B, J, S] = data[B, indices[B, J, :], S]
// with out shape B + J + data.shape[b + m:].
class GatherNDKernel : public Kernel {
 public:
  explicit GatherNDKernel(const KernelInfo& info)
      : batch_dims_(info.node.since_version >= 12 ? info.node.attr_int("batch_dims", 0) : 0) {
    OT_CHECK(batch_dims_ >= 0, "{}: batch_dims {} must be >= 0", info.node.label(), batch_dims_);
  }
  void run(KernelContext& ctx) override {
    const Node& node = ctx.node();
    const Tensor& data = ctx.input(0);
    const Tensor& index_tensor = ctx.input(1);
    const size_t b = static_cast<size_t>(batch_dims_);
    const int64_t r = data.rank(), q = index_tensor.rank();
    OT_CHECK(q >= 1 && static_cast<int64_t>(b) < std::min(r, q),
             "{}: batch_dims {} needs data {} and indices {} of higher rank", node.label(), b, data.describe(),
             index_tensor.describe());
    const int64_t m = index_tensor.shape().back();
    OT_CHECK(m >= 1 && m <= r - batch_dims_, "{}: the last dimension of indices {} must be in [1, {}] for data {}",
             node.label(), index_tensor.describe(), r - batch_dims_, data.describe());
    for (size_t d = 0; d < b; ++d)
      OT_CHECK(data.shape()[d] == index_tensor.shape()[d],
               "{}: data {} and indices {} differ in batch dimension {} (batch_dims = {})", node.label(),
               data.describe(), index_tensor.describe(), d, b);
    const std::vector<int64_t> offsets = tuple_offsets(node, data, index_tensor, b);

    Shape out_shape(index_tensor.shape().begin(), index_tensor.shape().end() - 1);
    out_shape.insert(out_shape.end(), data.shape().begin() + batch_dims_ + m, data.shape().end());
    Tensor& out = ctx.allocate_output(0, data.dtype(), out_shape);

    const int64_t batches = dims_product(data.shape(), 0, b);
    const int64_t batch_size = dims_product(data.shape(), b, data.shape().size());
    const int64_t tuples_per_batch = batches == 0 ? 0 : static_cast<int64_t>(offsets.size()) / batches;
    const size_t esize = dtype_size(data.dtype());
    const size_t chunk = static_cast<size_t>(dims_product(data.shape(), b + static_cast<size_t>(m), r)) * esize;
    const auto* src = static_cast<const char*>(data.raw_data());
    auto* dst = static_cast<char*>(out.raw_data());
    for (size_t t = 0; t < offsets.size(); ++t) {
      const int64_t batch = static_cast<int64_t>(t) / tuples_per_batch;
      std::memcpy(dst + t * chunk, src + static_cast<size_t>(batch * batch_size + offsets[t]) * esize, chunk);
    }
  }

 private:
  int64_t batch_dims_;
};

// ScatterND: out = data, then for every tuple position J of indices [J..., k]:
//   out[indices[J, :], S] = updates[J, S]   (or += / *= with reduction add / mul, opset 16)
// where updates has shape J + data.shape[k:].
class ScatterNDKernel : public Kernel {
 public:
  explicit ScatterNDKernel(const KernelInfo& info) : reduction_(read_reduction(info.node)) {}
  void run(KernelContext& ctx) override {
    const Node& node = ctx.node();
    const Tensor& data = ctx.input(0);
    const Tensor& index_tensor = ctx.input(1);
    const Tensor& updates = ctx.input(2);
    OT_CHECK(index_tensor.rank() >= 1, "{}: indices {} must have rank >= 1", node.label(), index_tensor.describe());
    const int64_t k = index_tensor.shape().back();
    OT_CHECK(k >= 1 && k <= data.rank(), "{}: the last dimension of indices {} must be in [1, {}] for data {}",
             node.label(), index_tensor.describe(), data.rank(), data.describe());
    Shape updates_shape(index_tensor.shape().begin(), index_tensor.shape().end() - 1);
    updates_shape.insert(updates_shape.end(), data.shape().begin() + k, data.shape().end());
    OT_CHECK(updates.shape() == updates_shape && updates.dtype() == data.dtype(),
             "{}: updates {} must have shape {} (indices {}, data {}) and the dtype of data", node.label(),
             updates.describe(), shape_str(updates_shape), index_tensor.describe(), data.describe());
    const std::vector<int64_t> offsets = tuple_offsets(node, data, index_tensor, 0);
    const int64_t slice = dims_product(data.shape(), static_cast<size_t>(k), data.shape().size());
    Tensor& out = copy_to_output(ctx, data);
    visit_dtype(data.dtype(), [&](auto tag) {
      using T = typename decltype(tag)::type;
      const T* upd = updates.data<T>();
      T* dst = out.data<T>();
      for (size_t t = 0; t < offsets.size(); ++t)
        for (int64_t s = 0; s < slice; ++s) {
          T& target = dst[offsets[t] + s];
          target = combine(target, upd[static_cast<int64_t>(t) * slice + s], reduction_);
        }
    });
  }

 private:
  Reduction reduction_;
};

// OneHot: indices I (any numeric dtype, truncated to integers), depth (scalar), values
// [off, on]; out has the dtype of values and shape I with depth inserted at axis:
//   out[o, d, i] = on if indices[o, i] == d else off.
// Indices outside [0, depth) (opset 9) or [-depth, depth - 1] (opset 11, negative ones
// counting from the end) give a row of all off values.
class OneHotKernel : public Kernel {
 public:
  explicit OneHotKernel(const KernelInfo& info)
      : axis_(info.node.attr_int("axis", -1)), allow_negative_(info.node.since_version >= 11) {}
  void run(KernelContext& ctx) override {
    const Node& node = ctx.node();
    const Tensor& index_tensor = ctx.input(0);
    const Tensor& depth_tensor = ctx.input(1);
    const Tensor& values = ctx.input(2);
    OT_CHECK(depth_tensor.numel() == 1 && depth_tensor.dtype() != DType::Bool, "{}: depth {} must be a single number",
             node.label(), depth_tensor.describe());
    OT_CHECK(values.numel() == 2, "{}: values {} must hold two elements [off_value, on_value]", node.label(),
             values.describe());
    OT_CHECK(index_tensor.dtype() != DType::Bool, "{}: indices {} must be numeric", node.label(),
             index_tensor.describe());
    const int64_t depth = depth_tensor.to_int64s()[0];
    OT_CHECK(depth >= 1, "{}: depth {} must be >= 1", node.label(), depth);
    const int64_t rank = index_tensor.rank();
    OT_CHECK(axis_ >= -rank - 1 && axis_ <= rank, "{}: axis {} is out of range [{}, {}] for indices {}", node.label(),
             axis_, -rank - 1, rank, index_tensor.describe());
    const size_t axis = static_cast<size_t>(axis_ < 0 ? axis_ + rank + 1 : axis_);
    const std::vector<int64_t> indices = index_tensor.to_int64s();

    Shape out_shape = index_tensor.shape();
    out_shape.insert(out_shape.begin() + static_cast<std::ptrdiff_t>(axis), depth);
    Tensor& out = ctx.allocate_output(0, values.dtype(), out_shape);
    const int64_t outer = dims_product(index_tensor.shape(), 0, axis);
    const int64_t inner = dims_product(index_tensor.shape(), axis, index_tensor.shape().size());
    visit_element_bits(values.dtype(), [&](auto tag) {
      using U = typename decltype(tag)::type;
      const U off = static_cast<const U*>(values.raw_data())[0];
      const U on = static_cast<const U*>(values.raw_data())[1];
      U* dst = static_cast<U*>(out.raw_data());
      for (int64_t i = 0; i < out.numel(); ++i) dst[i] = off;
      for (int64_t o = 0; o < outer; ++o)
        for (int64_t i = 0; i < inner; ++i) {
          int64_t d = indices[static_cast<size_t>(o * inner + i)];
          if (d < 0 && allow_negative_) d += depth;
          if (d >= 0 && d < depth) dst[(o * depth + d) * inner + i] = on;
        }
    });
  }

 private:
  int64_t axis_;
  bool allow_negative_;
};

}  // namespace

ONNX_TRAIN_REGISTER_KERNELS(indexing) {
  registry.add<GatherKernel>("Gather", {1, 11, 13});
  registry.add<GatherElementsKernel>("GatherElements", {11, 13});
  registry.add<GatherNDKernel>("GatherND", {11, 12, 13});
  registry.add<ScatterElementsKernel>("ScatterElements", {11, 13, 16});
  registry.add<ScatterElementsKernel>("Scatter", {9, 11});
  registry.add<ScatterNDKernel>("ScatterND", {11, 13, 16});
  registry.add<OneHotKernel>("OneHot", {9, 11});
}

}  // namespace onnx_train
