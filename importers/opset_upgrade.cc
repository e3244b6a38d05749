// Upgrading a model's default-domain opset (importers/opset_upgrade.h).
#include "importers/opset_upgrade.h"

#include <onnx/defs/schema.h>
#include <onnx/shape_inference/implementation.h>
#include <onnx/version_converter/convert.h>

#include "onnx_train/error.h"

namespace onnx_train {

void upgrade_opset(onnx::ModelProto& model, int from, int to, const std::string& path, const std::string& why) {
  try {
    // The converter's broadcasting adapters need input shapes: infer them first.
    onnx::shape_inference::InferShapes(model, onnx::OpSchemaRegistry::Instance(),
                                       onnx::ShapeInferenceOptions(false, 0, true));
    model = onnx::version_conversion::ConvertVersion(model, to);
  } catch (const std::exception& e) {
    OT_FAIL(
        "{}: the model uses opset {} and ONNX's version converter could not upgrade it to opset {}, which {} needs: "
        "{}. Re-export the model with opset_version={} or more",
        path, from, to, why, e.what(), to);
  }
}

}  // namespace onnx_train
