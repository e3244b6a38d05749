// oneDNN softmax and log-softmax (float32), see softmax.h.
#include "runtime/kernels/dnnl/softmax.h"

#include <map>
#include <oneapi/dnnl/dnnl.hpp>
#include <tuple>

#include "onnx_train/tensor.h"
#include "runtime/kernels/dnnl/dnnl_common.h"

namespace onnx_train {

struct DnnlSoftmax::Cache {
  struct Entry {
    dnnl::memory::desc desc;
    dnnl::primitive primitive;
  };
  std::map<std::tuple<int64_t, int64_t, int64_t>, Entry> entries;
};

DnnlSoftmax::DnnlSoftmax(bool log) : log_(log), cache_(std::make_unique<Cache>()) {}
DnnlSoftmax::~DnnlSoftmax() = default;

void DnnlSoftmax::run(const float* x, float* y, int64_t outer, int64_t n, int64_t inner) {
  if (outer == 0 || n == 0 || inner == 0) return;
  const auto key = std::make_tuple(outer, n, inner);
  auto it = cache_->entries.find(key);
  if (it == cache_->entries.end()) {
    const dnnl::memory::desc desc({outer, n, inner}, dnnl::memory::data_type::f32, dnnl::memory::format_tag::abc);
    Cache::Entry entry{desc, dnnl::primitive()};
    if (log_) {
      const dnnl::logsoftmax_forward::desc d(dnnl::prop_kind::forward_inference, desc, 1);
      entry.primitive =
          dnnl::logsoftmax_forward(dnnl::logsoftmax_forward::primitive_desc(d, dnnl_common::cpu_engine()));
    } else {
      const dnnl::softmax_forward::desc d(dnnl::prop_kind::forward_inference, desc, 1);
      entry.primitive = dnnl::softmax_forward(dnnl::softmax_forward::primitive_desc(d, dnnl_common::cpu_engine()));
    }
    it = cache_->entries.emplace(key, std::move(entry)).first;
  }
  const dnnl::memory::desc& desc = it->second.desc;
  dnnl::stream& stream = dnnl_common::cpu_stream();
  it->second.primitive.execute(
      stream, {{DNNL_ARG_SRC, dnnl_common::wrap_f32(desc, x)}, {DNNL_ARG_DST, dnnl_common::wrap_f32(desc, y)}});
  stream.wait();
}

void softmax_any(DnnlSoftmax& dnnl, const Tensor& x, Tensor& y, int64_t outer, int64_t n, int64_t inner, bool log) {
  if (x.dtype() == DType::Float32) {
    dnnl.run(x.data<float>(), y.data<float>(), outer, n, inner);
    return;
  }
  visit_float(x.dtype(), [&](auto tag) {
    using T = typename decltype(tag)::type;
    softmax_reference<T>(x.data<T>(), y.data<T>(), outer, n, inner, log);
  });
}

}  // namespace onnx_train
