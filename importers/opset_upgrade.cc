// Upgrading a model's default-domain opset (importers/opset_upgrade.h).
#include "importers/opset_upgrade.h"

#include <onnx/defs/schema.h>
#include <onnx/shape_inference/implementation.h>
#include <onnx/version_converter/convert.h>

#include <map>

#include "importers/shape_inference_guard.h"
#include "onnx_train/error.h"

namespace onnx_train {

void upgrade_opset(onnx::ModelProto& model, int from, int to, const std::string& path, const std::string& why) {
  // NOTE: the converter drops where an initializer's external data lives (it keeps the name, type
  // and shape only); initializers keep their names through it, so they are put back as they were.
  std::map<std::string, onnx::TensorProto> external;
  for (const auto& init : model.graph().initializer())
    if (init.data_location() == onnx::TensorProto::EXTERNAL) external[init.name()] = init;
  try {
    // The converter's broadcasting adapters need input shapes: infer them first.
    onnx::shape_inference::InferShapes(model, guarded_schema_registry(),
                                       onnx::ShapeInferenceOptions(false, 0, true));
    model = onnx::version_conversion::ConvertVersion(model, to);
    for (auto& init : *model.mutable_graph()->mutable_initializer()) {
      const auto it = external.find(init.name());
      if (it != external.end()) init = it->second;
    }
  } catch (const InferenceRefused& e) {
    fail_on_refused_inference(e, model.graph(), path);
  } catch (const std::exception& e) {
    OT_FAIL(
        "{}: the model uses opset {} and ONNX's version converter could not upgrade it to opset {}, which {} needs: "
        "{}. Re-export the model with opset_version={} or more",
        path, from, to, why, e.what(), to);
  }
}

}  // namespace onnx_train
