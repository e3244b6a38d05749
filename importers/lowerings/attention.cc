// The lowering of Attention-23 (scaled dot-product attention) to opset-17 MatMul, Softmax and
// shape ops; gradients come from those ops' rules.
//
// In the 4-D form, Q [B, Hq, Sq, Dq], K [B, Hkv, Skv, Dq], V [B, Hkv, Skv, Dv]; the 3-D form
// [B, S, H * D] (q_num_heads, kv_num_heads) is reshaped to it and Y back. Then
//   K_all = Concat(past_key, K) along the sequence ([B, Hkv, P + Skv, Dq]: present_key), same for V;
//   grouped-query attention (Hq = g * Hkv) repeats each K/V head g times ([h0, h0, h1, h1, ...]);
//   scores = (Q K_all^T) * scale                       [B, Hq, Sq, T]   (T = P + Skv; output mode 0)
//   capped = softcap * tanh(scores / softcap)          (softcap > 0; mode 1)
//   biased = capped + bias                             (mode 2)
//   probs  = Softmax(biased) over T, in softmax_precision  (mode 3)
//   Y      = probs V_all                               [B, Hq, Sq, Dv]
// where bias adds attn_mask (a float mask as is; a bool mask: 0 where true, lowest where false)
// and, with is_causal, `lowest` where key j is later than query i: j > i + P (upper-left
// aligned, shifted by the past). `lowest` is the type's most negative finite value, as in ONNX
// Runtime: never NaN; and as there, a query row that a bool mask leaves without any key gets
// zero probabilities (so Y = 0 there).
// NOTE: softcap comes before the mask, as ONNX Runtime and ONNX's reference implementation
// compute it (a masked -inf stays -inf); the attribute text of qk_matmul_output_mode still lists
// the mask first (1: with the mask, 2: after softcap). Modes here number the stages in the order
// computed, as ONNX Runtime does; without softcap, mode 1 is mode 0.
#include <cmath>
#include <limits>
#include <map>
#include <utility>

#include "importers/lower_opset.h"
#include "importers/lowerings/transformer_util.h"

namespace onnx_train {
namespace {

using namespace transformer_lowering;

enum AttentionInput { kQ, kK, kV, kMask, kPastKey, kPastValue, kNonpadKvSeqlen };
enum AttentionOutput { kY, kPresentKey, kPresentValue, kQkOutput };

struct Attention {
  std::string q, k, v;  // the 4-D forms
  DType dtype = DType::Float32;
  bool three_d = false;
  int64_t q_heads = 0, kv_heads = 0;
};

// The requested output `index` of the node, or "" when it is absent.
std::string output_name(const Node& n, size_t index) { return index < n.outputs.size() ? n.outputs[index] : ""; }

double lowest(DType dtype) {
  return dtype == DType::Float64 ? std::numeric_limits<double>::lowest() : std::numeric_limits<float>::lowest();
}

// Q, K and V as [B, H, S, D], and the numbers of heads.
Attention attention_inputs(LoweringContext& cx) {
  const Node& n = cx.node();
  Attention a;
  a.dtype = float_type_of(cx, n.inputs[kQ], "Attention");
  const int64_t rank = cx.required_rank(n.inputs[kQ], "Attention");
  if (rank != 3 && rank != 4) cx.fail("Q has rank " + std::to_string(rank) + "; Attention takes 3-D or 4-D inputs");
  for (size_t i : {kK, kV}) {
    const std::optional<int64_t> r = cx.rank(n.inputs[i]);
    if (r && *r != rank)
      cx.fail("'" + n.inputs[i] + "' has rank " + std::to_string(*r) + " and Q rank " + std::to_string(rank) +
              "; Q, K and V take the same form (3-D or 4-D)");
  }
  a.three_d = rank == 3;
  a.q_heads = n.attr_int("q_num_heads", 0);
  a.kv_heads = n.attr_int("kv_num_heads", 0);
  if (!a.three_d) {
    a.q = n.inputs[kQ], a.k = n.inputs[kK], a.v = n.inputs[kV];
    if (a.q_heads == 0) a.q_heads = required_dim(cx, a.q, 1, "Attention (the number of query heads)");
    if (a.kv_heads == 0) a.kv_heads = required_dim(cx, a.k, 1, "Attention (the number of key/value heads)");
    return a;
  }
  if (a.q_heads <= 0 || a.kv_heads <= 0) cx.fail("3-D inputs need the q_num_heads and kv_num_heads attributes");
  // [B, S, H * D] -> [B, S, H, D] -> [B, H, S, D]
  auto split_heads = [&](const std::string& x, int64_t heads) {
    const std::optional<int64_t> hidden = static_dim(cx, x, 2);
    if (hidden && *hidden % heads != 0)
      cx.fail("the hidden size " + std::to_string(*hidden) + " of '" + x + "' is not a multiple of its " +
              std::to_string(heads) + " heads");
    return transpose(cx, reshape(cx, x, {0, 0, heads, hidden ? *hidden / heads : -1}, x + "_heads"), {0, 2, 1, 3},
                     x + "_bhsd");
  };
  a.q = split_heads(n.inputs[kQ], a.q_heads);
  a.k = split_heads(n.inputs[kK], a.kv_heads);
  a.v = split_heads(n.inputs[kV], a.kv_heads);
  return a;
}

// The head size of input `index` (Q, K or V): its last dimension, or its hidden size over its
// heads in the 3-D form; else the rule's error saying that `what` needs it.
int64_t head_size(LoweringContext& cx, const Attention& a, size_t index, const std::string& what) {
  const int64_t dim = required_dim(cx, cx.node().inputs[index], a.three_d ? 2 : 3, what);
  return a.three_d ? dim / (index == kQ ? a.q_heads : a.kv_heads) : dim;
}

// Concat(past, x) along the sequence when the node has `past`, written to `present` if asked.
std::string with_past(LoweringContext& cx, const std::string& x, size_t past, size_t present) {
  GraphEditor& e = cx.editor();
  const Node& n = cx.node();
  const std::string present_name = output_name(n, present);
  if (!n.has_input(past)) {
    if (!present_name.empty()) e.add1("Identity", {x}, present_name);
    return x;
  }
  const std::string out = present_name.empty() ? e.fresh(x + "_with_past") : present_name;
  return e.add1("Concat", {n.inputs[past], x}, out, {{"axis", Attribute::of_int(2)}});
}

// x [B, Hkv, T, D] with each head repeated `groups` times: [B, Hkv * groups, T, D].
std::string repeat_heads(LoweringContext& cx, const std::string& x, int64_t groups, int64_t q_heads,
                         int64_t head_size) {
  GraphEditor& e = cx.editor();
  const std::string x5 = e.unsqueeze(x, {2}, e.fresh(x + "_group_axis"));  // [B, Hkv, 1, T, D]
  const std::string rep = e.add1("Expand", {x5, e.ints({1, 1, groups, 1, 1}, "attention_groups")},
                                 e.fresh(x + "_grouped"));  // [B, Hkv, g, T, D]
  return reshape(cx, rep, {0, q_heads, static_dim(cx, x, 2).value_or(-1), head_size}, x + "_repeated");
}

// The causal bias [Sq, T]: 0 where key j <= query i + past, `lowest` after. Where(later, lowest,
// 0) over a bool constant `later` when the lengths are known (a float constant of that size would
// be taken for a weight an exporter folded, and trained); else lowest * Trilu(ones [Sq, T],
// k = past + 1) (the part where j - i > past).
std::string causal_bias(LoweringContext& cx, const Attention& a, const std::string& k_all) {
  GraphEditor& e = cx.editor();
  const Node& n = cx.node();
  const std::optional<int64_t> sq = static_dim(cx, a.q, 2), total = static_dim(cx, k_all, 2);
  std::optional<int64_t> past = int64_t{0};
  if (n.has_input(kPastKey)) past = static_dim(cx, n.inputs[kPastKey], 2);
  const std::string low = scalar(cx, a.dtype, lowest(a.dtype), "attention_lowest");
  if (sq && total && past) {
    std::vector<bool> later(static_cast<size_t>(*sq * *total), false);
    for (int64_t i = 0; i < *sq; ++i)
      for (int64_t j = i + *past + 1; j < *total; ++j) later[static_cast<size_t>(i * *total + j)] = true;
    const std::string later_keys = e.constant(Tensor::from<bool>({*sq, *total}, later), "causal_later_keys");
    return e.add1("Where", {later_keys, low, scalar(cx, a.dtype, 0, "attention_zero")}, e.fresh("causal_bias"));
  }
  auto length = [&](const std::string& x, const std::string& hint) {  // x.shape[2:3]
    return e.add1("Shape", {x}, e.fresh(hint), {{"start", Attribute::of_int(2)}, {"end", Attribute::of_int(3)}});
  };
  const std::string dims = e.add1("Concat", {length(a.q, "causal_q_len"), length(k_all, "causal_total_len")},
                                  e.fresh("causal_dims"), {{"axis", Attribute::of_int(0)}});
  const std::string ones = e.add1("ConstantOfShape", {dims}, e.fresh("causal_ones"),
                                  {{"value", Attribute::of_tensor(float_tensor(a.dtype, {1}, {1.0}))}});
  std::string k;  // past + 1, a scalar
  if (past) {
    k = e.constant(scalar_tensor(DType::Int64, static_cast<double>(*past + 1)), "causal_diagonal");
  } else {
    const std::string p = e.squeeze(length(n.inputs[kPastKey], "causal_past_len"), {0}, e.fresh("causal_past"));
    k = e.add1("Add", {p, e.constant(scalar_tensor(DType::Int64, 1), "one")}, e.fresh("causal_diagonal"));
  }
  const std::string later = e.add1("Trilu", {ones, k}, e.fresh("causal_later_keys"), {{"upper", Attribute::of_int(1)}});
  return e.add1("Mul", {later, low}, e.fresh("causal_bias"));
}

// attn_mask as an additive bias: a float mask as is (in Q's type), a bool one as 0 / lowest.
std::string mask_bias(LoweringContext& cx, const Attention& a, const std::string& k_all) {
  GraphEditor& e = cx.editor();
  const std::string& mask = cx.node().inputs[kMask];
  const DType mask_type = cx.dtype(mask);
  const std::optional<int64_t> width = static_dim(cx, mask, -1), total = static_dim(cx, k_all, 2);
  if (width && total && *width != *total)
    cx.fail("attn_mask's last dimension is " + std::to_string(*width) + ", not the " + std::to_string(*total) +
            " keys (past and new) it must cover");
  if (mask_type == DType::Bool) {
    return e.add1(
        "Where",
        {mask, scalar(cx, a.dtype, 0, "attention_zero"), scalar(cx, a.dtype, lowest(a.dtype), "attention_lowest")},
        e.fresh(mask + "_bias"));
  }
  if (mask_type == a.dtype) return mask;
  if (mask_type != DType::Float32 && mask_type != DType::Float64)
    cx.fail("attn_mask must be bool or a float type; its type here is " +
            (mask_type == DType::Undefined ? std::string("unknown") : dtype_name(mask_type)));
  return e.add1("Cast", {mask}, e.fresh(mask + "_cast"), {{"to", Attribute::of_int(onnx_type(a.dtype))}});
}

// Softmax over the keys, computed in softmax_precision when it differs from Q's type.
std::string attention_softmax(LoweringContext& cx, const Attention& a, const std::string& biased) {
  GraphEditor& e = cx.editor();
  const Node& n = cx.node();
  const std::map<std::string, Attribute> last_axis{{"axis", Attribute::of_int(-1)}};
  if (!n.has_attr("softmax_precision")) return e.add1("Softmax", {biased}, e.fresh("attention_probs"), last_axis);
  const int64_t precision = n.attr_int("softmax_precision");
  if (precision != 1 && precision != 11)
    cx.fail("softmax_precision " + std::to_string(precision) + " is not supported (1: float32, 11: float64)");
  if (precision == onnx_type(a.dtype)) return e.add1("Softmax", {biased}, e.fresh("attention_probs"), last_axis);
  const std::string wide =
      e.add1("Cast", {biased}, e.fresh("attention_scores_cast"), {{"to", Attribute::of_int(precision)}});
  const std::string probs = e.add1("Softmax", {wide}, e.fresh("attention_probs_cast"), last_axis);
  return e.add1("Cast", {probs}, e.fresh("attention_probs"), {{"to", Attribute::of_int(onnx_type(a.dtype))}});
}

// The scaled scores (Q K^T) * scale [B, Hq, Sq, T], and them after softcap (the same value
// without one): the QK outputs of modes 0 and 1.
std::pair<std::string, std::string> attention_scores(LoweringContext& cx, const Attention& a,
                                                     const std::string& k_all) {
  GraphEditor& e = cx.editor();
  const Node& n = cx.node();
  double scale = n.attr_float("scale", 0.0f);
  if (!n.has_attr("scale"))
    scale = 1 / std::sqrt(static_cast<double>(head_size(cx, a, kQ, "Attention's default scale (the head size)")));
  const std::string kt = transpose(cx, k_all, {0, 1, 3, 2}, "attention_keys_t");
  const std::string qk = e.add1("MatMul", {a.q, kt}, e.fresh("attention_qk"));
  const std::string scores =
      e.add1("Mul", {qk, scalar(cx, a.dtype, scale, "attention_scale")}, e.fresh("attention_scores"));
  const float softcap = n.attr_float("softcap", 0.0f);
  if (softcap <= 0) return {scores, scores};
  // softcap * tanh(scores / softcap)
  const std::string cap = scalar(cx, a.dtype, softcap, "attention_softcap");
  const std::string over = e.add1("Div", {scores, cap}, e.fresh("attention_scores_over_cap"));
  const std::string t = e.add1("Tanh", {over}, e.fresh("attention_scores_tanh"));
  return {scores, e.add1("Mul", {t, cap}, e.fresh("attention_capped"))};
}

// The additive bias [.., Sq, T] of attn_mask and is_causal ("" with neither). Where both mask
// a key the bias is `lowest` once (clamped), not lowest + lowest = -inf.
std::string attention_bias(LoweringContext& cx, const Attention& a, const std::string& k_all) {
  GraphEditor& e = cx.editor();
  const Node& n = cx.node();
  std::string bias = n.has_input(kMask) ? mask_bias(cx, a, k_all) : "";
  if (n.attr_int("is_causal", 0) == 0) return bias;
  const std::string causal = causal_bias(cx, a, k_all);
  if (bias.empty()) return causal;
  const std::string sum = e.add1("Add", {bias, causal}, e.fresh("attention_mask_causal_sum"));
  return e.add1("Max", {sum, scalar(cx, a.dtype, lowest(a.dtype), "attention_lowest")}, e.fresh("attention_bias"));
}

// probs with the rows of queries that a bool mask (with causality) leaves no key zeroed, as ONNX
// Runtime does (a float mask's rows stay as the softmax makes them).
std::string zero_rows_without_keys(LoweringContext& cx, const Attention& a, const std::string& bias,
                                   const std::string& probs) {
  GraphEditor& e = cx.editor();
  const std::string best = e.reduce("ReduceMax", bias, {-1}, true, e.fresh("attention_best_bias"));  // [.., Sq, 1]
  const std::string has_key =
      e.add1("Greater", {best, scalar(cx, a.dtype, lowest(a.dtype) / 2, "attention_half_lowest")},
             e.fresh("attention_has_key"));
  return e.add1("Where", {has_key, probs, scalar(cx, a.dtype, 0, "attention_zero")}, e.fresh("attention_probs_kept"));
}

void lower_attention(LoweringContext& cx) {
  GraphEditor& e = cx.editor();
  const Node& n = cx.node();
  if (n.has_input(kNonpadKvSeqlen)) cx.fail("nonpad_kv_seqlen (input 6) is an Attention-24 input; opset 23 has none");
  const int64_t mode = n.attr_int("qk_matmul_output_mode", 0);
  if (mode < 0 || mode > 3) cx.fail("qk_matmul_output_mode " + std::to_string(mode) + " is not one of 0, 1, 2, 3");
  Attention a = attention_inputs(cx);
  std::string k_all = with_past(cx, a.k, kPastKey, kPresentKey);
  std::string v_all = with_past(cx, a.v, kPastValue, kPresentValue);
  if (a.q_heads != a.kv_heads) {
    if (a.q_heads % a.kv_heads != 0)
      cx.fail(std::to_string(a.q_heads) + " query heads are not a multiple of " + std::to_string(a.kv_heads) +
              " key/value heads");
    const int64_t groups = a.q_heads / a.kv_heads;
    const std::string what = "grouped-query Attention (the head size)";
    k_all = repeat_heads(cx, k_all, groups, a.q_heads, head_size(cx, a, kK, what));
    v_all = repeat_heads(cx, v_all, groups, a.q_heads, head_size(cx, a, kV, what));
  }
  // stages[mode] is the QK output of qk_matmul_output_mode `mode`.
  const auto [scores, capped] = attention_scores(cx, a, k_all);
  const std::string bias = attention_bias(cx, a, k_all);
  const std::string biased = bias.empty() ? capped : e.add1("Add", {capped, bias}, e.fresh("attention_biased"));
  std::string probs = attention_softmax(cx, a, biased);
  if (n.has_input(kMask) && cx.dtype(n.inputs[kMask]) == DType::Bool)
    probs = zero_rows_without_keys(cx, a, bias, probs);
  const std::vector<std::string> stages{scores, capped, biased, probs};
  if (!output_name(n, kQkOutput).empty())
    e.add1("Identity", {stages[static_cast<size_t>(mode)]}, output_name(n, kQkOutput));
  if (!a.three_d) {
    cx.emit("MatMul", {probs, v_all}, {n.outputs[kY]});
    return;
  }
  // [B, Hq, Sq, Dv] -> [B, Sq, Hq, Dv] -> [B, Sq, Hq * Dv]
  const std::string y4 = e.add1("MatMul", {probs, v_all}, e.fresh("attention_heads_out"));
  const std::string y = transpose(cx, y4, {0, 2, 1, 3}, "attention_bshd");
  const std::optional<int64_t> v_hidden = static_dim(cx, n.inputs[kV], 2);  // kv_heads * Dv
  const int64_t hidden = v_hidden ? *v_hidden / a.kv_heads * a.q_heads : -1;
  cx.emit("Reshape", {y, e.ints({0, 0, hidden}, "attention_hidden_shape")}, {n.outputs[kY]});
}

}  // namespace

ONNX_TRAIN_LOWERINGS(attention) {
  rules.push_back(
      {"Attention", 23, lower_attention, "MatMul, Softmax, Transpose, Reshape, Concat, Where, Add, Mul, Tanh"});
}

}  // namespace onnx_train
