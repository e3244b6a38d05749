// Helpers that several rule families emit through (gradients/rules/common.cc).
//
// The index adjoint: a data-movement op that only selects elements of its input 0 (Slice,
// Compress, non-constant Pad, DepthToSpace CRD...) is run on iota, the flat index 0..n-1 of
// every element of x shaped like x; the result says, for every element of y, which element
// of x it was read from. dx is then the scatter-add of dy at those indices
// (GatherElementsGrad of the project domain; repeated indices accumulate), reshaped to x's
// shape. It is exact for any steps, clamps, negative starts and padding modes because it
// reuses the forward op's own index arithmetic. iota needs opset 9 (Range from 11,
// NonZero(ConstantOfShape(...)) at 9..10); the rules fail below it with a message.
#pragma once

#include <string>

#include "gradients/builder.h"

namespace onnx_train::rules {

// Shape(v), and v flattened to 1-D.
std::string shape_of(GradContext& g, const std::string& v);
std::string flat(GradContext& g, const std::string& v);
// v reshaped to the runtime shape of `like` (allowzero from Reshape-14: the shape is exact).
std::string reshape_like(GradContext& g, const std::string& v, const std::string& like);
// Zeros with the shape and element type of the forward value `like`.
std::string zeros_like(GradContext& g, const std::string& like);
// Fails with a message naming the node unless the graph's opset is at least `opset`.
void require_opset(GradContext& g, int opset, const char* why);
// int64 [n] = 0..n-1, n the element count of x.
std::string iota_of(GradContext& g, const std::string& x);
// dData = zeros(Shape(data)) with dy added along `axis` at `indices` (dy's shape).
std::string gather_elements_grad(GradContext& g, const std::string& data, const std::string& indices,
                                 const std::string& dy, int64_t axis);
// The index adjoint (top comment) of the node's forward map of input 0, applied to dy(0).
// `as_float`: the forward op only takes float data (Pad-2), so iota runs cast to x's type.
std::string index_adjoint(GradContext& g, bool as_float = false);

}  // namespace onnx_train::rules
