// Lowerings of the conversion op versions of opsets 19-21 (importers/lower_opset.h).
//
// Cast-19 and CastLike-19 added `saturate`, QuantizeLinear-19 added `saturate` too: all three
// only for the float8 types, which the runtime does not have, so a node converting between the
// types it has is its opset-17 version without the attribute. QuantizeLinear-21 added
// `output_dtype` and block quantization (`block_size`), DequantizeLinear-21 block quantization:
// per-tensor and per-axis quantization lower to the opset-13 versions.
#include "importers/lower_opset.h"

namespace onnx_train {

namespace {

// The element types of opsets 19-23 the runtime has no kernels for: float8 (17-20), 4-bit
// integers (21, 22) and float4 (23).
bool is_newer_element_type(int64_t type) { return type >= 17 && type <= 23; }

void refuse_newer_type(LoweringContext& cx, int64_t type, const std::string& where) {
  if (is_newer_element_type(type))
    cx.fail(fmt::format("{} is element type {}, a float8/int4/float4 type of opsets 19-23 that onnx-train does not "
                        "support; keep such conversions out of the model you train",
                        where, type));
}

// Cast-19 / CastLike-19: the opset-13 op without `saturate`.
void lower_cast(LoweringContext& cx) {
  std::map<std::string, Attribute> attributes = cx.node().attributes;
  attributes.erase("saturate");
  if (cx.node().op_type == "Cast") refuse_newer_type(cx, cx.node().attr_int("to"), "its target type");
  cx.keep(attributes);
}

// A zero point of element type `type` and the shape of `scale` (all zeros), for a
// QuantizeLinear-21 with output_dtype and no zero point of its own.
std::string zero_point_like(LoweringContext& cx, const std::string& scale, int64_t type) {
  GraphEditor& e = cx.editor();
  const std::string zero = e.filled_like(scale, 0.0, e.fresh(scale + "_zero"));
  return e.add1("Cast", {zero}, e.fresh(scale + "_zero_point"), {{"to", Attribute::of_int(type)}});
}

// QuantizeLinear-19/21: y = saturate(round(x / scale) + zero_point), per tensor or per axis.
void lower_quantize_linear(LoweringContext& cx) {
  const Node& n = cx.node();
  if (n.attr_int("block_size", 0) != 0)
    cx.fail("block quantization (block_size > 0) is not supported; quantize per tensor or per axis");
  std::vector<std::string> inputs = n.inputs;
  const int64_t output_dtype = n.attr_int("output_dtype", 0);
  refuse_newer_type(cx, output_dtype, "its output_dtype");
  if (n.has_input(2)) {
    const DType zp = cx.dtype(n.inputs[2]);
    refuse_newer_type(cx, static_cast<int64_t>(zp), "its zero point");
    if (output_dtype != 0 && zp != DType::Undefined && static_cast<int64_t>(zp) != output_dtype)
      cx.fail(fmt::format("output_dtype {} differs from the zero point's element type {}", output_dtype,
                          dtype_name(zp)));
  } else if (output_dtype != 0 && output_dtype != static_cast<int64_t>(DType::UInt8)) {
    inputs.resize(3);
    inputs[2] = zero_point_like(cx, n.inputs[1], output_dtype);
  }
  std::map<std::string, Attribute> attributes;
  if (n.has_attr("axis")) attributes["axis"] = n.attributes.at("axis");
  cx.emit("QuantizeLinear", inputs, n.outputs, attributes);
}

// DequantizeLinear-21: y = (x - zero_point) * scale, per tensor or per axis.
void lower_dequantize_linear(LoweringContext& cx) {
  const Node& n = cx.node();
  if (n.attr_int("block_size", 0) != 0)
    cx.fail("block quantization (block_size > 0) is not supported; dequantize per tensor or per axis");
  refuse_newer_type(cx, static_cast<int64_t>(cx.dtype(n.inputs[0])), "its input");
  std::map<std::string, Attribute> attributes = n.attributes;
  attributes.erase("block_size");
  cx.keep(attributes);
}

}  // namespace

ONNX_TRAIN_LOWERINGS(casts) {
  rules.push_back({"Cast", 19, lower_cast, "Cast-13 (saturate applies to float8 only)"});
  rules.push_back({"CastLike", 19, lower_cast, "CastLike-15 (saturate applies to float8 only)"});
  rules.push_back({"QuantizeLinear", 19, lower_quantize_linear, "QuantizeLinear-13"});
  rules.push_back({"QuantizeLinear", 21, lower_quantize_linear, "QuantizeLinear-13 (+ a zero point for output_dtype)"});
  rules.push_back({"DequantizeLinear", 21, lower_dequantize_linear, "DequantizeLinear-13"});
}

}  // namespace onnx_train
