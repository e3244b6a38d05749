// The data side of the train and eval commands: reading every sample before the first step
// (when that is quick), leaving bad samples out (--skip-bad-samples), and the classes and
// preprocessing a model was trained with, kept in checkpoints and exported models.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "onnx_train/dataset.h"
#include "tools/onnx-train/train_options.h"

namespace onnx_train::cli {

struct Prepared;
struct TrainConfig;

// How long reading every sample before training may take (all splits together); beyond it,
// samples are checked as the BatchLoader reads them.
constexpr double kCheckBudgetSeconds = 2.0;

// kCheckBudgetSeconds, or the seconds in the environment variable ONNX_TRAIN_DATA_CHECK_SECONDS
// when set. A test hook: 0 makes a small data set take the path of one too large to read
// first (only its first sample is read before training), which a test could otherwise reach
// only with gigabytes of data.
double check_budget_seconds();

// Reads and checks every sample of the splits when that is estimated to take at most
// kCheckBudgetSeconds, saying through `note` when it is not (and samples are checked as they
// stream). Without `skip_bad`, the first bad sample found is an Error naming it; with it,
// the splits are replaced by ones that leave bad samples out (those found now and any met
// later), and the returned log (null without `skip_bad`) records them for the end of the run.
// A model with a fixed batch size (`fixed_batch` > 0) cannot take the smaller batches that
// leaving samples out makes: bad samples found then are an Error listing them.
std::shared_ptr<BadSampleLog> check_data(DataSplits& data, bool skip_bad, int64_t fixed_batch,
                                         const std::function<void(const std::string&)>& note);

// The Error for a bad sample met while the data streams (after check_data could not read it
// all first), without --skip-bad-samples: `problem` (the BatchLoader's message, naming the
// file and sample), and what to do: fix or remove it, or leave bad samples out with
// --skip-bad-samples, which a resumed run may add (`resume_from`: the checkpoint the run goes
// on from, "" when none). A model with a fixed batch size (`fixed_batch` > 0) cannot take
// the smaller batches that leaving samples out makes, so that is not offered then.
std::string streamed_bad_sample(const std::string& problem, int64_t fixed_batch, const std::string& resume_from);

// "skipped 2 bad samples: ..." with the first few (file and sample, what is wrong) listed.
std::string bad_samples_report(const BadSampleLog& log);

// How many threads read a batch's samples when --workers is not given: image class folders,
// whose samples are decoded (and augmented), take min(4, cores); other data, read by copying
// (csv class names included), one. Any number gives the same batches.
int default_reader_threads(const Dataset& data);

// The data options of eval and predict: those stored with the model or checkpoint (classes,
// mean and std, image size), with what the command line gives winning: --mean, --std,
// --image-size, and the data mapping (--input, --columns, --ignore-columns).
DataOptions data_options_over(const TrainConfig& config, DataOptions stored);

// Training with a class loss without --num-classes: the data's classes must be the model's.
// Class names (image folders) fewer than the classifier output's classes would train a head
// of mostly unused outputs, which is an Error suggesting --num-classes (a new head) unless
// --keep-head says the labels are a subset by design; a class label (npy, CSV) past the
// output's classes is an Error naming the sample, the largest label and the count
// --num-classes needs, or fixing the sample (found by reading the labels, within
// check_budget_seconds; not with --skip-bad-samples, which leaves such samples out). More class folders than outputs are refused when the data is opened (images.cc).
void check_classes_fit_model(const TrainConfig& config, const Prepared& run, const Dataset& train);

// The data.* entries of a checkpoint's metadata (data_metadata in onnx_train/dataset.h).
std::map<std::string, std::string> data_entries(const std::map<std::string, std::string>& metadata);

// Input values this large have no place in training data: a product with a weight and a sum
// over a layer's inputs overflow float32 (max 3.4e38) on the way, and the loss becomes Inf or
// NaN whatever the learning rate.
constexpr double kExtremeInput = 1e15;

// The samples of `batch` whose float fields hold values past kExtremeInput (or NaN), by file
// and index ("'x': data/x.npy, sample 29 (a value of 3e+38)"), at most 8; empty when there are
// none. The batch does not carry its sample indices, so each bad row is looked up in `data` by
// its bytes (only on this error path, and within a time budget).
std::vector<std::string> extreme_samples(const std::map<std::string, Tensor>& batch, const Dataset& data);

}  // namespace onnx_train::cli
