// The kernel registry, the kernel context and the recording of self-registered kernel
// families (kernel.h, registry.h). The kernels themselves are in reference/ and dnnl/.
#include "runtime/kernels/registry.h"

#include <algorithm>

#include "runtime/core/buffer_pool.h"
#include "runtime/kernels/kernel.h"

namespace onnx_train {

DType KernelInfo::input_dtype(size_t i) const {
  return i < input_infos.size() && input_infos[i] != nullptr ? input_infos[i]->dtype : DType::Undefined;
}

const Tensor& KernelContext::input(size_t i) const {
  OT_CHECK(has_input(i), "{}: required input {} is missing", node_.label(), i);
  return *inputs_[i];
}

Tensor& KernelContext::allocate_output(size_t i, DType dtype, const Shape& shape) {
  OT_CHECK(i < outputs_.size(), "{}: has no output {}", node_.label(), i);
  outputs_[i] = Tensor(dtype, shape, pool_);
  return outputs_[i];
}

Tensor& KernelContext::allocate_output_to_overwrite(size_t i, DType dtype, const Shape& shape) {
  OT_CHECK(i < outputs_.size(), "{}: has no output {}", node_.label(), i);
  outputs_[i] = Tensor::uninitialized(dtype, shape, pool_);
  return outputs_[i];
}

Tensor* KernelContext::reuse_input_as_output(size_t in, size_t out) {
  OT_CHECK(out < outputs_.size(), "{}: has no output {}", node_.label(), out);
  if (dying_inputs_ == nullptr || in >= num_inputs_ || !dying_inputs_[in] || inputs_[in] == nullptr ||
      !inputs_[in]->sole_owner())
    return nullptr;
  outputs_[out] = *inputs_[in];
  return &outputs_[out];
}

void KernelContext::set_output(size_t i, Tensor tensor) {
  OT_CHECK(i < outputs_.size(), "{}: has no output {}", node_.label(), i);
  outputs_[i] = std::move(tensor);
}

void KernelRegistry::add(const std::string& op_type, std::vector<int> since_versions, KernelFactory factory,
                         const std::string& domain) {
  auto& versions = table_[{domain, op_type}];
  for (int v : since_versions) {
    OT_CHECK(!versions.count(v), "kernel {}{}-{} registered twice", domain.empty() ? "" : domain + ".", op_type, v);
    versions[v] = factory;
  }
}

const KernelFactory* KernelRegistry::find(const std::string& domain, const std::string& op_type,
                                          int since_version) const {
  auto it = table_.find({domain, op_type});
  if (it == table_.end()) return nullptr;
  auto v = it->second.find(since_version);
  return v == it->second.end() ? nullptr : &v->second;
}

std::vector<int> KernelRegistry::versions(const std::string& domain, const std::string& op_type) const {
  std::vector<int> out;
  auto it = table_.find({domain, op_type});
  if (it != table_.end())
    for (const auto& [v, f] : it->second) out.push_back(v);
  return out;
}

std::vector<std::pair<std::string, std::string>> KernelRegistry::ops() const {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& [key, versions] : table_) out.push_back(key);
  return out;
}

namespace {

// The families recorded so far. A function-local static: registrars run during static
// initialisation, in an order between files that nothing fixes.
std::vector<std::pair<std::string, KernelFamilyFunction>>& recorded_families() {
  static std::vector<std::pair<std::string, KernelFamilyFunction>> families;
  return families;
}

}  // namespace

KernelFamilyRegistrar::KernelFamilyRegistrar(const char* family, KernelFamilyFunction function) {
  recorded_families().emplace_back(family, function);
}

std::vector<std::pair<std::string, KernelFamilyFunction>> KernelFamilyRegistrar::families() {
  std::vector<std::pair<std::string, KernelFamilyFunction>> out = recorded_families();
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  for (size_t i = 1; i < out.size(); ++i)
    OT_CHECK(out[i].first != out[i - 1].first, "kernel family '{}' is registered by two files", out[i].first);
  return out;
}

const KernelRegistry& KernelRegistry::global() {
  static const KernelRegistry registry = [] {
    KernelRegistry r;
    for (const auto& [family, function] : KernelFamilyRegistrar::families()) function(r);
    return r;
  }();
  return registry;
}

}  // namespace onnx_train
