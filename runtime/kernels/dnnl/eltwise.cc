// oneDNN eltwise forward for float32 tensors (see eltwise.h).
#include "runtime/kernels/dnnl/eltwise.h"

#include "onnx_train/error.h"
#include "runtime/kernels/dnnl/dnnl_common.h"

namespace onnx_train {

DnnlEltwise::DnnlEltwise(std::vector<EltwiseStep> steps) : steps_(std::move(steps)) {
  OT_CHECK(!steps_.empty(), "DnnlEltwise needs at least one step");
}

void DnnlEltwise::run(const float* src, float* dst, int64_t count) {
  if (count == 0) return;
  // Described as 1 x count: oneDNN 2.6's reference eltwise with post-ops writes zeros for
  // 1-D tensors, and the 2-D view costs nothing.
  const dnnl::memory::desc md({1, count}, dnnl::memory::data_type::f32, dnnl::memory::format_tag::ab);
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = primitives_.find(count);
  if (it == primitives_.end()) {
    const EltwiseStep& main = steps_.front();
    dnnl::post_ops post_ops;
    for (size_t i = 1; i < steps_.size(); ++i)
      post_ops.append_eltwise(1.0f, steps_[i].algorithm, steps_[i].alpha, steps_[i].beta);
    dnnl::primitive_attr attr;
    attr.set_post_ops(post_ops);
    const dnnl::eltwise_forward::desc desc(dnnl::prop_kind::forward_inference, main.algorithm, md, main.alpha,
                                           main.beta);
    const dnnl::eltwise_forward::primitive_desc pd(desc, attr, dnnl_common::cpu_engine());
    it = primitives_.emplace(count, dnnl::eltwise_forward(pd)).first;
  }
  dnnl::stream& stream = dnnl_common::cpu_stream();
  it->second.execute(stream,
                     {{DNNL_ARG_SRC, dnnl_common::wrap_f32(md, src)}, {DNNL_ARG_DST, dnnl_common::wrap_f32(md, dst)}});
  stream.wait();
}

}  // namespace onnx_train
