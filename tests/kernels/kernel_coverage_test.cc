// Every registered kernel has a row here naming the evidence that tests it, as
// tests/gradients/gradcheck_test.cc requires a row for every gradient rule.
//
// A row is (domain, op type, since_version, evidence). The evidence is one of
//   "onnx:<suite>/<case>"  a case of ONNX's backend test data (/usr/share/libonnx-testdata/data,
//                          which conformance_test runs against this runtime): the case folder
//                          must exist and its model must hold the op at an opset whose schema
//                          version is the row's since_version;
//   "gtest:<Suite>.<Name>" a test of this binary (tests/kernels/ mostly) that runs the kernel,
//                          found among the registered tests.
// The cases cited were ones conformance_test ran (not among the ones it skips) when the row
// was written. A kernel registered without a row fails EveryRegisteredKernelHasARow, which
// names the backend cases that would serve; a row whose kernel is gone or whose evidence is
// missing fails EveryRowHasItsEvidence.
//
// This is not a test of the kernels themselves: those are the tests the rows name.
#include <gtest/gtest.h>
#include <onnx/defs/schema.h>
#include <onnx/onnx_pb.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "runtime/ir/graph.h"
#include "runtime/kernels/kernel.h"

namespace onnx_train {
namespace {

namespace fs = std::filesystem;

const char* const kBackendData = "/usr/share/libonnx-testdata/data";
// The domains of the rows ("" = the default ONNX domain).
const char* const kTrain = kProjectDomain;  // ai.onnx_train, the gradient kernels
const char* const kPreview = "ai.onnx.preview.training";

struct KernelRow {
  const char* domain;  // "" = the default ONNX domain
  const char* op;
  int since_version;
  const char* evidence;  // "onnx:<suite>/<case>" or "gtest:<Suite>.<Name>"
};

using KernelKey = std::tuple<std::string, std::string, int>;  // (domain, op, since_version)

std::string key_str(const KernelKey& k) {
  const auto& [domain, op, version] = k;
  return (domain.empty() ? "" : domain + ".") + op + "-" + std::to_string(version);
}

// clang-format off
const std::vector<KernelRow> kRows = {
    {"", "Abs", 6, "onnx:pytorch-converted/test_Softsign"},
    {"", "Abs", 13, "onnx:node/test_abs"},
    {"", "Acos", 7, "onnx:node/test_acos"},
    {"", "Acosh", 9, "onnx:node/test_acosh"},
    {"", "Add", 7, "onnx:simple/test_gradient_of_add"},
    {"", "Add", 13, "onnx:node/test_mvn_expanded"},
    {"", "Add", 14, "onnx:node/test_add"},
    {"", "And", 7, "onnx:node/test_and2d"},
    {"", "ArgMax", 1, "gtest:KernelVersions.OlderSchemaVersionsMatchANewerOne"},
    {"", "ArgMax", 11, "gtest:KernelVersions.OlderSchemaVersionsMatchANewerOne"},
    {"", "ArgMax", 12, "gtest:KernelVersions.OlderSchemaVersionsMatchANewerOne"},
    {"", "ArgMax", 13, "onnx:node/test_argmax_default_axis_example"},
    {"", "ArgMin", 1, "gtest:KernelVersions.OlderSchemaVersionsMatchANewerOne"},
    {"", "ArgMin", 11, "gtest:KernelVersions.OlderSchemaVersionsMatchANewerOne"},
    {"", "ArgMin", 12, "gtest:KernelVersions.OlderSchemaVersionsMatchANewerOne"},
    {"", "ArgMin", 13, "onnx:node/test_argmin_default_axis_example"},
    {"", "Asin", 7, "onnx:node/test_asin"},
    {"", "Asinh", 9, "onnx:node/test_asinh"},
    {"", "Atan", 7, "onnx:node/test_atan"},
    {"", "Atanh", 9, "onnx:node/test_atanh"},
    {"", "AveragePool", 1, "onnx:pytorch-converted/test_AvgPool1d"},
    {"", "AveragePool", 7, "gtest:PoolTest.VersionsAndErrors"},
    {"", "AveragePool", 10, "gtest:GradCheck.EveryCaseMatchesCentralDifferences"},
    {"", "AveragePool", 11, "onnx:node/test_averagepool_1d_default"},
    {"", "BatchNormalization", 7, "gtest:BatchNormTest.PerActivationSpatialZeroAndErrors"},
    {"", "BatchNormalization", 9, "gtest:KernelVersions.OlderSchemaVersionsMatchANewerOne"},
    {"", "BatchNormalization", 14, "gtest:KernelVersions.OlderSchemaVersionsMatchANewerOne"},
    {"", "BatchNormalization", 15, "onnx:node/test_batchnorm_epsilon"},
    {"", "Bernoulli", 15, "gtest:RandomOps.BernoulliFrequencyAndTypes"},
    {"", "BitShift", 11, "onnx:node/test_bitshift_left_uint16"},
    {"", "BlackmanWindow", 17, "onnx:node/test_blackmanwindow"},
    {"", "Cast", 6, "gtest:GradCheck.EveryCaseMatchesCentralDifferences"},
    {"", "Cast", 9, "onnx:node/test_dynamicquantizelinear_expanded"},
    {"", "Cast", 13, "onnx:node/test_blackmanwindow_expanded"},
    {"", "CastLike", 15, "onnx:node/test_castlike_DOUBLE_to_FLOAT"},
    {"", "Ceil", 6, "gtest:KernelVersions.OlderSchemaVersionsMatchANewerOne"},
    {"", "Ceil", 13, "onnx:node/test_ceil"},
    {"", "Celu", 12, "onnx:node/test_celu"},
    {"", "Clip", 6, "onnx:pytorch-operator/test_operator_clip"},
    {"", "Clip", 11, "onnx:node/test_dynamicquantizelinear_expanded"},
    {"", "Clip", 12, "gtest:ElementwiseKernels.ClipVersions"},
    {"", "Clip", 13, "onnx:node/test_clip"},
    {"", "Compress", 9, "gtest:NonZeroCompressReverseSequence.Basics"},
    {"", "Compress", 11, "onnx:node/test_compress_0"},
    {"", "Concat", 4, "onnx:pytorch-operator/test_operator_concat2"},
    {"", "Concat", 11, "gtest:GradCheck.EveryCaseMatchesCentralDifferences"},
    {"", "Concat", 13, "onnx:node/test_concat_1d_axis_0"},
    {"", "Constant", 1, "onnx:pytorch-converted/test_PixelShuffle"},
    {"", "Constant", 9, "gtest:KernelVersions.OlderSchemaVersionsMatchANewerOne"},
    {"", "Constant", 11, "onnx:node/test_dynamicquantizelinear_expanded"},
    {"", "Constant", 12, "onnx:node/test_celu_expanded"},
    {"", "Constant", 13, "onnx:node/test_blackmanwindow_expanded"},
    {"", "ConstantOfShape", 9, "onnx:node/test_constantofshape_float_ones"},
    {"", "Conv", 1, "onnx:pytorch-converted/test_Conv1d"},
    {"", "Conv", 11, "onnx:node/test_basic_conv_with_padding"},
    {"", "ConvInteger", 10, "onnx:node/test_basic_convinteger"},
    {"", "ConvTranspose", 1, "onnx:node/test_convtranspose_with_kernel"},
    {"", "ConvTranspose", 11, "onnx:node/test_convtranspose"},
    {"", "Cos", 7, "onnx:node/test_blackmanwindow_expanded"},
    {"", "Cosh", 9, "onnx:node/test_cosh"},
    {"", "CumSum", 11, "gtest:CumSum.ExclusiveReverse"},
    {"", "CumSum", 14, "onnx:node/test_cumsum_1d"},
    {"", "DFT", 17, "onnx:node/test_dft"},
    {"", "DepthToSpace", 1, "gtest:GradCheck.EveryCaseMatchesCentralDifferences"},
    {"", "DepthToSpace", 11, "onnx:node/test_depthtospace_crd_mode"},
    {"", "DepthToSpace", 13, "onnx:node/test_depthtospace_crd_mode_example"},
    {"", "DequantizeLinear", 10, "gtest:DequantizeLinear.PerAxisAndInt32"},
    {"", "DequantizeLinear", 13, "onnx:node/test_dequantizelinear"},
    {"", "Det", 11, "onnx:node/test_det_2d"},
    {"", "Div", 7, "onnx:node/test_celu_expanded"},
    {"", "Div", 13, "onnx:node/test_mvn_expanded"},
    {"", "Div", 14, "onnx:node/test_blackmanwindow_expanded"},
    {"", "Dropout", 7, "gtest:GradCheck.EveryCaseMatchesCentralDifferences"},
    {"", "Dropout", 10, "onnx:node/test_dropout_default_old"},
    {"", "Dropout", 12, "gtest:DropoutTest.DeterministicPerSeedAndFreshPerStep"},
    {"", "Dropout", 13, "onnx:node/test_dropout_default"},
    {"", "DynamicQuantizeLinear", 11, "onnx:node/test_dynamicquantizelinear"},
    {"", "Einsum", 12, "onnx:node/test_einsum_batch_diagonal"},
    {"", "Elu", 6, "onnx:node/test_celu_expanded"},
    {"", "Equal", 7, "gtest:KernelVersions.OlderSchemaVersionsMatchANewerOne"},
    {"", "Equal", 11, "gtest:KernelVersions.OlderSchemaVersionsMatchANewerOne"},
    {"", "Equal", 13, "onnx:node/test_equal"},
    {"", "Erf", 9, "gtest:GradCheck.EveryCaseMatchesCentralDifferences"},
    {"", "Erf", 13, "onnx:node/test_erf"},
    {"", "Exp", 6, "onnx:pytorch-converted/test_PoissonNLLLLoss_no_reduce"},
    {"", "Exp", 13, "onnx:node/test_exp"},
    {"", "Expand", 8, "onnx:simple/test_expand_shape_model1"},
    {"", "Expand", 13, "onnx:node/test_expand_dim_changed"},
    {"", "EyeLike", 9, "onnx:node/test_eyelike_populate_off_main_diagonal"},
    {"", "Flatten", 1, "onnx:pytorch-operator/test_operator_flatten"},
    {"", "Flatten", 9, "gtest:KernelVersions.OlderSchemaVersionsMatchANewerOne"},
    {"", "Flatten", 11, "gtest:GradCheck.EveryCaseMatchesCentralDifferences"},
    {"", "Flatten", 13, "onnx:node/test_flatten_axis0"},
    {"", "Floor", 6, "gtest:KernelVersions.OlderSchemaVersionsMatchANewerOne"},
    {"", "Floor", 13, "onnx:node/test_floor"},
    {"", "GRU", 7, "gtest:Gru.OneStepMatchesHandComputationBothResetForms"},
    {"", "GRU", 14, "onnx:node/test_gru_batchwise"},
    {"", "Gather", 1, "onnx:pytorch-converted/test_Embedding"},
    {"", "Gather", 11, "gtest:GradCheck.EveryCaseMatchesCentralDifferences"},
    {"", "Gather", 13, "onnx:node/test_gather_0"},
    {"", "GatherElements", 11, "gtest:GradCheck.EveryCaseMatchesCentralDifferences"},
    {"", "GatherElements", 13, "onnx:node/test_gather_elements_0"},
    {"", "GatherND", 11, "gtest:GradCheck.EveryCaseMatchesCentralDifferences"},
    {"", "GatherND", 12, "gtest:GatherND.BatchDims"},
    {"", "GatherND", 13, "onnx:node/test_gathernd_example_float32"},
    {"", "Gemm", 7, "gtest:GemmTest.VersionRulesAndErrors"},
    {"", "Gemm", 9, "gtest:GradCheck.EveryCaseMatchesCentralDifferences"},
    {"", "Gemm", 11, "gtest:GradCheck.EveryCaseMatchesCentralDifferences"},
    {"", "Gemm", 13, "onnx:node/test_gemm_all_attributes"},
    {"", "GlobalAveragePool", 1, "onnx:node/test_globalaveragepool"},
    {"", "GlobalLpPool", 1, "gtest:PoolTest.GlobalLpPool"},
    {"", "GlobalLpPool", 2, "gtest:PoolTest.GlobalLpPool"},
    {"", "GlobalMaxPool", 1, "onnx:node/test_globalmaxpool"},
    {"", "Greater", 7, "gtest:KernelVersions.OlderSchemaVersionsMatchANewerOne"},
    {"", "Greater", 9, "gtest:KernelVersions.OlderSchemaVersionsMatchANewerOne"},
    {"", "Greater", 13, "onnx:node/test_greater"},
    {"", "GreaterOrEqual", 12, "gtest:KernelVersions.OlderSchemaVersionsMatchANewerOne"},
    {"", "GreaterOrEqual", 16, "onnx:node/test_greater_equal"},
    {"", "GridSample", 16, "onnx:node/test_gridsample"},
    {"", "HammingWindow", 17, "onnx:node/test_hammingwindow"},
    {"", "HannWindow", 17, "onnx:node/test_hannwindow"},
    {"", "HardSigmoid", 6, "onnx:node/test_hardsigmoid"},
    {"", "HardSwish", 14, "onnx:node/test_hardswish"},
    {"", "Hardmax", 1, "gtest:KernelVersions.OlderSchemaVersionsMatchANewerOne"},
    {"", "Hardmax", 11, "gtest:KernelVersions.OlderSchemaVersionsMatchANewerOne"},
    {"", "Hardmax", 13, "onnx:node/test_hardmax_axis_0"},
    {"", "Identity", 1, "onnx:node/test_dynamicquantizelinear_expanded"},
    {"", "Identity", 13, "onnx:node/test_sce_NCd1_mean_weight_negative_ii_log_prob_expanded"},
    {"", "Identity", 14, "gtest:KernelVersions.OlderSchemaVersionsMatchANewerOne"},
    {"", "Identity", 16, "onnx:node/test_identity"},
    {"", "InstanceNormalization", 6, "onnx:node/test_instancenorm_epsilon"},
    {"", "IsInf", 10, "onnx:node/test_isinf"},
    {"", "IsNaN", 9, "gtest:KernelVersions.OlderSchemaVersionsMatchANewerOne"},
    {"", "IsNaN", 13, "onnx:node/test_isnan"},
    {"", "LRN", 1, "gtest:GradCheck.EveryCaseMatchesCentralDifferences"},
    {"", "LRN", 13, "onnx:node/test_lrn"},
    {"", "LSTM", 7, "gtest:Lstm.RunsInDouble"},
    {"", "LSTM", 14, "onnx:node/test_lstm_batchwise"},
    {"", "LayerNormalization", 17, "onnx:node/test_layer_normalization_2d_axis0"},
    {"", "LeakyRelu", 6, "onnx:pytorch-converted/test_LeakyReLU"},
    {"", "LeakyRelu", 16, "onnx:node/test_leakyrelu"},
    {"", "Less", 7, "gtest:KernelVersions.OlderSchemaVersionsMatchANewerOne"},
    {"", "Less", 9, "gtest:KernelVersions.OlderSchemaVersionsMatchANewerOne"},
    {"", "Less", 13, "onnx:node/test_less"},
    {"", "LessOrEqual", 12, "gtest:KernelVersions.OlderSchemaVersionsMatchANewerOne"},
    {"", "LessOrEqual", 16, "onnx:node/test_less_equal"},
    {"", "Log", 6, "gtest:KernelVersions.OlderSchemaVersionsMatchANewerOne"},
    {"", "Log", 13, "onnx:node/test_log"},
    {"", "LogSoftmax", 1, "onnx:pytorch-converted/test_LogSoftmax"},
    {"", "LogSoftmax", 11, "gtest:GradCheck.EveryCaseMatchesCentralDifferences"},
    {"", "LogSoftmax", 13, "onnx:node/test_logsoftmax_axis_0"},
    {"", "LpNormalization", 1, "gtest:ReductionsTest.MeanVarianceAndLpNormalization"},
    {"", "LpPool", 2, "gtest:PoolTest.LpPool"},
    {"", "LpPool", 11, "gtest:ConvPoolGrad.LpPoolGradFloat32MatchesFloat64"},
    {"", "MatMul", 1, "onnx:pytorch-converted/test_Linear_no_bias"},
    {"", "MatMul", 9, "gtest:GradCheck.EveryCaseMatchesCentralDifferences"},
    {"", "MatMul", 13, "onnx:node/test_matmul_2d"},
    {"", "MatMulInteger", 10, "onnx:node/test_matmulinteger"},
    {"", "Max", 6, "onnx:pytorch-operator/test_operator_max"},
    {"", "Max", 8, "onnx:node/test_dynamicquantizelinear_expanded"},
    {"", "Max", 12, "gtest:GradCheck.EveryCaseMatchesCentralDifferences"},
    {"", "Max", 13, "onnx:node/test_max_example"},
    {"", "MaxPool", 1, "onnx:pytorch-converted/test_MaxPool1d"},
    {"", "MaxPool", 8, "gtest:GradCheck.EveryCaseMatchesCentralDifferences"},
    {"", "MaxPool", 10, "gtest:GradCheck.EveryCaseMatchesCentralDifferences"},
    {"", "MaxPool", 11, "gtest:PoolTest.VersionsAndErrors"},
    {"", "MaxPool", 12, "onnx:node/test_maxpool_1d_default"},
    {"", "MaxRoiPool", 1, "gtest:MaxRoiPool.HandCheckedBinsWithScaleAndEmptyBins"},
    {"", "MaxUnpool", 9, "gtest:GradCheck.EveryCaseMatchesCentralDifferences"},
    {"", "MaxUnpool", 11, "onnx:node/test_maxunpool_export_with_output_shape"},
    {"", "Mean", 6, "gtest:GradCheck.EveryCaseMatchesCentralDifferences"},
    {"", "Mean", 8, "gtest:GradCheck.EveryCaseMatchesCentralDifferences"},
    {"", "Mean", 13, "onnx:node/test_mean_example"},
    {"", "MeanVarianceNormalization", 9, "gtest:GradCheck.EveryCaseMatchesCentralDifferences"},
    {"", "MeanVarianceNormalization", 13, "onnx:node/test_mvn"},
    {"", "MelWeightMatrix", 17, "onnx:node/test_melweightmatrix"},
    {"", "Min", 6, "onnx:pytorch-operator/test_operator_min"},
    {"", "Min", 8, "onnx:node/test_dynamicquantizelinear_expanded"},
    {"", "Min", 12, "gtest:GradCheck.EveryCaseMatchesCentralDifferences"},
    {"", "Min", 13, "onnx:node/test_min_example"},
    {"", "Mod", 10, "gtest:GradCheck.EveryCaseMatchesCentralDifferences"},
    {"", "Mod", 13, "onnx:node/test_mod_broadcast"},
    {"", "Mul", 7, "onnx:node/test_celu_expanded"},
    {"", "Mul", 13, "onnx:node/test_nllloss_NCd1_ii_expanded"},
    {"", "Mul", 14, "onnx:node/test_blackmanwindow_expanded"},
    {"", "Multinomial", 7, "gtest:RandomOps.MultinomialFrequenciesAndTypes"},
    {"", "Neg", 6, "onnx:pytorch-converted/test_Softmin"},
    {"", "Neg", 13, "onnx:node/test_layer_normalization_2d_axis_negative_1_expanded"},
    {"", "NegativeLogLikelihoodLoss", 12, "gtest:GradCheck.EveryCaseMatchesCentralDifferences"},
    {"", "NegativeLogLikelihoodLoss", 13, "onnx:node/test_nllloss_NC"},
    {"", "NonMaxSuppression", 10, "gtest:NonMaxSuppression.SuppressesOverlapsPerClass"},
    {"", "NonMaxSuppression", 11, "onnx:node/test_nonmaxsuppression_center_point_box_format"},
    {"", "NonZero", 9, "gtest:KernelVersions.OlderSchemaVersionsMatchANewerOne"},
    {"", "NonZero", 13, "onnx:node/test_nonzero_example"},
    {"", "Not", 1, "onnx:node/test_not_2d"},
    {"", "OneHot", 9, "gtest:OneHot.NegativeIndicesDependOnVersion"},
    {"", "OneHot", 11, "onnx:node/test_onehot_negative_indices"},
    {"", "Or", 7, "onnx:node/test_greater_equal_bcast_expanded"},
    {"", "PRelu", 7, "gtest:ActivationKernels.PReluBroadcastsSlope"},
    {"", "PRelu", 9, "gtest:GradCheck.EveryCaseMatchesCentralDifferences"},
    {"", "PRelu", 16, "onnx:node/test_prelu_broadcast"},
    {"", "Pad", 2, "onnx:pytorch-converted/test_ConstantPad2d"},
    {"", "Pad", 11, "gtest:GradCheck.EveryCaseMatchesCentralDifferences"},
    {"", "Pad", 13, "onnx:node/test_constant_pad"},
    {"", "Pow", 7, "gtest:ElementwiseKernels.PowMixedTypes"},
    {"", "Pow", 12, "onnx:node/test_pow_types_float"},
    {"", "Pow", 13, "onnx:node/test_mvn_expanded"},
    {"", "Pow", 15, "onnx:node/test_pow"},
    {"", "QLinearConv", 10, "onnx:node/test_qlinearconv"},
    {"", "QLinearMatMul", 10, "onnx:node/test_qlinearmatmul_2D"},
    {"", "QuantizeLinear", 10, "onnx:node/test_dynamicquantizelinear_expanded"},
    {"", "QuantizeLinear", 13, "onnx:node/test_quantizelinear"},
    {"", "RNN", 7, "gtest:Rnn.RejectsBadAttributesAndShapes"},
    {"", "RNN", 14, "onnx:node/test_rnn_seq_length"},
    {"", "RandomNormal", 1, "gtest:RandomOps.NormalStatistics"},
    {"", "RandomNormalLike", 1, "gtest:RandomOps.LikeOpsTakeShapeAndTypeFromTheInput"},
    {"", "RandomUniform", 1, "gtest:RandomOps.UniformStatisticsAndRange"},
    {"", "RandomUniformLike", 1, "gtest:RandomOps.LikeOpsTakeShapeAndTypeFromTheInput"},
    {"", "Range", 11, "onnx:node/test_blackmanwindow_expanded"},
    {"", "Reciprocal", 6, "gtest:GradCheck.EveryCaseMatchesCentralDifferences"},
    {"", "Reciprocal", 13, "onnx:node/test_layer_normalization_2d_axis0_expanded"},
    {"", "ReduceL1", 1, "gtest:KernelVersions.OlderSchemaVersionsMatchANewerOne"},
    {"", "ReduceL1", 11, "gtest:KernelVersions.OlderSchemaVersionsMatchANewerOne"},
    {"", "ReduceL1", 13, "onnx:node/test_reduce_l1_default_axes_keepdims_example"},
    {"", "ReduceL2", 1, "gtest:KernelVersions.OlderSchemaVersionsMatchANewerOne"},
    {"", "ReduceL2", 11, "gtest:KernelVersions.OlderSchemaVersionsMatchANewerOne"},
    {"", "ReduceL2", 13, "onnx:node/test_reduce_l2_default_axes_keepdims_example"},
    {"", "ReduceLogSum", 1, "onnx:node/test_reduce_log_sum"},
    {"", "ReduceLogSum", 11, "gtest:KernelVersions.OlderSchemaVersionsMatchANewerOne"},
    {"", "ReduceLogSum", 13, "onnx:node/test_reduce_log_sum_asc_axes"},
    {"", "ReduceLogSumExp", 1, "gtest:KernelVersions.OlderSchemaVersionsMatchANewerOne"},
    {"", "ReduceLogSumExp", 11, "gtest:KernelVersions.OlderSchemaVersionsMatchANewerOne"},
    {"", "ReduceLogSumExp", 13, "onnx:node/test_reduce_log_sum_exp_default_axes_keepdims_example"},
    {"", "ReduceMax", 1, "gtest:KernelVersions.OlderSchemaVersionsMatchANewerOne"},
    {"", "ReduceMax", 11, "onnx:node/test_dynamicquantizelinear_expanded"},
    {"", "ReduceMax", 12, "gtest:GradCheck.EveryCaseMatchesCentralDifferences"},
    {"", "ReduceMax", 13, "onnx:node/test_logsoftmax_axis_0_expanded"},
    {"", "ReduceMean", 1, "onnx:pytorch-operator/test_operator_reduced_mean"},
    {"", "ReduceMean", 11, "gtest:KernelVersions.OlderSchemaVersionsMatchANewerOne"},
    {"", "ReduceMean", 13, "onnx:node/test_layer_normalization_2d_axis0_expanded"},
    {"", "ReduceMin", 1, "gtest:KernelVersions.OlderSchemaVersionsMatchANewerOne"},
    {"", "ReduceMin", 11, "onnx:node/test_dynamicquantizelinear_expanded"},
    {"", "ReduceMin", 12, "gtest:GradCheck.EveryCaseMatchesCentralDifferences"},
    {"", "ReduceMin", 13, "onnx:node/test_reduce_min_default_axes_keepdims_example"},
    {"", "ReduceProd", 1, "gtest:KernelVersions.OlderSchemaVersionsMatchANewerOne"},
    {"", "ReduceProd", 11, "gtest:KernelVersions.OlderSchemaVersionsMatchANewerOne"},
    {"", "ReduceProd", 13, "onnx:node/test_reduce_prod_default_axes_keepdims_example"},
    {"", "ReduceSum", 1, "onnx:pytorch-operator/test_operator_reduced_sum"},
    {"", "ReduceSum", 11, "gtest:GradCheck.EveryCaseMatchesCentralDifferences"},
    {"", "ReduceSum", 13, "onnx:node/test_logsoftmax_axis_0_expanded"},
    {"", "ReduceSumSquare", 1, "gtest:KernelVersions.OlderSchemaVersionsMatchANewerOne"},
    {"", "ReduceSumSquare", 11, "gtest:KernelVersions.OlderSchemaVersionsMatchANewerOne"},
    {"", "ReduceSumSquare", 13, "onnx:node/test_reduce_sum_square_default_axes_keepdims_example"},
    {"", "Relu", 6, "onnx:pytorch-converted/test_ReLU"},
    {"", "Relu", 13, "gtest:ActivationKernels.ReluTakesIntegersFromOpset14"},
    {"", "Relu", 14, "onnx:node/test_relu"},
    {"", "Reshape", 5, "onnx:pytorch-converted/test_PixelShuffle"},
    {"", "Reshape", 13, "onnx:node/test_sce_NCd1_mean_weight_negative_ii_expanded"},
    {"", "Reshape", 14, "onnx:node/test_layer_normalization_2d_axis0_expanded"},
    {"", "Resize", 10, "gtest:Upsample.LegacyVersions"},
    {"", "Resize", 11, "onnx:node/test_resize_downsample_sizes_nearest_tf_half_pixel_for_nn"},
    {"", "Resize", 13, "onnx:node/test_resize_downsample_scales_cubic"},
    {"", "ReverseSequence", 10, "onnx:node/test_reversesequence_batch"},
    {"", "RoiAlign", 10, "gtest:RoiAlign.RampImageAveragesTheBin"},
    {"", "RoiAlign", 16, "onnx:node/test_roialign_aligned_false"},
    {"", "Round", 11, "onnx:node/test_dynamicquantizelinear_expanded"},
    {"", "STFT", 17, "onnx:node/test_stft"},
    {"", "Scatter", 9, "onnx:node/test_scatter_with_axis"},
    {"", "Scatter", 11, "gtest:KernelVersions.OlderSchemaVersionsMatchANewerOne"},
    {"", "ScatterElements", 11, "gtest:GradCheck.EveryCaseMatchesCentralDifferences"},
    {"", "ScatterElements", 13, "gtest:GradCheck.EveryCaseMatchesCentralDifferences"},
    {"", "ScatterElements", 16, "onnx:node/test_scatter_elements_with_axis"},
    {"", "ScatterND", 11, "gtest:GradCheck.EveryCaseMatchesCentralDifferences"},
    {"", "ScatterND", 13, "gtest:ScatterND.SlicesAndReduction"},
    {"", "ScatterND", 16, "onnx:node/test_scatternd"},
    {"", "Selu", 6, "onnx:node/test_selu"},
    {"", "Shape", 1, "gtest:KernelVersions.OlderSchemaVersionsMatchANewerOne"},
    {"", "Shape", 13, "onnx:node/test_sce_NCd1_mean_weight_negative_ii_expanded"},
    {"", "Shape", 15, "onnx:node/test_layer_normalization_2d_axis0_expanded"},
    {"", "Shrink", 9, "onnx:node/test_shrink_hard"},
    {"", "Sigmoid", 6, "onnx:pytorch-converted/test_GLU"},
    {"", "Sigmoid", 13, "onnx:node/test_sigmoid"},
    {"", "Sign", 9, "onnx:simple/test_sign_model"},
    {"", "Sign", 13, "onnx:node/test_sign"},
    {"", "Sin", 7, "onnx:node/test_sin"},
    {"", "Sinh", 9, "onnx:node/test_sinh"},
    {"", "Size", 1, "gtest:KernelVersions.OlderSchemaVersionsMatchANewerOne"},
    {"", "Size", 13, "onnx:node/test_layer_normalization_2d_axis0_expanded"},
    {"", "Slice", 1, "onnx:pytorch-operator/test_operator_index"},
    {"", "Slice", 10, "gtest:GradCheck.EveryCaseMatchesCentralDifferences"},
    {"", "Slice", 11, "gtest:GradCheck.EveryCaseMatchesCentralDifferences"},
    {"", "Slice", 13, "onnx:node/test_layer_normalization_2d_axis0_expanded"},
    {"", "Softmax", 1, "onnx:pytorch-converted/test_Softmax"},
    {"", "Softmax", 11, "gtest:SoftmaxTest.AxisSemanticsChangeAtOpset13"},
    {"", "Softmax", 13, "onnx:node/test_softmax_axis_0"},
    {"", "SoftmaxCrossEntropyLoss", 12, "gtest:GradCheck.EveryCaseMatchesCentralDifferences"},
    {"", "SoftmaxCrossEntropyLoss", 13, "onnx:node/test_sce_NCd1_mean_weight_negative_ii"},
    {"", "Softplus", 1, "onnx:node/test_softplus"},
    {"", "Softsign", 1, "onnx:node/test_softsign"},
    {"", "SpaceToDepth", 1, "gtest:GradCheck.EveryCaseMatchesCentralDifferences"},
    {"", "SpaceToDepth", 13, "onnx:node/test_spacetodepth"},
    {"", "Split", 2, "onnx:pytorch-converted/test_GLU"},
    {"", "Split", 11, "gtest:ShapeOps.SplitAttributeBefore13InputFrom13"},
    {"", "Split", 13, "onnx:node/test_split_equal_parts_1d"},
    {"", "Sqrt", 6, "onnx:pytorch-operator/test_operator_sqrt"},
    {"", "Sqrt", 13, "onnx:node/test_layer_normalization_2d_axis0_expanded"},
    {"", "Squeeze", 1, "onnx:pytorch-converted/test_AvgPool1d"},
    {"", "Squeeze", 11, "gtest:ShapeOps.SqueezeUnsqueezeVersions"},
    {"", "Squeeze", 13, "onnx:node/test_nllloss_NC_expanded"},
    {"", "Sub", 7, "onnx:node/test_dynamicquantizelinear_expanded"},
    {"", "Sub", 13, "onnx:node/test_logsoftmax_axis_0_expanded"},
    {"", "Sub", 14, "onnx:node/test_blackmanwindow_expanded"},
    {"", "Sum", 6, "onnx:pytorch-operator/test_operator_symbolic_override_nested"},
    {"", "Sum", 8, "gtest:GradCheck.EveryCaseMatchesCentralDifferences"},
    {"", "Sum", 13, "onnx:node/test_sum_example"},
    {"", "Tan", 7, "onnx:node/test_tan"},
    {"", "Tanh", 6, "onnx:pytorch-converted/test_Tanh"},
    {"", "Tanh", 13, "onnx:node/test_tanh"},
    {"", "ThresholdedRelu", 10, "onnx:node/test_thresholdedrelu"},
    {"", "Tile", 6, "onnx:pytorch-operator/test_operator_repeat"},
    {"", "Tile", 13, "onnx:node/test_tile"},
    {"", "TopK", 1, "gtest:TopK.TiesTakeTheLowerIndexFirst"},
    {"", "TopK", 10, "gtest:GradCheck.EveryCaseMatchesCentralDifferences"},
    {"", "TopK", 11, "onnx:node/test_top_k"},
    {"", "Transpose", 1, "onnx:pytorch-converted/test_Linear_no_bias"},
    {"", "Transpose", 13, "onnx:node/test_sce_NCd1_mean_weight_negative_ii_expanded"},
    {"", "Trilu", 14, "onnx:node/test_tril"},
    {"", "Unique", 11, "onnx:node/test_unique_not_sorted_without_axis"},
    {"", "Unsqueeze", 1, "onnx:pytorch-converted/test_AvgPool1d"},
    {"", "Unsqueeze", 11, "onnx:node/test_unsqueeze_axis_3"},
    {"", "Unsqueeze", 13, "onnx:node/test_nllloss_NC_expanded"},
    {"", "Upsample", 7, "gtest:Upsample.LegacyVersions"},
    {"", "Upsample", 9, "onnx:node/test_upsample_nearest"},
    {"", "Upsample", 10, "gtest:KernelVersions.OlderSchemaVersionsMatchANewerOne"},
    {"", "Where", 9, "onnx:node/test_nllloss_NCd1_ii_expanded"},
    {"", "Where", 16, "onnx:node/test_where_example"},
    {"", "Xor", 7, "onnx:node/test_xor2d"},
    {kPreview, "Adagrad", 1, "onnx:node/test_adagrad"},
    {kPreview, "Adam", 1, "onnx:node/test_adam"},
    {kPreview, "Momentum", 1, "onnx:node/test_momentum"},
    {kTrain, "AllReduceSum", 1, "gtest:SyncBatchNorm.AllReduceSumOfOneProcessIsItsInput"},
    {kTrain, "AveragePoolGrad", 1, "gtest:ConvPoolGrad.AveragePoolGradFloat32MatchesFloat64"},
    {kTrain, "BatchNormalizationGrad", 1, "gtest:NormalizationGradTest.BatchNormGradFloat32MatchesFloat64"},
    {kTrain, "BitwiseAnd", 1, "gtest:Bitwise.BinaryOpsBroadcast"},
    {kTrain, "BitwiseNot", 1, "gtest:Bitwise.NotFlipsEveryBit"},
    {kTrain, "BitwiseOr", 1, "gtest:Bitwise.BinaryOpsBroadcast"},
    {kTrain, "BitwiseXor", 1, "gtest:Bitwise.BinaryOpsBroadcast"},
    {kTrain, "ClipGrad", 1, "gtest:ActivationGradTest.ClipGradBounds"},
    {kTrain, "ConvGrad", 1, "gtest:ConvPoolGrad.ConvGradFloat32MatchesFloat64"},
    {kTrain, "ConvTransposeGrad", 1, "gtest:ConvPoolGrad.ConvTransposeGradFloat32MatchesFloat64"},
    {kTrain, "DetGrad", 1, "gtest:IndexingGradKernels.Registered"},
    {kTrain, "DropoutGrad", 1, "gtest:DropoutTest.GradFloat32MatchesFloat64AndTheUnfusedProduct"},
    {kTrain, "EluGrad", 1, "gtest:ActivationGradTest.DnnlAndReferenceAgree"},
    {kTrain, "FusedConv", 1, "gtest:FusedConv.PostOpsMatchReference"},
    {kTrain, "FusedMatMul", 1, "gtest:FusedMatMul.Float32MatchesFloat64Reference"},
    {kTrain, "GRUGrad", 1, "gtest:RecurrentGrad.ProducesOnlyWantedOutputsAndTakesAbsentGradientsAsZero"},
    {kTrain, "GatherElementsGrad", 1, "gtest:ActivationGradTest.GatherElementsGradScatterAdds"},
    {kTrain, "GatherGrad", 1, "gtest:ActivationGradTest.GatherGradScatterAdds"},
    {kTrain, "GatherNDGrad", 1, "gtest:IndexingGradKernels.Registered"},
    {kTrain, "GridSampleGrad", 1, "gtest:LossResizeGrad.GridSampleFloat32MatchesFloat64AndIsTheAdjointInX"},
    {kTrain, "HardSigmoidGrad", 1, "gtest:ActivationGradTest.DnnlAndReferenceAgree"},
    {kTrain, "HardSwishGrad", 1, "gtest:ActivationGradTest.DnnlAndReferenceAgree"},
    {kTrain, "InstanceNormalizationGrad", 1, "gtest:NormalizationGradTest.InstanceNormGradFloat32MatchesFloat64"},
    {kTrain, "LRNGrad", 1, "gtest:NormalizationGradTest.LrnGradFloat32MatchesFloat64"},
    {kTrain, "LSTMGrad", 1, "gtest:RecurrentGrad.Float32MatchesFloat64"},
    {kTrain, "LayerNormalizationGrad", 1, "gtest:NormalizationGradTest.LayerNormGradFloat32MatchesFloat64"},
    {kTrain, "LeakyReluGrad", 1, "gtest:ActivationGradTest.DnnlAndReferenceAgree"},
    {kTrain, "LogSoftmaxGrad", 1, "gtest:ActivationGradTest.SoftmaxGradDnnlAndReferenceAgree"},
    {kTrain, "LpPoolGrad", 1, "gtest:ConvPoolGrad.LpPoolGradFloat32MatchesFloat64"},
    {kTrain, "MatMulGrad", 1, "gtest:MatMulGradTest.Float32MatchesFloat64Reference"},
    {kTrain, "MaxPoolGrad", 1, "gtest:ConvPoolGrad.MaxPoolGradFloat32MatchesFloat64"},
    {kTrain, "MaxRoiPoolGrad", 1, "gtest:ConvPoolGrad.RoiPoolGradsFloat32MatchFloat64"},
    {kTrain, "MaxUnpoolGrad", 1, "gtest:ConvPoolGrad.MaxUnpoolGradGathersAtTheIndices"},
    {kTrain, "NegativeLogLikelihoodLossGrad", 1, "gtest:LossResizeGrad.NegativeLogLikelihoodFloat32MatchesFloat64"},
    {kTrain, "RNNGrad", 1, "gtest:RecurrentGrad.Float32MatchesFloat64"},
    {kTrain, "ReluGrad", 1, "gtest:ActivationGradTest.DnnlAndReferenceAgree"},
    {kTrain, "ResizeGrad", 1, "gtest:LossResizeGrad.NegativeLogLikelihoodScattersAtTheLabels"},
    {kTrain, "RoiAlignGrad", 1, "gtest:ConvPoolGrad.RoiPoolGradsFloat32MatchFloat64"},
    {kTrain, "STFTGrad", 1, "gtest:IndexingGradKernels.Registered"},
    {kTrain, "SeluGrad", 1, "gtest:ActivationGradTest.DnnlAndReferenceAgree"},
    {kTrain, "SigmoidGrad", 1, "gtest:ActivationGradTest.DnnlAndReferenceAgree"},
    {kTrain, "SoftmaxCrossEntropyLossGrad", 1, "gtest:LossResizeGrad.SoftmaxCrossEntropyFloat32MatchesFloat64"},
    {kTrain, "SoftmaxGrad", 1, "gtest:ActivationGradTest.SoftmaxGradDnnlAndReferenceAgree"},
    {kTrain, "SoftplusGrad", 1, "gtest:ActivationGradTest.DnnlAndReferenceAgree"},
    {kTrain, "SumToShape", 1, "gtest:SumToShape.MatchesAPerElementSumForEverySummingPattern"},
    {kTrain, "TanhGrad", 1, "gtest:ActivationGradTest.DnnlAndReferenceAgree"},
};
// clang-format on

std::set<KernelKey> registered_kernels() {
  std::set<KernelKey> out;
  const KernelRegistry& registry = KernelRegistry::global();
  for (const auto& [domain, op] : registry.ops())
    for (int v : registry.versions(domain, op)) out.insert({domain, op, v});
  return out;
}

// The (domain, op, since_version) of every node of a backend case's model (top-level graph),
// each resolved through ONNX's schemas at the model's opset for its domain.
std::set<KernelKey> kernels_of_case(const fs::path& folder) {
  std::set<KernelKey> out;
  onnx::ModelProto model;
  std::ifstream in(folder / "model.onnx", std::ios::binary);
  if (!in || !model.ParseFromIstream(&in)) return out;
  std::map<std::string, int> opsets;
  for (const auto& o : model.opset_import()) opsets[o.domain() == "ai.onnx" ? "" : o.domain()] = o.version();
  for (const auto& node : model.graph().node()) {
    const std::string domain = node.domain() == "ai.onnx" ? "" : node.domain();
    const auto* schema = onnx::OpSchemaRegistry::Instance()->GetSchema(node.op_type(), opsets[domain], domain);
    if (schema != nullptr) out.insert({domain, node.op_type(), schema->SinceVersion()});
  }
  return out;
}

std::set<std::string> registered_tests() {
  std::set<std::string> out;
  const ::testing::UnitTest& unit = *::testing::UnitTest::GetInstance();
  for (int i = 0; i < unit.total_test_suite_count(); ++i) {
    const ::testing::TestSuite& suite = *unit.GetTestSuite(i);
    for (int j = 0; j < suite.total_test_count(); ++j)
      out.insert(std::string(suite.name()) + "." + suite.GetTestInfo(j)->name());
  }
  return out;
}

// What is wrong with a row's evidence, or "" when it holds.
std::string evidence_problem(const KernelRow& row, const std::set<std::string>& tests) {
  const std::string evidence = row.evidence;
  const KernelKey key{row.domain, row.op, row.since_version};
  if (evidence.rfind("gtest:", 0) == 0) {
    return tests.count(evidence.substr(6)) ? "" : "no registered test " + evidence.substr(6);
  }
  if (evidence.rfind("onnx:", 0) == 0) {
    const fs::path folder = fs::path(kBackendData) / evidence.substr(5);
    if (!fs::exists(folder / "model.onnx")) return "no backend test case " + folder.string();
    if (!kernels_of_case(folder).count(key)) return folder.string() + "/model.onnx does not run " + key_str(key);
    return "";
  }
  return "evidence '" + evidence + "' is neither onnx:<suite>/<case> nor gtest:<Suite>.<Name>";
}

// The backend cases that run each kernel, for the message that asks for a row.
std::map<KernelKey, std::vector<std::string>> backend_cases() {
  std::map<KernelKey, std::vector<std::string>> out;
  if (!fs::exists(kBackendData)) return out;
  std::vector<fs::path> folders;
  for (const auto& suite : fs::directory_iterator(kBackendData))
    if (suite.is_directory())
      for (const auto& c : fs::directory_iterator(suite.path())) folders.push_back(c.path());
  std::sort(folders.begin(), folders.end());
  for (const fs::path& folder : folders) {
    const std::string name = folder.parent_path().filename().string() + "/" + folder.filename().string();
    for (const KernelKey& k : kernels_of_case(folder)) out[k].push_back(name);
  }
  return out;
}

TEST(KernelCoverage, EveryRegisteredKernelHasARow) {
  std::set<KernelKey> rows;
  for (const KernelRow& r : kRows) rows.insert({r.domain, r.op, r.since_version});
  std::vector<KernelKey> missing;
  for (const KernelKey& k : registered_kernels())
    if (!rows.count(k)) missing.push_back(k);
  if (missing.empty()) return;
  const auto cases = backend_cases();
  std::string message;
  for (const KernelKey& k : missing) {
    message += "\n  " + key_str(k) + ": no row in tests/kernels/kernel_coverage_test.cc";
    auto it = cases.find(k);
    if (it == cases.end()) continue;
    message += " (backend cases that run it:";
    for (size_t i = 0; i < it->second.size() && i < 8; ++i) message += " onnx:" + it->second[i];
    message += it->second.size() > 8 ? " ...)" : ")";
  }
  ADD_FAILURE() << missing.size() << " registered kernel(s) without a test row:" << message;
}

TEST(KernelCoverage, EveryRowHasItsEvidence) {
  ASSERT_TRUE(fs::exists(kBackendData)) << kBackendData << " is missing: install the libonnx-testdata package";
  const std::set<KernelKey> kernels = registered_kernels();
  const std::set<std::string> tests = registered_tests();
  std::string message;
  int problems = 0;
  for (const KernelRow& r : kRows) {
    const KernelKey key{r.domain, r.op, r.since_version};
    std::string problem = kernels.count(key) ? evidence_problem(r, tests) : "no such kernel is registered";
    if (problem.empty()) continue;
    ++problems;
    message += "\n  " + key_str(key) + " (" + r.evidence + "): " + problem;
  }
  EXPECT_EQ(problems, 0) << problems << " row(s) whose evidence is missing:" << message;
}

}  // namespace
}  // namespace onnx_train
