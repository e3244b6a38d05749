// Data-movement kernels: Transpose, Concat, Split, Slice, Pad, Tile, Expand, DepthToSpace,
// SpaceToDepth and Trilu. Values are only moved, never computed, so every kernel works on
// raw bytes (element size 1, 2, 4 or 8) and therefore on every dtype a Tensor holds.
//
// Most of them are one strided copy: the output is a row-major walk over a strided view of
// the input (strides in elements, possibly 0 for broadcasting or negative for reversed
// slices). copy_strided() does that walk with contiguous runs as memcpy and a blocked
// loop for transposes.

#include <algorithm>
#include <cstring>
#include <numeric>

#include "runtime/core/dispatch.h"
#include "runtime/core/parallel.h"
#include "runtime/kernels/kernel.h"
#include "runtime/kernels/registry.h"
#include "runtime/kernels/util.h"

namespace onnx_train {

namespace {

const char* bytes_of(const Tensor& t) { return static_cast<const char*>(t.raw_data()); }
char* bytes_of(Tensor& t) { return static_cast<char*>(t.raw_data()); }

int64_t product(const Shape& shape, size_t begin, size_t end) {
  int64_t p = 1;
  for (size_t i = begin; i < end; ++i) p *= shape[i];
  return p;
}

// dst[j * dst_stride] = src[j * src_stride] for j < n, elements of type U.
template <typename U>
void copy_run_typed(const char* src, int64_t src_stride, char* dst, int64_t dst_stride, int64_t n) {
  const U* s = reinterpret_cast<const U*>(src);
  U* d = reinterpret_cast<U*>(dst);
  for (int64_t j = 0; j < n; ++j) d[j * dst_stride] = s[j * src_stride];
}

void copy_run(const char* src, int64_t src_stride, char* dst, int64_t dst_stride, int64_t n, size_t elem) {
  if (src_stride == 1 && dst_stride == 1) {
    std::memcpy(dst, src, static_cast<size_t>(n) * elem);
    return;
  }
  switch (elem) {
    case 1: copy_run_typed<uint8_t>(src, src_stride, dst, dst_stride, n); return;
    case 2: copy_run_typed<uint16_t>(src, src_stride, dst, dst_stride, n); return;
    case 4: copy_run_typed<uint32_t>(src, src_stride, dst, dst_stride, n); return;
    case 8: copy_run_typed<uint64_t>(src, src_stride, dst, dst_stride, n); return;
    default:
      for (int64_t j = 0; j < n; ++j)
        std::memcpy(dst + j * dst_stride * static_cast<int64_t>(elem),
                    src + j * src_stride * static_cast<int64_t>(elem), elem);
  }
}

// Calls f(src_offset, dst_offset) for every index over the dimensions `dims` of `shape`
// (row-major order), offsets in elements.
template <typename F>
void for_each_index(const Shape& shape, const std::vector<int64_t>& src_strides,
                    const std::vector<int64_t>& dst_strides, const std::vector<size_t>& dims, F&& f) {
  std::vector<int64_t> index(dims.size(), 0);
  int64_t src_off = 0, dst_off = 0;
  for (;;) {
    f(src_off, dst_off);
    size_t k = dims.size();
    for (;;) {
      if (k == 0) return;
      --k;
      const size_t d = dims[k];
      if (++index[k] < shape[d]) {
        src_off += src_strides[d];
        dst_off += dst_strides[d];
        break;
      }
      index[k] = 0;
      src_off -= src_strides[d] * (shape[d] - 1);
      dst_off -= dst_strides[d] * (shape[d] - 1);
    }
  }
}

void copy_merged(const char* src, const std::vector<int64_t>& ss, char* dst, const std::vector<int64_t>& ds,
                 const Shape& shape, size_t elem);

// For every index i of `shape`: dst[i . dst_strides] = src[i . src_strides] (element strides;
// `src` and `dst` point at index 0). Size-1 dimensions are dropped and dimensions that are
// contiguous in both views merged, so plain copies become one memcpy. Large copies are split
// along their outermost dimension over the cores (each part writes its own slab of dst).
void copy_strided(const char* src, std::vector<int64_t> src_strides, char* dst, std::vector<int64_t> dst_strides,
                  const Shape& full_shape, size_t elem) {
  Shape shape;
  std::vector<int64_t> ss, ds;
  for (size_t i = 0; i < full_shape.size(); ++i) {
    if (full_shape[i] == 0) return;
    if (full_shape[i] == 1) continue;
    if (!shape.empty() && ss.back() == src_strides[i] * full_shape[i] && ds.back() == dst_strides[i] * full_shape[i]) {
      shape.back() *= full_shape[i];
      ss.back() = src_strides[i];
      ds.back() = dst_strides[i];
    } else {
      shape.push_back(full_shape[i]);
      ss.push_back(src_strides[i]);
      ds.push_back(dst_strides[i]);
    }
  }
  if (shape.empty()) {
    std::memcpy(dst, src, elem);
    return;
  }
  const auto e = static_cast<int64_t>(elem);
  if (shape.size() >= 2 && shape[0] >= 2 && product(shape, 0, shape.size()) >= kParallelMinCheapElements) {
    const int64_t parts = std::min<int64_t>(shape[0], 64);
    parallel_for(
        parts,
        [&](int64_t p) {
          const int64_t begin = shape[0] * p / parts, end = shape[0] * (p + 1) / parts;
          Shape part = shape;
          part[0] = end - begin;
          copy_merged(src + begin * ss[0] * e, ss, dst + begin * ds[0] * e, ds, part, elem);
        },
        2);
    return;
  }
  copy_merged(src, ss, dst, ds, shape, elem);
}

// copy_strided on merged dimensions (no size-1 or mergeable pairs). When the innermost
// output dimension is strided in the source but another dimension is contiguous there (a
// transpose), the copy goes in cache-sized 2-D blocks.
void copy_merged(const char* src, const std::vector<int64_t>& ss, char* dst, const std::vector<int64_t>& ds,
                 const Shape& shape, size_t elem) {
  const size_t last = shape.size() - 1;
  const int64_t e = static_cast<int64_t>(elem);
  size_t contiguous = last;
  if (ss[last] != 1)
    for (size_t k = 0; k < last; ++k)
      if (ss[k] == 1 && shape[k] >= 8 && shape[last] >= 8) contiguous = k;
  if (contiguous == last) {
    std::vector<size_t> outer(last);
    std::iota(outer.begin(), outer.end(), size_t{0});
    for_each_index(shape, ss, ds, outer, [&](int64_t so, int64_t dof) {
      copy_run(src + so * e, ss[last], dst + dof * e, ds[last], shape[last], elem);
    });
    return;
  }
  constexpr int64_t kBlock = 64;
  const size_t k = contiguous;
  std::vector<size_t> outer;
  for (size_t d = 0; d < last; ++d)
    if (d != k) outer.push_back(d);
  for_each_index(shape, ss, ds, outer, [&](int64_t so, int64_t dof) {
    for (int64_t i0 = 0; i0 < shape[k]; i0 += kBlock) {
      const int64_t ni = std::min(kBlock, shape[k] - i0);
      for (int64_t j0 = 0; j0 < shape[last]; j0 += kBlock) {
        const int64_t nj = std::min(kBlock, shape[last] - j0);
        for (int64_t j = j0; j < j0 + nj; ++j)
          copy_run(src + (so + i0 * ss[k] + j * ss[last]) * e, ss[k], dst + (dof + i0 * ds[k] + j * ds[last]) * e,
                   ds[k], ni, elem);
      }
    }
  });
}

// Allocates output 0 with shape `out_shape` and fills it row-major from the strided view
// (`view_shape`, `src_strides`, starting `src_offset` elements into x); view_shape and
// out_shape have the same element count.
void gather_to_output(KernelContext& ctx, const Tensor& x, const Shape& view_shape,
                      const std::vector<int64_t>& src_strides, int64_t src_offset, const Shape& out_shape) {
  Tensor& y = ctx.allocate_output_to_overwrite(0, x.dtype(), out_shape);  // the copy covers every element
  if (y.numel() == 0) return;
  const size_t elem = dtype_size(x.dtype());
  copy_strided(bytes_of(x) + src_offset * static_cast<int64_t>(elem), src_strides, bytes_of(y), strides_of(view_shape),
               view_shape, elem);
}

// Output 0 = x viewed with shape `view_shape` and its axes permuted by `perm`, reshaped to
// `out_shape`.
void permute_to_output(KernelContext& ctx, const Tensor& x, const Shape& view_shape, const std::vector<int64_t>& perm,
                       const Shape& out_shape) {
  const std::vector<int64_t> strides = strides_of(view_shape);
  Shape permuted(perm.size());
  std::vector<int64_t> src_strides(perm.size());
  for (size_t i = 0; i < perm.size(); ++i) {
    permuted[i] = view_shape[perm[i]];
    src_strides[i] = strides[perm[i]];
  }
  gather_to_output(ctx, x, permuted, src_strides, 0, out_shape);
}

// Transpose: y[i_perm[0], ..., i_perm[r-1]] = x[i_0, ..., i_{r-1}], i.e. y.shape[k] =
// x.shape[perm[k]]; perm defaults to reversing the axes.
class TransposeKernel : public Kernel {
 public:
  explicit TransposeKernel(const KernelInfo& info) : perm_(info.node.attr_ints("perm", {})) {
    std::vector<int64_t> sorted = perm_;
    std::sort(sorted.begin(), sorted.end());
    for (size_t i = 0; i < sorted.size(); ++i)
      OT_CHECK(sorted[i] == static_cast<int64_t>(i), "{}: perm {} is not a permutation of 0..{}", info.node.label(),
               shape_str(perm_), perm_.size() - 1);
  }
  void run(KernelContext& ctx) override {
    const Tensor& x = ctx.input(0);
    std::vector<int64_t> perm = perm_;
    if (perm.empty())
      for (int64_t i = x.rank() - 1; i >= 0; --i) perm.push_back(i);
    OT_CHECK(static_cast<int>(perm.size()) == x.rank(), "{}: perm {} has {} entries but the input {} has rank {}",
             ctx.node().label(), shape_str(perm), perm.size(), x.describe(), x.rank());
    Shape out(perm.size());
    for (size_t i = 0; i < perm.size(); ++i) out[i] = x.shape()[perm[i]];
    permute_to_output(ctx, x, x.shape(), perm, out);
  }

 private:
  std::vector<int64_t> perm_;
};

// Concat: inputs of equal shape except along `axis` are joined along it:
// y.shape[axis] = sum of the inputs' shape[axis].
class ConcatKernel : public Kernel {
 public:
  explicit ConcatKernel(const KernelInfo& info) : axis_(info.node.attr_int("axis")) {}
  void run(KernelContext& ctx) override {
    const Node& node = ctx.node();
    const Tensor& first = ctx.input(0);
    const int64_t rank = first.rank();
    OT_CHECK(rank > 0, "{}: cannot concatenate scalars", node.label());
    const size_t axis = static_cast<size_t>(normalize_axis(axis_, rank, "Concat axis"));
    Shape out = first.shape();
    out[axis] = 0;
    for (size_t i = 0; i < ctx.num_inputs(); ++i) {
      const Tensor& t = ctx.input(i);
      OT_CHECK(t.dtype() == first.dtype() && t.rank() == rank,
               "{}: input {} is {} but input 0 is {}; all inputs need the same type and rank", node.label(), i,
               t.describe(), first.describe());
      for (size_t d = 0; d < static_cast<size_t>(rank); ++d)
        OT_CHECK(d == axis || t.shape()[d] == first.shape()[d],
                 "{}: input {} {} and input 0 {} differ in dimension {} (only axis {} may differ)", node.label(), i,
                 t.describe(), first.describe(), d, axis);
      out[axis] += t.shape()[axis];
    }
    Tensor& y = ctx.allocate_output(0, first.dtype(), out);
    if (y.numel() == 0) return;
    const size_t elem = dtype_size(first.dtype());
    const int64_t outer = product(out, 0, axis);
    const int64_t inner = product(out, axis + 1, out.size());
    int64_t offset = 0;  // elements along the axis already written
    for (size_t i = 0; i < ctx.num_inputs(); ++i) {
      const Tensor& t = ctx.input(i);
      const int64_t row = t.shape()[axis] * inner;
      copy_strided(bytes_of(t), {row, 1}, bytes_of(y) + offset * inner * static_cast<int64_t>(elem),
                   {out[axis] * inner, 1}, {outer, row}, elem);
      offset += t.shape()[axis];
    }
  }

 private:
  int64_t axis_;
};

// Split: x is cut along `axis` into consecutive parts, one per output, of the lengths in
// `split` (attribute before opset 13, optional input from 13) or else of equal length.
class SplitKernel : public Kernel {
 public:
  explicit SplitKernel(const KernelInfo& info) : axis_(info.node.attr_int("axis", 0)) {
    const Node& n = info.node;
    if (n.since_version < 13) split_ = n.attr_ints("split", {});
    for (int64_t s : split_) OT_CHECK(s >= 0, "{}: split {} has a negative length", n.label(), shape_str(split_));
  }
  void run(KernelContext& ctx) override {
    const Node& node = ctx.node();
    const Tensor& x = ctx.input(0);
    OT_CHECK(x.rank() > 0, "{}: cannot split the scalar {}", node.label(), x.describe());
    const size_t axis = static_cast<size_t>(normalize_axis(axis_, x.rank(), "Split axis"));
    const int64_t dim = x.shape()[axis];
    const size_t parts = ctx.num_outputs();
    std::vector<int64_t> split = split_;
    if (node.since_version >= 13 && ctx.has_input(1)) split = ctx.input(1).to_int64s();
    if (split.empty()) {
      OT_CHECK(dim % static_cast<int64_t>(parts) == 0,
               "{}: input {} has {} elements along axis {}, which do not split into {} equal parts; pass 'split'",
               node.label(), x.describe(), dim, axis, parts);
      split.assign(parts, dim / static_cast<int64_t>(parts));
    }
    OT_CHECK(split.size() == parts, "{}: split {} has {} entries for {} outputs", node.label(), shape_str(split),
             split.size(), parts);
    int64_t total = 0;
    for (int64_t s : split) {
      OT_CHECK(s >= 0, "{}: split {} has a negative length", node.label(), shape_str(split));
      total += s;
    }
    OT_CHECK(total == dim, "{}: split {} sums to {} but input {} has {} elements along axis {}", node.label(),
             shape_str(split), total, x.describe(), dim, axis);
    const size_t elem = dtype_size(x.dtype());
    const int64_t outer = product(x.shape(), 0, axis);
    const int64_t inner = product(x.shape(), axis + 1, x.shape().size());
    int64_t offset = 0;
    for (size_t i = 0; i < parts; ++i) {
      Shape shape = x.shape();
      shape[axis] = split[i];
      if (ctx.output_wanted(i)) {
        Tensor& y = ctx.allocate_output(i, x.dtype(), shape);
        if (y.numel() > 0)
          copy_strided(bytes_of(x) + offset * inner * static_cast<int64_t>(elem), {dim * inner, 1}, bytes_of(y),
                       {split[i] * inner, 1}, {outer, split[i] * inner}, elem);
      }
      offset += split[i];
    }
  }

 private:
  int64_t axis_;
  std::vector<int64_t> split_;
};

// Slice: along each listed axis keep x[start : end : step] (numpy semantics). Negative
// start/end count from the end; they are clamped to [0, dim] for positive steps and to
// [-1, dim - 1] for negative ones (so INT_MAX / INT_MIN mean "to the end").
// Slice-1 takes starts/ends/axes as attributes (no steps); Slice-10+ as inputs.
class SliceKernel : public Kernel {
 public:
  explicit SliceKernel(const KernelInfo& info) {
    const Node& n = info.node;
    if (n.since_version < 10) {
      starts_ = n.attr_ints("starts");
      ends_ = n.attr_ints("ends");
      axes_ = n.attr_ints("axes", {});
      OT_CHECK(starts_.size() == ends_.size(), "{}: starts {} and ends {} differ in length", n.label(),
               shape_str(starts_), shape_str(ends_));
    }
  }
  void run(KernelContext& ctx) override {
    const Node& node = ctx.node();
    const Tensor& x = ctx.input(0);
    std::vector<int64_t> starts = starts_, ends = ends_, axes = axes_, steps;
    if (node.since_version >= 10) {
      starts = ctx.input(1).to_int64s();
      ends = ctx.input(2).to_int64s();
      if (ctx.has_input(3)) axes = ctx.input(3).to_int64s();
      if (ctx.has_input(4)) steps = ctx.input(4).to_int64s();
    }
    if (axes.empty())
      for (size_t i = 0; i < starts.size(); ++i) axes.push_back(static_cast<int64_t>(i));
    if (steps.empty()) steps.assign(starts.size(), 1);
    OT_CHECK(starts.size() == ends.size() && axes.size() == starts.size() && steps.size() == starts.size(),
             "{}: starts {}, ends {}, axes {} and steps {} must have the same length", node.label(), shape_str(starts),
             shape_str(ends), shape_str(axes), shape_str(steps));
    const Shape& in = x.shape();
    OT_CHECK(x.rank() > 0 || axes.empty(), "{}: cannot slice the scalar {}", node.label(), x.describe());
    const std::vector<int64_t> strides = strides_of(in);
    Shape out = in;
    std::vector<int64_t> src_strides = strides;
    std::vector<bool> seen(in.size(), false);
    int64_t offset = 0;
    for (size_t i = 0; i < axes.size(); ++i) {
      const size_t a = static_cast<size_t>(normalize_axis(axes[i], x.rank(), "Slice axis"));
      OT_CHECK(!seen[a], "{}: axis {} is listed twice in axes {}", node.label(), a, shape_str(axes));
      seen[a] = true;
      const int64_t dim = in[a];
      OT_CHECK(steps[i] != 0, "{}: steps {} contains 0", node.label(), shape_str(steps));
      // A step longer than the axis takes one element either way; clamping avoids overflow.
      const int64_t step = std::clamp<int64_t>(steps[i], -dim - 1, dim + 1);
      int64_t start = starts[i], end = ends[i];
      if (start < 0) start += dim;
      if (end < 0) end += dim;
      int64_t count;
      if (dim == 0) {
        count = 0;
      } else if (step > 0) {
        start = std::clamp<int64_t>(start, 0, dim);
        end = std::clamp<int64_t>(end, 0, dim);
        count = end > start ? (end - start - 1) / step + 1 : 0;
      } else {
        start = std::clamp<int64_t>(start, 0, dim - 1);
        end = std::clamp<int64_t>(end, -1, dim - 1);
        count = start > end ? (start - end - 1) / -step + 1 : 0;
      }
      out[a] = count;
      src_strides[a] = strides[a] * step;
      if (count > 0) offset += start * strides[a];
    }
    gather_to_output(ctx, x, out, src_strides, offset, out);
  }

 private:
  std::vector<int64_t> starts_, ends_, axes_;
};

// Pad: y has shape dim + pads_begin + pads_end per axis (negative pads crop). Inside, y is x;
// outside, by mode: 'constant' (value; attribute before opset 11, optional input after),
// 'reflect' (mirror without repeating the edge), 'edge' (repeat the edge) or 'wrap' (opset 19,
// which reaches this kernel through the Pad-19 lowering: x repeated periodically; negative pads
// crop x first and the rest repeats, as ONNX Runtime does).
// pads = [x1_begin, x2_begin, ..., x1_end, x2_end, ...] (attribute before 11, input after).
class PadKernel : public Kernel {
 public:
  explicit PadKernel(const KernelInfo& info) {
    const Node& n = info.node;
    mode_ = n.attr_string("mode", "constant");
    OT_CHECK(mode_ == "constant" || mode_ == "reflect" || mode_ == "edge" || mode_ == "wrap",
             "{}: mode '{}' is not supported (use constant, reflect, edge or wrap)", n.label(), mode_);
    if (n.since_version < 11) {
      pads_ = n.attr_ints("pads");
      value_ = n.attr_float("value", 0.0f);
    }
  }
  void run(KernelContext& ctx) override {
    const Node& node = ctx.node();
    const Tensor& x = ctx.input(0);
    const size_t rank = x.shape().size();
    std::vector<int64_t> pads = node.since_version < 11 ? pads_ : ctx.input(1).to_int64s();
    OT_CHECK(pads.size() == 2 * rank, "{}: pads {} has {} entries but input {} needs 2 * rank = {}", node.label(),
             shape_str(pads), pads.size(), x.describe(), 2 * rank);
    Shape out(rank);
    for (size_t a = 0; a < rank; ++a) {
      out[a] = x.shape()[a] + pads[a] + pads[a + rank];
      OT_CHECK(out[a] >= 0, "{}: pads {} crop more than input {} has along axis {}", node.label(), shape_str(pads),
               x.describe(), a);
      if (mode_ != "constant" && out[a] > 0)
        OT_CHECK(x.shape()[a] > 0, "{}: cannot pad the empty axis {} of input {} in mode '{}'", node.label(), a,
                 x.describe(), mode_);
    }
    const bool has_value_input = node.since_version >= 11 && ctx.has_input(2) && ctx.input(2).numel() > 0;
    if (has_value_input)
      OT_CHECK(ctx.input(2).dtype() == x.dtype(), "{}: constant_value {} must have the type of the input {}",
               node.label(), ctx.input(2).describe(), x.describe());
    Tensor& y = ctx.allocate_output(0, x.dtype(), out);
    if (y.numel() == 0) return;
    const size_t elem = dtype_size(x.dtype());
    if (mode_ == "constant") {
      fill_constant(y, has_value_input ? &ctx.input(2) : nullptr);
      // Copy the part of x that lands inside y.
      Shape region(rank);
      int64_t src_offset = 0, dst_offset = 0;
      const std::vector<int64_t> xs = strides_of(x.shape()), ys = strides_of(out);
      for (size_t a = 0; a < rank; ++a) {
        const int64_t src_begin = std::max<int64_t>(0, -pads[a]);
        const int64_t src_end = std::min(x.shape()[a], x.shape()[a] + pads[a + rank]);
        region[a] = std::max<int64_t>(0, src_end - src_begin);
        src_offset += src_begin * xs[a];
        dst_offset += std::max<int64_t>(0, pads[a]) * ys[a];
      }
      if (shape_numel(region) > 0)
        copy_strided(bytes_of(x) + src_offset * static_cast<int64_t>(elem), xs,
                     bytes_of(y) + dst_offset * static_cast<int64_t>(elem), ys, region, elem);
      return;
    }
    // reflect / edge / wrap: each output coordinate maps to one input coordinate per axis.
    std::vector<std::vector<int64_t>> source(rank);
    for (size_t a = 0; a < rank; ++a) {
      const int64_t dim = x.shape()[a];
      // wrap: the kept part x[kept_begin : kept_begin + kept] repeats with period `kept`.
      const int64_t kept_begin = std::max<int64_t>(0, -pads[a]);
      const int64_t kept = dim - kept_begin - std::max<int64_t>(0, -pads[a + rank]);
      if (mode_ == "wrap" && out[a] > 0)
        OT_CHECK(kept > 0, "{}: pads {} crop all of axis {} of input {}, which leaves nothing to wrap", node.label(),
                 shape_str(pads), a, x.describe());
      source[a].resize(static_cast<size_t>(out[a]));
      for (int64_t o = 0; o < out[a]; ++o) {
        int64_t i = o - pads[a];
        if (mode_ == "wrap") {
          const int64_t shift = o - std::max<int64_t>(0, pads[a]);
          i = kept_begin + ((shift % kept) + kept) % kept;
        } else if (mode_ == "edge") {
          i = std::clamp<int64_t>(i, 0, dim - 1);
        } else if (dim == 1) {
          i = 0;
        } else {
          const int64_t period = 2 * (dim - 1);
          i = ((i % period) + period) % period;
          if (i >= dim) i = period - i;
        }
        source[a][static_cast<size_t>(o)] = i;
      }
    }
    const std::vector<int64_t> xs = strides_of(x.shape());
    const char* src = bytes_of(x);
    char* dst = bytes_of(y);
    std::vector<int64_t> index(rank, 0);
    for (int64_t flat = 0; flat < y.numel(); ++flat) {
      int64_t offset = 0;
      for (size_t a = 0; a < rank; ++a) offset += source[a][static_cast<size_t>(index[a])] * xs[a];
      std::memcpy(dst + flat * static_cast<int64_t>(elem), src + offset * static_cast<int64_t>(elem), elem);
      for (size_t a = rank; a-- > 0;) {
        if (++index[a] < out[a]) break;
        index[a] = 0;
      }
    }
  }

 private:
  // Fills y with the pad value: the constant_value input if given, else the attribute value.
  void fill_constant(Tensor& y, const Tensor* value) const {
    visit_dtype(y.dtype(), [&](auto tag) {
      using T = typename decltype(tag)::type;
      const T v = value != nullptr ? value->data<T>()[0] : from_compute<T>(value_);
      T* out = y.data<T>();
      std::fill(out, out + y.numel(), v);
    });
  }

  std::string mode_;
  std::vector<int64_t> pads_;
  float value_ = 0.0f;
};

// Tile: y.shape[i] = x.shape[i] * repeats[i]; y[j] = x[j mod x.shape] per axis.
class TileKernel : public Kernel {
 public:
  explicit TileKernel(const KernelInfo&) {}
  void run(KernelContext& ctx) override {
    const Tensor& x = ctx.input(0);
    const std::vector<int64_t> repeats = ctx.input(1).to_int64s();
    OT_CHECK(static_cast<int>(repeats.size()) == x.rank(), "{}: repeats {} has {} entries but input {} has rank {}",
             ctx.node().label(), shape_str(repeats), repeats.size(), x.describe(), x.rank());
    // y viewed as [r0, d0, r1, d1, ...] reads x with stride 0 along each repeat axis.
    const std::vector<int64_t> strides = strides_of(x.shape());
    Shape view, out;
    std::vector<int64_t> src_strides;
    for (size_t a = 0; a < repeats.size(); ++a) {
      OT_CHECK(repeats[a] >= 0, "{}: repeats {} has a negative entry", ctx.node().label(), shape_str(repeats));
      view.insert(view.end(), {repeats[a], x.shape()[a]});
      src_strides.insert(src_strides.end(), {0, strides[a]});
      out.push_back(repeats[a] * x.shape()[a]);
    }
    gather_to_output(ctx, x, view, src_strides, 0, out);
  }
};

// Expand: y = x broadcast (numpy rules, both ways) with `shape`.
class ExpandKernel : public Kernel {
 public:
  explicit ExpandKernel(const KernelInfo&) {}
  void run(KernelContext& ctx) override {
    const Tensor& x = ctx.input(0);
    const Shape shape = ctx.input(1).to_int64s();
    const Shape out = broadcast_shapes(x.shape(), shape);
    gather_to_output(ctx, x, out, broadcast_strides(x.shape(), out), 0, out);
  }
};

// DepthToSpace: [N, C, H, W] -> [N, C / b^2, H * b, W * b]. DCR (the only mode before
// opset 11): channel c = (i * b + j) * C' + c'; CRD: c = (c' * b + i) * b + j; the value goes
// to y[n, c', h * b + i, w * b + j].
class DepthToSpaceKernel : public Kernel {
 public:
  explicit DepthToSpaceKernel(const KernelInfo& info) : block_(info.node.attr_int("blocksize")) {
    const Node& n = info.node;
    OT_CHECK(block_ > 0, "{}: blocksize {} must be positive", n.label(), block_);
    if (n.since_version >= 11) mode_ = n.attr_string("mode", "DCR");
    OT_CHECK(mode_ == "DCR" || mode_ == "CRD", "{}: mode '{}' must be DCR or CRD", n.label(), mode_);
  }
  void run(KernelContext& ctx) override {
    const Tensor& x = ctx.input(0);
    const int64_t b = block_;
    OT_CHECK(x.rank() == 4 && x.shape()[1] % (b * b) == 0,
             "{}: input {} must be [N, C, H, W] with C divisible by blocksize^2 = {}", ctx.node().label(), x.describe(),
             b * b);
    const int64_t n = x.shape()[0], c = x.shape()[1] / (b * b), h = x.shape()[2], w = x.shape()[3];
    const Shape out = {n, c, h * b, w * b};
    if (mode_ == "DCR")
      permute_to_output(ctx, x, {n, b, b, c, h, w}, {0, 3, 4, 1, 5, 2}, out);
    else
      permute_to_output(ctx, x, {n, c, b, b, h, w}, {0, 1, 4, 2, 5, 3}, out);
  }

 private:
  int64_t block_;
  std::string mode_ = "DCR";
};

// SpaceToDepth: [N, C, H, W] -> [N, C * b^2, H / b, W / b], the inverse of DepthToSpace DCR:
// y[n, (i * b + j) * C + c, h, w] = x[n, c, h * b + i, w * b + j].
class SpaceToDepthKernel : public Kernel {
 public:
  explicit SpaceToDepthKernel(const KernelInfo& info) : block_(info.node.attr_int("blocksize")) {
    OT_CHECK(block_ > 0, "{}: blocksize {} must be positive", info.node.label(), block_);
  }
  void run(KernelContext& ctx) override {
    const Tensor& x = ctx.input(0);
    const int64_t b = block_;
    OT_CHECK(x.rank() == 4 && x.shape()[2] % b == 0 && x.shape()[3] % b == 0,
             "{}: input {} must be [N, C, H, W] with H and W divisible by blocksize {}", ctx.node().label(),
             x.describe(), b);
    const int64_t n = x.shape()[0], c = x.shape()[1], h = x.shape()[2] / b, w = x.shape()[3] / b;
    permute_to_output(ctx, x, {n, c, h, b, w, b}, {0, 3, 5, 1, 2, 4}, {n, c * b * b, h, w});
  }

 private:
  int64_t block_;
};

// Trilu: over the last two axes [rows, cols], keep x[i, j] where j - i >= k (upper = 1) or
// j - i <= k (upper = 0), zero elsewhere; k is the optional scalar input (default 0).
class TriluKernel : public Kernel {
 public:
  explicit TriluKernel(const KernelInfo& info) : upper_(info.node.attr_int("upper", 1) != 0) {}
  void run(KernelContext& ctx) override {
    const Tensor& x = ctx.input(0);
    OT_CHECK(x.rank() >= 2, "{}: input {} needs rank >= 2", ctx.node().label(), x.describe());
    int64_t k = 0;
    if (ctx.has_input(1)) {
      const std::vector<int64_t> kv = ctx.input(1).to_int64s();
      OT_CHECK(kv.size() == 1, "{}: k {} must be a single value", ctx.node().label(), ctx.input(1).describe());
      k = kv[0];
    }
    Tensor& y = ctx.allocate_output(0, x.dtype(), x.shape());
    const int64_t rows = x.dim(-2), cols = x.dim(-1);
    if (y.numel() == 0) return;
    const int64_t matrices = x.numel() / (rows * cols);
    const int64_t elem = static_cast<int64_t>(dtype_size(x.dtype()));
    const char* src = bytes_of(x);
    char* dst = bytes_of(y);
    // Clamp k so that i + k cannot overflow.
    k = std::clamp<int64_t>(k, -rows - 1, cols + 1);
    for (int64_t m = 0; m < matrices; ++m)
      for (int64_t i = 0; i < rows; ++i) {
        const int64_t begin = upper_ ? std::clamp<int64_t>(i + k, 0, cols) : 0;
        const int64_t end = upper_ ? cols : std::clamp<int64_t>(i + k + 1, 0, cols);
        if (end <= begin) continue;
        const int64_t at = ((m * rows + i) * cols + begin) * elem;
        std::memcpy(dst + at, src + at, static_cast<size_t>((end - begin) * elem));
      }
  }

 private:
  bool upper_;
};

}  // namespace

ONNX_TRAIN_REGISTER_KERNELS(shape_movement) {
  registry.add<TransposeKernel>("Transpose", {1, 13});
  registry.add<ConcatKernel>("Concat", {4, 11, 13});
  registry.add<SplitKernel>("Split", {2, 11, 13});
  registry.add<SliceKernel>("Slice", {1, 10, 11, 13});
  registry.add<PadKernel>("Pad", {2, 11, 13});
  registry.add<TileKernel>("Tile", {6, 13});
  registry.add<ExpandKernel>("Expand", {8, 13});
  registry.add<DepthToSpaceKernel>("DepthToSpace", {1, 11, 13});
  registry.add<SpaceToDepthKernel>("SpaceToDepth", {1, 13});
  registry.add<TriluKernel>("Trilu", {14});
}

}  // namespace onnx_train
