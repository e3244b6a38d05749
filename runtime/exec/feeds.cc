#include "runtime/exec/feeds.h"

namespace onnx_train {

TensorSpec spec_of(const ValueInfo& v) {
  TensorSpec spec;
  spec.name = v.name;
  spec.dtype = v.dtype;
  spec.rank_known = v.shape.has_value();
  if (v.shape) spec.shape = *v.shape;
  spec.dim_names = v.dim_params;
  spec.dim_names.resize(spec.shape.size());
  return spec;
}

void check_feed(const TensorSpec& spec, const Tensor& t, const std::string& source) {
  OT_CHECK(t.defined(), "{}: input '{}' was given an empty tensor", source, spec.name);
  OT_CHECK(spec.dtype == DType::Undefined || t.dtype() == spec.dtype,
           "{}: input '{}' must be {}, got {}; convert the data to {}", source, spec.name, spec.describe(),
           t.describe(), dtype_name(spec.dtype));
  if (!spec.rank_known) return;
  OT_CHECK(t.rank() == static_cast<int>(spec.shape.size()), "{}: input '{}' must be {} (rank {}), got {}", source,
           spec.name, spec.describe(), spec.shape.size(), t.describe());
  for (size_t d = 0; d < spec.shape.size(); ++d)
    OT_CHECK(spec.shape[d] < 0 || spec.shape[d] == t.shape()[d],
             "{}: input '{}' must be {}, got {} (dimension {} must be {})", source, spec.name, spec.describe(),
             t.describe(), d, spec.shape[d]);
}

std::vector<Tensor> order_feeds(const std::map<std::string, Tensor>& feeds, const std::vector<TensorSpec>& required,
                                const std::vector<TensorSpec>& optional, const std::string& source) {
  std::vector<Tensor> ordered;
  ordered.reserve(required.size() + optional.size());
  size_t used = 0;
  for (const auto& spec : required) {
    auto it = feeds.find(spec.name);
    OT_CHECK(it != feeds.end(), "{}: input '{}' ({}) was not given", source, spec.name, spec.describe());
    check_feed(spec, it->second, source);
    ordered.push_back(it->second);
    ++used;
  }
  for (const auto& spec : optional) {
    auto it = feeds.find(spec.name);
    if (it == feeds.end()) {
      ordered.emplace_back();
    } else {
      check_feed(spec, it->second, source);
      ordered.push_back(it->second);
      ++used;
    }
  }
  if (used != feeds.size()) {
    std::vector<std::string> names;
    for (const auto& s : required) names.push_back(s.name);
    for (const auto& [name, t] : feeds) {
      bool known = false;
      for (const auto& s : required) known |= s.name == name;
      for (const auto& s : optional) known |= s.name == name;
      OT_CHECK(known, "{}: the model has no input '{}'; its inputs are: {}", source, name, fmt::join(names, ", "));
    }
  }
  return ordered;
}

}  // namespace onnx_train
