// Einsum (ONNX 12): the Einstein summation convention over any number of inputs.
//
// The equation names every input axis with a letter ("ij,jk->ik"); "..." stands for a run
// of leading/middle axes that broadcast numpy-style across the inputs. A letter repeated
// within one input takes the diagonal; letters missing from the output are summed over.
// Without "->" (implicit mode) the output is the broadcast "..." axes followed by the
// letters that occur exactly once, in alphabetical (ASCII) order.
//
// The kernel is a direct nested loop over every label (output labels outermost, then the
// summed ones): each input keeps a running offset, advanced by the summed stride of its
// axes carrying that label (which is how repeated letters read the diagonal). Products
// accumulate in double for floats and in int64 for integers.
#include <algorithm>
#include <string>

#include "runtime/core/dispatch.h"
#include "runtime/kernels/kernel.h"
#include "runtime/kernels/registry.h"
#include "runtime/kernels/util.h"

namespace onnx_train {

namespace {

constexpr int kLetterCount = 52;  // 'A'..'Z' -> 0..25, 'a'..'z' -> 26..51; ellipsis axes follow

// One term of the equation: its letter labels in order, with -1 where "..." stands.
struct Term {
  std::vector<int> labels;
  bool has_ellipsis = false;
};

int letter_label(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return 26 + (c - 'a');
  return -2;
}

Term parse_term(const Node& node, const std::string& text) {
  Term term;
  for (size_t i = 0; i < text.size();) {
    if (text.compare(i, 3, "...") == 0) {
      OT_CHECK(!term.has_ellipsis, "{}: term '{}' has more than one '...'", node.label(), text);
      term.has_ellipsis = true;
      term.labels.push_back(-1);
      i += 3;
      continue;
    }
    const int label = letter_label(text[i]);
    OT_CHECK(label >= 0, "{}: unexpected character '{}' in einsum term '{}' (use letters and '...')", node.label(),
             text[i], text);
    term.labels.push_back(label);
    ++i;
  }
  return term;
}

// Einsum: y = sum over the non-output labels of the product of the inputs, as the
// `equation` attribute says. Inputs: one or more tensors of one numeric type; y: the shape
// of the output labels.
class EinsumKernel : public Kernel {
 public:
  explicit EinsumKernel(const KernelInfo& info) {
    const Node& node = info.node;
    std::string eq;
    for (char c : node.attr_string("equation"))
      if (c != ' ') eq += c;
    const size_t arrow = eq.find("->");
    const std::string lhs = arrow == std::string::npos ? eq : eq.substr(0, arrow);
    size_t start = 0;
    while (true) {
      const size_t comma = lhs.find(',', start);
      inputs_.push_back(
          parse_term(node, lhs.substr(start, comma == std::string::npos ? std::string::npos : comma - start)));
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
    if (arrow != std::string::npos) {
      output_ = parse_term(node, eq.substr(arrow + 2));
      for (size_t i = 0; i < output_.labels.size(); ++i) {
        const int l = output_.labels[i];
        OT_CHECK(std::count(output_.labels.begin(), output_.labels.end(), l) == 1,
                 "{}: the output of '{}' repeats a label", node.label(), eq);
        bool found = l < 0;
        for (const Term& t : inputs_) found = found || std::count(t.labels.begin(), t.labels.end(), l) > 0;
        OT_CHECK(found, "{}: output label {} of '{}' appears in no input", node.label(), i, eq);
      }
    } else {
      std::vector<int> uses(kLetterCount, 0);
      for (const Term& t : inputs_) {
        if (t.has_ellipsis) output_.has_ellipsis = true;
        for (int l : t.labels)
          if (l >= 0) ++uses[static_cast<size_t>(l)];
      }
      if (output_.has_ellipsis) output_.labels.push_back(-1);
      for (int l = 0; l < kLetterCount; ++l)
        if (uses[static_cast<size_t>(l)] == 1) output_.labels.push_back(l);
    }
    equation_ = eq;
  }

  void run(KernelContext& ctx) override {
    const Node& node = ctx.node();
    OT_CHECK(ctx.num_inputs() == inputs_.size(), "{}: equation '{}' has {} terms but the node has {} inputs",
             node.label(), equation_, inputs_.size(), ctx.num_inputs());
    const DType dtype = ctx.input(0).dtype();
    // The number of axes "..." stands for: the largest over the inputs.
    int64_t ellipsis_rank = 0;
    for (size_t k = 0; k < inputs_.size(); ++k) {
      const Tensor& x = ctx.input(k);
      OT_CHECK(x.dtype() == dtype, "{}: input {} is {} but input 0 is {}; einsum needs one element type", node.label(),
               k, x.describe(), ctx.input(0).describe());
      const int64_t letters = static_cast<int64_t>(inputs_[k].labels.size()) - (inputs_[k].has_ellipsis ? 1 : 0);
      OT_CHECK(inputs_[k].has_ellipsis ? x.rank() >= letters : x.rank() == letters,
               "{}: input {} has shape {} but its term in '{}' names {} axes", node.label(), k, shape_str(x.shape()),
               equation_, letters);
      ellipsis_rank = std::max<int64_t>(ellipsis_rank, x.rank() - letters);
    }
    const size_t num_labels = static_cast<size_t>(kLetterCount + ellipsis_rank);
    // Label sizes (-1 = unused) and, per input, the stride each label advances it by.
    std::vector<int64_t> size(num_labels, -1);
    std::vector<std::vector<int64_t>> axis_labels(inputs_.size());
    for (size_t k = 0; k < inputs_.size(); ++k) {
      const Tensor& x = ctx.input(k);
      const int64_t here =
          x.rank() - (static_cast<int64_t>(inputs_[k].labels.size()) - (inputs_[k].has_ellipsis ? 1 : 0));
      for (int l : inputs_[k].labels) {
        if (l >= 0) {
          axis_labels[k].push_back(l);
        } else {
          for (int64_t e = 0; e < here; ++e) axis_labels[k].push_back(kLetterCount + ellipsis_rank - here + e);
        }
      }
      for (size_t a = 0; a < axis_labels[k].size(); ++a) {
        const size_t l = static_cast<size_t>(axis_labels[k][a]);
        const int64_t d = x.shape()[a];
        const bool is_ellipsis = l >= static_cast<size_t>(kLetterCount);
        if (size[l] < 0 || (is_ellipsis && size[l] == 1)) {
          size[l] = d;
        } else {
          OT_CHECK(size[l] == d || (is_ellipsis && d == 1),
                   "{}: in '{}', input {} (shape {}) axis {} has size {} but the same label elsewhere has size {}",
                   node.label(), equation_, k, shape_str(x.shape()), a, d, size[l]);
        }
      }
    }
    std::vector<int64_t> order;  // output labels, then summed labels
    for (int l : output_.labels) {
      if (l >= 0)
        order.push_back(l);
      else
        for (int64_t e = 0; e < ellipsis_rank; ++e) order.push_back(kLetterCount + e);
    }
    Shape out_shape;
    for (int64_t l : order) out_shape.push_back(size[static_cast<size_t>(l)]);
    for (size_t l = 0; l < num_labels; ++l)
      if (size[l] >= 0 && std::find(order.begin(), order.end(), static_cast<int64_t>(l)) == order.end())
        order.push_back(static_cast<int64_t>(l));
    std::vector<std::vector<int64_t>> label_strides(inputs_.size(), std::vector<int64_t>(order.size(), 0));
    for (size_t k = 0; k < inputs_.size(); ++k) {
      const Shape& shape = ctx.input(k).shape();
      const std::vector<int64_t> strides = strides_of(shape);
      for (size_t a = 0; a < axis_labels[k].size(); ++a) {
        if (shape[a] == 1) continue;  // broadcast (or trivially size 1): no movement
        const size_t pos =
            static_cast<size_t>(std::find(order.begin(), order.end(), axis_labels[k][a]) - order.begin());
        label_strides[k][pos] += strides[a];
      }
    }
    Shape loop_shape;
    for (int64_t l : order) loop_shape.push_back(size[static_cast<size_t>(l)]);
    Tensor& y = ctx.allocate_output(0, dtype, out_shape);
    const int64_t total = shape_numel(loop_shape);
    const int64_t out_n = shape_numel(out_shape);
    if (total == 0) return;  // nothing to sum: y stays zero
    const int64_t per_output = total / out_n;
    visit_numeric(dtype, [&](auto tag) {
      using T = typename decltype(tag)::type;
      using A = std::conditional_t<std::is_floating_point_v<compute_t<T>>, double, int64_t>;
      std::vector<const T*> data;
      for (size_t k = 0; k < inputs_.size(); ++k) data.push_back(ctx.input(k).template data<T>());
      StridedWalk walk(loop_shape, label_strides);
      T* out = y.data<T>();
      for (int64_t o = 0; o < out_n; ++o) {
        A acc = 0;
        for (int64_t s = 0; s < per_output; ++s, walk.next()) {
          A product = 1;
          for (size_t k = 0; k < data.size(); ++k) product *= static_cast<A>(to_compute(data[k][walk.offset(k)]));
          acc += product;
        }
        out[o] = from_compute<T>(acc);
      }
    });
  }

 private:
  std::string equation_;
  std::vector<Term> inputs_;
  Term output_;
};

}  // namespace

ONNX_TRAIN_REGISTER_KERNELS(einsum) { registry.add<EinsumKernel>("Einsum", {12}); }

}  // namespace onnx_train
