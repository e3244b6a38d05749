// Helpers shared by the indexing kernels (indexing.cc, indexing_select.cc): reading index
// tensors, checking index and axis ranges with node-labelled errors, and copying elements
// of any dtype by their bits.
#pragma once

#include <cstdint>
#include <vector>

#include "onnx_train/tensor.h"
#include "runtime/core/dispatch.h"
#include "runtime/ir/graph.h"

namespace onnx_train {

namespace indexing {

// The values of an int32 or int64 index tensor; any other dtype is an error naming `what`.
std::vector<int64_t> read_indices(const Tensor& indices, const Node& node, const char* what);

// Maps index in [-size, size - 1] to [0, size); otherwise throws naming the node, the
// value, the valid range, the axis and the data tensor.
int64_t resolve_index(int64_t index, int64_t size, int64_t axis, const Tensor& data, const Node& node);

// Maps axis in [-rank, rank - 1] to [0, rank); otherwise throws naming the node and `tensor`.
int64_t resolve_axis(int64_t axis, int64_t rank, const Tensor& tensor, const Node& node);

// Product of shape[begin:end].
int64_t dims_product(const Shape& shape, size_t begin, size_t end);

// Calls f(TypeTag<U>{}) with U an unsigned integer type as wide as one element of
// `dtype`: copying U values copies elements of any dtype bit for bit.
template <typename F>
void visit_element_bits(DType dtype, F&& f);

}  // namespace indexing

// ---- implementation of the template ----

namespace indexing {

template <typename F>
void visit_element_bits(DType dtype, F&& f) {
  switch (dtype_size(dtype)) {
    case 1: f(TypeTag<uint8_t>{}); return;
    case 2: f(TypeTag<uint16_t>{}); return;
    case 4: f(TypeTag<uint32_t>{}); return;
    case 8: f(TypeTag<uint64_t>{}); return;
    default: OT_FAIL("element type {} cannot be held by a tensor", dtype_name(dtype));
  }
}

}  // namespace indexing

}  // namespace onnx_train
