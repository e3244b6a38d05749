// Lowerings of the transformer op versions of opsets 18-23 other than Attention (attention.cc):
// Mish-18, Gelu-20, RMSNormalization-23 and RotaryEmbedding-23, each into opset-17 element-wise
// ops, reductions and shape ops whose gradient rules exist. Semantics follow the ONNX operator
// specification, checked against ONNX Runtime (tests/data/opset_new_cases/transformer.py).
#include <cmath>
#include <map>
#include <utility>

#include "importers/lower_opset.h"
#include "importers/lowerings/transformer_util.h"

namespace onnx_train {
namespace {

using namespace transformer_lowering;

// y = x * tanh(softplus(x))
void lower_mish(LoweringContext& cx) {
  GraphEditor& e = cx.editor();
  const std::string& x = cx.node().inputs[0];
  const std::string sp = e.add1("Softplus", {x}, e.fresh(x + "_softplus"));
  const std::string t = e.add1("Tanh", {sp}, e.fresh(x + "_tanh_softplus"));
  cx.emit("Mul", {x, t}, {cx.node().outputs[0]});
}

// approximate "none": y = 0.5 x (1 + erf(x / sqrt 2))
// approximate "tanh": y = 0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3)))
void lower_gelu(LoweringContext& cx) {
  GraphEditor& e = cx.editor();
  const std::string& x = cx.node().inputs[0];
  const std::string approximate = cx.node().attr_string("approximate", "none");
  if (approximate != "none" && approximate != "tanh")
    cx.fail("approximate '" + approximate + "' is not one of 'none' and 'tanh'");
  const DType dtype = float_type_of(cx, x, "Gelu");
  std::string g;  // erf(x / sqrt 2) or tanh(...)
  if (approximate == "none") {
    const std::string scaled =
        e.add1("Mul", {x, scalar(cx, dtype, 1 / std::sqrt(2.0), "gelu_rsqrt2")}, e.fresh(x + "_over_sqrt2"));
    g = e.add1("Erf", {scaled}, e.fresh(x + "_erf"));
  } else {
    const std::string x2 = e.add1("Mul", {x, x}, e.fresh(x + "_squared"));
    const std::string x3 = e.add1("Mul", {x2, x}, e.fresh(x + "_cubed"));
    const std::string c3 = e.add1("Mul", {x3, scalar(cx, dtype, 0.044715, "gelu_c")}, e.fresh(x + "_cubic_term"));
    const std::string inner = e.add1("Add", {x, c3}, e.fresh(x + "_gelu_inner"));
    const double k = std::sqrt(2.0 / M_PI);
    const std::string arg = e.add1("Mul", {inner, scalar(cx, dtype, k, "gelu_sqrt_2_over_pi")}, e.fresh(x + "_arg"));
    g = e.add1("Tanh", {arg}, e.fresh(x + "_tanh"));
  }
  const std::string one_plus = e.add1("Add", {g, scalar(cx, dtype, 1.0, "gelu_one")}, e.fresh(x + "_one_plus"));
  const std::string half_x = e.add1("Mul", {x, scalar(cx, dtype, 0.5, "gelu_half")}, e.fresh(x + "_half"));
  cx.emit("Mul", {half_x, one_plus}, {cx.node().outputs[0]});
}

// x / sqrt(mean(x^2 over `axes`) + epsilon), in `dtype` (x's type).
std::string rms_normalized(LoweringContext& cx, const std::string& x, const std::vector<int64_t>& axes, DType dtype,
                           float epsilon) {
  GraphEditor& e = cx.editor();
  const std::string sq = e.add1("Mul", {x, x}, e.fresh(x + "_squared"));
  const std::string ms = e.reduce("ReduceMean", sq, axes, true, e.fresh(x + "_mean_square"));
  const std::string ms_eps = e.add1("Add", {ms, scalar(cx, dtype, epsilon, "rms_epsilon")}, e.fresh(x + "_ms_eps"));
  const std::string rms = e.add1("Sqrt", {ms_eps}, e.fresh(x + "_rms"));
  return e.add1("Div", {x, rms}, e.fresh(x + "_rms_normalized"));
}

// y = x / sqrt(mean(x^2 over axes axis..r-1) + epsilon) * scale, computed in the wider of x's
// type and stash_type (1: float32, 11: float64).
// With x's rank known the mean is a ReduceMean over those axes; else Flatten(x, axis) makes it
// a [N, M] problem whose result takes x's shape back.
void lower_rms_normalization(LoweringContext& cx) {
  GraphEditor& e = cx.editor();
  const Node& n = cx.node();
  const std::string& x = n.inputs[0];
  const DType dtype = float_type_of(cx, x, "RMSNormalization");
  const int64_t axis = n.attr_int("axis", -1);
  const float epsilon = n.attr_float("epsilon", 1e-5f);
  const int64_t stash_type = n.attr_int("stash_type", 1);
  if (stash_type != 1 && stash_type != 11)
    cx.fail("stash_type " + std::to_string(stash_type) + " is not supported (1: float32, or 11: float64)");
  const DType compute = stash_type == 11 ? DType::Float64 : dtype;
  auto cast = [&](const std::string& v, DType to, const std::string& hint) {
    return e.add1("Cast", {v}, e.fresh(hint), {{"to", Attribute::of_int(onnx_type(to))}});
  };
  const std::string xc = compute == dtype ? x : cast(x, compute, x + "_stash");
  std::string normalized;
  if (const std::optional<int64_t> rank = cx.rank(x)) {
    const int64_t first = cx.normalized_axes({axis}, *rank)[0];
    std::vector<int64_t> axes;
    for (int64_t a = first; a < *rank; ++a) axes.push_back(a);
    normalized = rms_normalized(cx, xc, axes, compute, epsilon);
  } else {
    const std::string x2d = e.add1("Flatten", {xc}, e.fresh(x + "_2d"), {{"axis", Attribute::of_int(axis)}});
    const std::string y2d = rms_normalized(cx, x2d, {1}, compute, epsilon);
    normalized = e.add1("Reshape", {y2d, e.add1("Shape", {x}, e.fresh(x + "_shape"))}, e.fresh(x + "_rms_normalized"));
  }
  if (compute != dtype) normalized = cast(normalized, dtype, x + "_rms_normalized_cast");
  cx.emit("Mul", {normalized, n.inputs[1]}, {n.outputs[0]});
}

// ---- RotaryEmbedding-23 ----
//
// X is [B, H, S, D] or [B, S, H*D] (num_heads H); the first `rot` channels of every head rotate
// (rot = rotary_embedding_dim, or D), the rest pass through. cos and sin are [B, S, rot/2]:
// the caches gathered at position_ids [B, S] (caches [max_pos, rot/2]), or the caches themselves.
// With (x1, x2) the two halves of the rotated channels (interleaved: the even and odd ones),
//   real = cos x1 - sin x2,   imag = sin x1 + cos x2,
// written back where x1 and x2 were.

struct RotaryLayout {
  std::string x4;         // X as 4-D: [B, H, S, D] (4-D input) or [B, S, H, D] (3-D input)
  int64_t head_axis = 1;  // where cos/sin [B, S, rot/2] get their head axis
  int64_t head_size = 0;  // D
  int64_t hidden = 0;     // H * D of a 3-D input
};

RotaryLayout rotary_layout(LoweringContext& cx) {
  const Node& n = cx.node();
  const std::string& x = n.inputs[0];
  const int64_t rank = cx.required_rank(x, "RotaryEmbedding");
  RotaryLayout layout;
  if (rank == 4) {
    layout.x4 = x;
    layout.head_size = required_dim(cx, x, 3, "RotaryEmbedding (the head size)");
    return layout;
  }
  if (rank != 3) cx.fail("the input has rank " + std::to_string(rank) + "; RotaryEmbedding takes 3-D or 4-D input");
  const int64_t heads = n.attr_int("num_heads", 0);
  if (heads <= 0) cx.fail("a 3-D input needs the num_heads attribute");
  const int64_t hidden = required_dim(cx, x, 2, "RotaryEmbedding (the hidden size)");
  if (hidden % heads != 0)
    cx.fail("the hidden size " + std::to_string(hidden) + " is not a multiple of num_heads " + std::to_string(heads));
  layout.x4 = reshape(cx, x, {0, 0, heads, hidden / heads}, x + "_heads");
  layout.head_axis = 2;
  layout.head_size = hidden / heads;
  layout.hidden = hidden;
  return layout;
}

// cos or sin at every position, with a head axis: [B, 1, S, rot/2] or [B, S, 1, rot/2].
std::string rotary_table(LoweringContext& cx, const std::string& cache, int64_t head_axis) {
  GraphEditor& e = cx.editor();
  const Node& n = cx.node();
  const int64_t want = n.has_input(3) ? 2 : 3;  // [max_pos, rot/2] with position_ids, else [B, S, rot/2]
  const std::optional<int64_t> rank = cx.rank(cache);
  if (rank && *rank != want)
    cx.fail("'" + cache + "' has rank " + std::to_string(*rank) + "; the caches are " +
            (want == 2 ? "[max_position, rot/2] with position_ids" : "[B, S, rot/2] without position_ids"));
  const std::optional<int64_t> positions_rank = n.has_input(3) ? cx.rank(n.inputs[3]) : std::nullopt;
  if (positions_rank && *positions_rank != 2)
    cx.fail("position_ids has rank " + std::to_string(*positions_rank) + "; it is [B, S]");
  std::string table = cache;
  if (n.has_input(3)) table = e.add1("Gather", {cache, n.inputs[3]}, e.fresh(cache + "_at_positions"));
  return e.unsqueeze(table, {head_axis}, e.fresh(cache + "_per_head"));
}

// The rotated halves (real, imag) of x_rot [.., rot], with cos and sin broadcasting against
// them: [.., rot/2] each, or [.., rot/2, 1] when interleaved.
std::pair<std::string, std::string> rotate(LoweringContext& cx, const std::string& x_rot, int64_t rot,
                                           const std::string& cos, const std::string& sin, bool interleaved) {
  GraphEditor& e = cx.editor();
  const int64_t half = rot / 2;
  std::string x1, x2, c = cos, s = sin;
  if (interleaved) {  // [.., rot] -> [.., rot/2, 2]: channel 2i is x1[i], 2i+1 is x2[i]
    const std::string pairs = reshape(cx, x_rot, {0, 0, 0, half, 2}, x_rot + "_pairs");
    x1 = slice(cx, pairs, 4, 0, 1, x_rot + "_even");
    x2 = slice(cx, pairs, 4, 1, 2, x_rot + "_odd");
    c = e.unsqueeze(cos, {4}, e.fresh(cos + "_pairs"));
    s = e.unsqueeze(sin, {4}, e.fresh(sin + "_pairs"));
  } else {
    x1 = slice(cx, x_rot, 3, 0, half, x_rot + "_first_half");
    x2 = slice(cx, x_rot, 3, half, rot, x_rot + "_second_half");
  }
  const std::string c1 = e.add1("Mul", {c, x1}, e.fresh(x_rot + "_cos_x1"));
  const std::string s2 = e.add1("Mul", {s, x2}, e.fresh(x_rot + "_sin_x2"));
  const std::string s1 = e.add1("Mul", {s, x1}, e.fresh(x_rot + "_sin_x1"));
  const std::string c2 = e.add1("Mul", {c, x2}, e.fresh(x_rot + "_cos_x2"));
  return {e.add1("Sub", {c1, s2}, e.fresh(x_rot + "_real")), e.add1("Add", {s1, c2}, e.fresh(x_rot + "_imag"))};
}

void lower_rotary_embedding(LoweringContext& cx) {
  GraphEditor& e = cx.editor();
  const Node& n = cx.node();
  const RotaryLayout layout = rotary_layout(cx);
  int64_t rot = n.attr_int("rotary_embedding_dim", 0);
  if (rot == 0) rot = layout.head_size;
  if (rot < 0 || rot > layout.head_size || rot % 2 != 0)
    cx.fail("rotary_embedding_dim " + std::to_string(rot) + " must be even and at most the head size " +
            std::to_string(layout.head_size));
  const std::optional<int64_t> cache_width = static_dim(cx, n.inputs[1], -1);
  if (cache_width && *cache_width != rot / 2)
    cx.fail("cos_cache has " + std::to_string(*cache_width) + " values per position; rotating " + std::to_string(rot) +
            " channels needs " + std::to_string(rot / 2));
  const std::string cos = rotary_table(cx, n.inputs[1], layout.head_axis);
  const std::string sin = rotary_table(cx, n.inputs[2], layout.head_axis);
  const std::string& x4 = layout.x4;
  const bool partial = rot < layout.head_size, interleaved = n.attr_int("interleaved", 0) != 0;
  const auto [real, imag] =
      rotate(cx, partial ? slice(cx, x4, 3, 0, rot, x4 + "_rotary_part") : x4, rot, cos, sin, interleaved);
  // The channels of every head in order: rotated ones, then the ones passed through.
  std::vector<std::string> parts{real, imag};
  if (interleaved) {
    const std::string joined =
        e.add1("Concat", parts, e.fresh(x4 + "_rotated_pairs"), {{"axis", Attribute::of_int(4)}});
    parts = {reshape(cx, joined, {0, 0, 0, rot}, x4 + "_rotated")};
  }
  if (partial) parts.push_back(slice(cx, x4, 3, rot, layout.head_size, x4 + "_pass_part"));
  const std::map<std::string, Attribute> last_axis{{"axis", Attribute::of_int(3)}};
  if (layout.head_axis == 1) {  // 4-D: the heads' channels are the output
    if (parts.size() == 1) {
      cx.emit("Identity", parts, {n.outputs[0]});
    } else {
      cx.emit("Concat", parts, {n.outputs[0]}, last_axis);
    }
    return;
  }
  const std::string y4 = parts.size() == 1 ? parts[0] : e.add1("Concat", parts, e.fresh(x4 + "_rotary_out"), last_axis);
  cx.emit("Reshape", {y4, e.ints({0, 0, layout.hidden}, "rotary_hidden_shape")}, {n.outputs[0]});
}

}  // namespace

ONNX_TRAIN_LOWERINGS(transformer) {
  rules.push_back({"Mish", 18, lower_mish, "Softplus, Tanh, Mul"});
  rules.push_back({"Gelu", 20, lower_gelu, "Erf or Tanh, Mul, Add"});
  rules.push_back({"RMSNormalization", 23, lower_rms_normalization, "ReduceMean, Sqrt, Div, Mul"});
  rules.push_back({"RotaryEmbedding", 23, lower_rotary_embedding, "Gather, Slice, Mul, Sub, Add, Concat"});
}

}  // namespace onnx_train
