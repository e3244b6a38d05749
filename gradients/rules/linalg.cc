// Gradient rules of the linear-algebra ops (MatMul, Gemm, Einsum, Det), of CumSum and of
// DFT / STFT.
// x, y: forward input / output; dy: the incoming gradient. Broadcast inputs pass
// `broadcast = true` and the driver sums them back.
#include <algorithm>
#include <set>

#include "gradients/builder.h"
#include "gradients/rules/registry.h"

namespace onnx_train {

namespace {

// ---- small helpers ---------------------------------------------------------------------

int known_rank(GradContext& g, const std::string& value) {
  const int r = g.rank_of(value);
  OT_CHECK(r >= 0, "gradient rule of {}: the rank of '{}' is unknown (shape inference gave none)", g.node().label(),
           value);
  return r;
}

// ---- MatMul -----------------------------------------------------------------------------

// Y = A @ B with numpy semantics: A [..., M, K] (a vector A [K] read as [1, K]), B [..., K, N]
// (a vector B [K] read as [K, 1]), the batch axes broadcast, Y [broadcast(...), M, N] without
// the promoted axes. Per batch index b of Y:
//   dA_b = dY_b @ B_b^T,  dB_b = A_b^T @ dY_b,
// each summed over the batch axes its input was broadcast along, so dA has A's shape and dB
// B's shape; a vector's gradient is its promoted matrix's with the added axis dropped (both
// vectors, Y a scalar: dA = dY * B, dB = dY * A).
// The fused MatMulGrad(dY, A, B) -> (dA?, dB?) resolves these forms from the actual shapes
// at run time, so no rank is needed when the graph is built (exported transformers reshape
// with computed shapes and leave shape inference without ranks), and it sums over the
// broadcast batch axes inside its gemms rather than through a broadcast-sized intermediate.
void matmul_grad(GradContext& g) {
  const std::vector<std::string> grads =
      g.emit_optional("MatMulGrad", {g.dy(0), g.x(0), g.x(1)}, {g.wants_dx(0), g.wants_dx(1)}, {}, kGradientDomain);
  if (g.wants_dx(0)) g.set_dx(0, grads[0]);
  if (g.wants_dx(1)) g.set_dx(1, grads[1]);
}

// FusedMatMul(A, B, trans_b) (ai.onnx_train; runtime/transforms/transposed_matmul.h): with
// trans_b = 1, Y = A @ B^T with B stored [N, K] (MatMul(A, Transpose(W)) without the copy):
//   dA = dY @ B,  dB = sum over the batch of dY_b^T @ A_b  (in B's stored [N, K] layout),
// which is MatMulGrad with the same trans_b (it reads B and writes dB as stored, no
// Transpose in the backward pass either). trans_b = 0 is MatMul's rule.
void fused_matmul_grad(GradContext& g) {
  std::map<std::string, Attribute> attrs;
  if (g.node().attr_int("trans_b", 0) != 0) attrs.emplace("trans_b", Attribute::of_int(1));
  const std::vector<std::string> grads = g.emit_optional("MatMulGrad", {g.dy(0), g.x(0), g.x(1)},
                                                         {g.wants_dx(0), g.wants_dx(1)}, attrs, kGradientDomain);
  if (g.wants_dx(0)) g.set_dx(0, grads[0]);
  if (g.wants_dx(1)) g.set_dx(1, grads[1]);
}

// ---- Gemm -------------------------------------------------------------------------------

// Y = alpha * A' @ B' + beta * C, A' = transA ? A^T : A, B' = transB ? B^T : B.
//   dA' = alpha * dY @ B'^T, so dA = transA ? alpha * B' @ dY^T : alpha * dY @ B'^T
//   dB' = alpha * A'^T @ dY, so dB = transB ? alpha * dY^T @ A' : alpha * A'^T @ dY
//   dC = beta * dY, summed back over the axes C was broadcast along.
// Each product is one Gemm whose transA/transB flags name the transposes (B'^T = B when
// transB, else B^T; A'^T = A when transA, else A^T) and whose alpha is the scale, so the
// kernel reads the operands through strides: no Transpose copy, no separate Mul.
void gemm_grad(GradContext& g) {
  const Node& n = g.node();
  const int64_t trans_a = n.attr_int("transA", 0) != 0 ? 1 : 0;
  const int64_t trans_b = n.attr_int("transB", 0) != 0 ? 1 : 0;
  const float alpha = n.attr_float("alpha", 1.0f);
  const double beta = n.attr_float("beta", 1.0f);
  const std::string& dy = g.dy(0);
  // alpha * op(P) @ op(Q); Gemm before opset 11 needs C: a zero scalar with beta 0.
  auto gemm = [&](const std::string& p, int64_t tp, const std::string& q, int64_t tq) {
    std::vector<std::string> inputs{p, q};
    std::map<std::string, Attribute> attrs{{"transA", Attribute::of_int(tp)}, {"transB", Attribute::of_int(tq)}};
    if (alpha != 1.0f) attrs.emplace("alpha", Attribute::of_float(alpha));
    if (g.opset() < 11) {
      inputs.push_back(g.scalar(0.0, g.x(0)));
      attrs.emplace("beta", Attribute::of_float(0.0f));
    }
    return g.emit("Gemm", inputs, attrs);
  };
  if (g.wants_dx(0)) g.set_dx(0, trans_a ? gemm(g.x(1), trans_b, dy, 1) : gemm(dy, 0, g.x(1), 1 - trans_b));
  if (g.wants_dx(1)) g.set_dx(1, trans_b ? gemm(dy, 1, g.x(0), trans_a) : gemm(g.x(0), 1 - trans_a, dy, 0));
  if (n.has_input(2) && g.wants_dx(2))
    g.set_dx(2, beta == 1.0 ? dy : g.emit("Mul", {dy, g.scalar(beta, g.x(0))}), true);
}

// ---- CumSum -----------------------------------------------------------------------------

// y = cumsum(x, axis): each x[i] feeds y[j] for j at or after i (before i when reversed;
// strictly so when exclusive), so dx = cumsum(dy) in the opposite direction, exclusive
// likewise.
void cumsum_grad(GradContext& g) {
  const Node& n = g.node();
  std::map<std::string, Attribute> attrs{{"reverse", Attribute::of_int(n.attr_int("reverse", 0) != 0 ? 0 : 1)},
                                         {"exclusive", Attribute::of_int(n.attr_int("exclusive", 0) != 0 ? 1 : 0)}};
  g.set_dx(0, g.emit("CumSum", {g.dy(0), g.x(1)}, attrs));
}

// ---- Einsum -----------------------------------------------------------------------------

// A term as tokens: single letters, or "..." for the ellipsis.
std::vector<std::string> einsum_tokens(const std::string& text) {
  std::vector<std::string> tokens;
  for (size_t i = 0; i < text.size();) {
    if (text.compare(i, 3, "...") == 0) {
      tokens.emplace_back("...");
      i += 3;
    } else {
      tokens.emplace_back(1, text[i]);
      ++i;
    }
  }
  return tokens;
}

std::string join_tokens(const std::vector<std::string>& tokens) {
  std::string s;
  for (const auto& t : tokens) s += t;
  return s;
}

// y = einsum(x_0, ..., x_{n-1}): as y is linear in each x_k,
//   dx_k = einsum(dy, x_j for j != k) into x_k's subscripts,
// with x_k's letters that occur in no other term (summed away in the forward pass) left
// out of that einsum and broadcast back (Unsqueeze + Expand); likewise x_k's "..." axes
// when no other term has "...". A "..." that broadcasts between inputs is summed back by
// the driver. Not handled (reported when the gradient is built): a letter repeated within
// one term (a diagonal).
void einsum_grad(GradContext& g) {
  const Node& n = g.node();
  std::string eq;
  for (char c : n.attr_string("equation"))
    if (c != ' ') eq += c;
  const size_t arrow = eq.find("->");
  const std::string lhs = arrow == std::string::npos ? eq : eq.substr(0, arrow);
  std::vector<std::vector<std::string>> terms;
  for (size_t start = 0;;) {
    const size_t comma = lhs.find(',', start);
    terms.push_back(einsum_tokens(lhs.substr(start, comma == std::string::npos ? std::string::npos : comma - start)));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  OT_CHECK(terms.size() == n.inputs.size(), "gradient rule of {}: '{}' has {} terms for {} inputs", n.label(), eq,
           terms.size(), n.inputs.size());
  bool any_ellipsis = false;
  for (const auto& t : terms) {
    any_ellipsis = any_ellipsis || std::count(t.begin(), t.end(), "...") > 0;
    std::set<std::string> seen;
    for (const auto& tok : t)
      OT_CHECK(seen.insert(tok).second,
               "gradient rule of {}: einsum '{}' repeats '{}' within a term (a diagonal); no gradient for that form",
               n.label(), eq, tok);
  }
  std::vector<std::string> out;
  if (arrow != std::string::npos) {
    out = einsum_tokens(eq.substr(arrow + 2));
  } else {  // implicit: the ellipsis, then the letters used once, in ASCII order
    std::map<std::string, int> uses;
    for (const auto& t : terms)
      for (const auto& tok : t)
        if (tok != "...") ++uses[tok];
    if (any_ellipsis) out.emplace_back("...");
    for (const auto& [tok, count] : uses)
      if (count == 1) out.push_back(tok);
  }
  for (size_t k = 0; k < terms.size(); ++k) {
    if (!g.wants_dx(k)) continue;
    // Labels available to the gradient einsum: dy's and the other inputs'.
    std::set<std::string> available(out.begin(), out.end());
    std::vector<std::string> operands{g.dy(0)};
    std::string inputs_text = join_tokens(out);
    for (size_t j = 0; j < terms.size(); ++j) {
      if (j == k) continue;
      available.insert(terms[j].begin(), terms[j].end());
      operands.push_back(g.x(j));
      inputs_text += "," + join_tokens(terms[j]);
    }
    const auto& term = terms[k];
    const auto ellipsis = std::find(term.begin(), term.end(), "...");
    const bool has_ellipsis = ellipsis != term.end();
    // The axes "..." stands for in x_k, when the gradient einsum cannot produce them (they
    // were summed away and no other operand has them): put back as free axes.
    const bool ellipsis_in_target = has_ellipsis && available.count("...") != 0;
    int64_t ellipsis_rank = 0;
    if (has_ellipsis && !ellipsis_in_target)
      ellipsis_rank = known_rank(g, g.x(k)) - static_cast<int64_t>(term.size() - 1);
    std::vector<std::string> target;
    std::vector<int64_t> free_axes;  // where x_k's axes summed away in the forward pass go back
    int64_t axis = 0;                // x_k's axis at token p (before the ellipsis, or without a free one)
    for (size_t p = 0; p < term.size(); ++p) {
      const bool after_ellipsis = has_ellipsis && static_cast<ptrdiff_t>(p) > ellipsis - term.begin();
      if (term[p] == "...") {
        if (ellipsis_in_target) {
          target.push_back("...");
        } else {
          for (int64_t e = 0; e < ellipsis_rank; ++e) free_axes.push_back(axis + e);
        }
        axis += ellipsis_rank;
        continue;
      }
      if (available.count(term[p])) {
        target.push_back(term[p]);
      } else if (after_ellipsis && ellipsis_in_target) {
        // The target's "..." may be wider than x_k's (broadcast): count from the end.
        free_axes.push_back(static_cast<int64_t>(p) - static_cast<int64_t>(term.size()));
      } else {
        free_axes.push_back(axis);
      }
      ++axis;
    }
    std::string grad =
        g.emit("Einsum", operands, {{"equation", Attribute::of_string(inputs_text + "->" + join_tokens(target))}});
    if (!free_axes.empty()) grad = g.unsqueeze(grad, free_axes);
    // Expand: the free axes, and "..." axes where the other operands have size 1.
    if (!free_axes.empty() || has_ellipsis) grad = g.emit("Expand", {grad, g.emit("Shape", {g.x(k)})});
    g.set_dx(k, grad, any_ellipsis);
  }
}

// ---- Det ---------------------------------------------------------------------------------

// y = Det(A), A [..., M, M], y [...]: by Jacobi's formula dA = dY * det(A) * inverse(A)^T
// (the cofactor matrix), batched; the fused DetGrad(A, dY) -> dA computes it (also for a
// singular A, through the cofactors).
void det_grad(GradContext& g) { g.set_dx(0, g.emit("DetGrad", {g.x(0), g.dy(0)}, {}, kGradientDomain)); }

// ---- DFT ---------------------------------------------------------------------------------

// v zero-padded at the end of axis `axis` (of rank `rank`) by `extra` (an int64 [1], >= 0).
std::string pad_axis_end(GradContext& g, const std::string& v, int rank, int64_t axis, const std::string& extra) {
  const std::string pads = g.emit("Concat",
                                  {g.ints(std::vector<int64_t>(static_cast<size_t>(rank + axis), 0)), extra,
                                   g.ints(std::vector<int64_t>(static_cast<size_t>(rank - axis - 1), 0))},
                                  {{"axis", Attribute::of_int(0)}});
  return g.emit("Pad", {v, pads});
}

// Y = DFT(X, dft_length n, axis, inverse, onesided): X [..., n_in, ..., 1 or 2] (real or
// complex) zero-padded or truncated to n along axis, then
//   Y[k] = s sum_{t < n} X[t] w^(t k), k < bins (n, or n / 2 + 1 onesided),
// w = exp(-2 pi i / n), s = 1; inverse: w = exp(+2 pi i / n), s = 1 / n. Linear, so with
// dY complex and the real loss Re <dY, Y>, dX[t] = s sum_k dY[k] conj(w^(t k)) for t < n_in
// (zero for the truncated t >= n):
//   1. dY zero-padded to n bins (onesided);
//   2. the DFT in the other direction: forward op: n * DFT(dY, inverse = 1); inverse op:
//      DFT(dY) / n;
//   3. fitted back to n_in along axis (zero-padded, then sliced), and the real part kept for
//      a real X.
void dft_grad(GradContext& g) {
  const Node& n = g.node();
  const std::string& x = g.x(0);
  const int rank = known_rank(g, x);
  int64_t axis = n.attr_int("axis", 1);
  if (axis < 0) axis += rank - 1;
  const bool inverse = n.attr_int("inverse", 0) != 0;
  const std::string& dy = g.dy(0);
  const auto axis_size = [&](const std::string& v) {
    return g.emit("Gather", {g.emit("Shape", {v}), g.ints({axis})}, {{"axis", Attribute::of_int(0)}});
  };
  const std::string n_in = axis_size(x);
  const std::string length = n.has_input(1) ? g.emit("Cast", {g.emit("Reshape", {g.x(1), g.ints({1})})},
                                                     {{"to", Attribute::of_int(static_cast<int64_t>(DType::Int64))}})
                                            : n_in;
  std::string grad = dy;
  if (n.attr_int("onesided", 0) != 0) grad = pad_axis_end(g, grad, rank, axis, g.emit("Sub", {length, axis_size(dy)}));
  grad = g.emit("DFT", {grad}, {{"axis", Attribute::of_int(axis)}, {"inverse", Attribute::of_int(inverse ? 0 : 1)}});
  const std::string scale = g.emit("Cast", {length}, {{"to", Attribute::of_int(static_cast<int64_t>(g.dtype_of(x)))}});
  grad = g.emit(inverse ? "Div" : "Mul", {grad, scale});
  const std::string missing = g.emit("Max", {g.emit("Sub", {n_in, length}), g.ints({0})});
  grad = pad_axis_end(g, grad, rank, axis, missing);
  grad = g.emit("Slice", {grad, g.ints({0}), n_in, g.ints({axis})});
  // A real X: the real parts (the imaginary part of the input is fixed at zero).
  grad =
      g.emit("Slice", {grad, g.ints({0}),
                       g.emit("Gather", {g.emit("Shape", {x}), g.ints({rank - 1})}, {{"axis", Attribute::of_int(0)}}),
                       g.ints({rank - 1})});
  g.set_dx(0, grad);
}

// Y = STFT(signal, frame_step, window, frame_length): windowed frames of the signal, each
// DFT'd. Linear in the signal and in the window (separately): the fused
// STFTGrad(dY, signal, frame_step, window, frame_length) -> dSignal, dWindow (kernel in
// runtime/kernels/reference/indexing_grad.cc) takes every frame's gradient back through the
// DFT (G = sum_f dY[f] exp(+2 pi i f t / L)) and overlap-adds w G into dSignal, while
// dWindow[t] = sum over frames of Re(conj(signal) G) at the frame's samples.
void stft_grad(GradContext& g) {
  const Node& n = g.node();
  std::vector<std::string> inputs{g.dy(0)};
  inputs.insert(inputs.end(), n.inputs.begin(), n.inputs.end());
  const bool has_window = n.has_input(2);
  const std::vector<std::string> grads =
      g.emit_multi("STFTGrad", inputs, has_window ? 2 : 1, {{"onesided", Attribute::of_int(n.attr_int("onesided", 1))}},
                   kGradientDomain);
  if (g.wants_dx(0)) g.set_dx(0, grads[0]);
  if (has_window && g.wants_dx(2)) g.set_dx(2, grads[1]);
}

}  // namespace

ONNX_TRAIN_GRADIENT_RULES(linalg) {
  rules.push_back({"", "MatMul", {1, 9, 13}, matmul_grad});
  rules.push_back({kProjectDomain, "FusedMatMul", {1}, fused_matmul_grad});
  rules.push_back({"", "Gemm", {7, 9, 11, 13}, gemm_grad});
  rules.push_back({"", "CumSum", {11, 14}, cumsum_grad});
  rules.push_back({"", "Einsum", {12}, einsum_grad});
  rules.push_back({"", "Det", {11}, det_grad});
  rules.push_back({"", "DFT", {17}, dft_grad});
  rules.push_back({"", "STFT", {17}, stft_grad});
}

}  // namespace onnx_train
