// The hostile-input corpus (tests/hostile/, README.md there): every line of MANIFEST.tsv is one
// test case, named after its file. Each malformed file is given
//   1. to the library entry point of its role (a model loaded into a TrainingSession; a
//      checkpoint loaded into the session of the linear model it names; data opened with
//      open_data and every batch read), which must throw one onnx_train::Error of exactly the
//      category the line gives, with the line's message fragment in what();
//   2. to the real binary, in the command that would consume it (training with -o, a
//      --checkpoint-dir and a --log; `export CHECKPOINT -o`), which must exit with status 1
//      (no signal), print one "onnx-train: error:" message holding the fragment and write no
//      output: no model, no checkpoint, no partial file. A --log opened before the failure may
//      stay, ending in the "error" event with the line's category.
// And the corpus itself: the manifest and the folder list the same files, at least 60 cases.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <typeinfo>
#include <vector>

#include "onnx_train/dataset.h"
#include "onnx_train/error.h"
#include "onnx_train/training_session.h"
#include "tests/cli/cli_harness.h"

namespace onnx_train::cli_test {
namespace {

const std::string kCorpus = std::string(ONNX_TRAIN_SOURCE_DIR) + "/tests/hostile";
// The corpus's own files, which are no cases.
const std::set<std::string> kCorpusFiles = {"MANIFEST.tsv", "README.md", "make_hostile.py",
                                            "make_resource_limit_files.py"};
const std::set<std::string> kRoles = {"model", "checkpoint", "tensor", "npy",  "npz",
                                      "csv",   "idx",        "png",    "jpeg", "test_data_set"};

struct HostileCase {
  std::string path;  // relative to tests/hostile
  std::string role, category, fragment, what;
  int line = 0;           // in MANIFEST.tsv
  std::string malformed;  // why the line itself cannot be used ("" when it can)
};

void PrintTo(const HostileCase& c, std::ostream* out) { *out << c.path; }

std::vector<std::string> split_tabs(const std::string& line) {
  std::vector<std::string> out;
  size_t start = 0;
  for (size_t tab; (tab = line.find('\t', start)) != std::string::npos; start = tab + 1)
    out.push_back(line.substr(start, tab - start));
  out.push_back(line.substr(start));
  return out;
}

bool known_category(const std::string& name) {
  for (ErrorCategory c : {ErrorCategory::Unspecified, ErrorCategory::Usage, ErrorCategory::Model, ErrorCategory::Data,
                          ErrorCategory::Checkpoint, ErrorCategory::ResourceLimit, ErrorCategory::Unsupported,
                          ErrorCategory::NonFinite, ErrorCategory::Io})
    if (name == category_name(c)) return true;
  return false;
}

// Every case line of MANIFEST.tsv (lines starting with '#' and blank lines are comments).
std::vector<HostileCase> read_manifest() {
  std::vector<HostileCase> cases;
  std::ifstream in(kCorpus + "/MANIFEST.tsv");
  int number = 0;
  for (std::string line; std::getline(in, line);) {
    ++number;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || line[0] == '#') continue;
    const std::vector<std::string> fields = split_tabs(line);
    HostileCase c;
    c.line = number;
    c.path = fields[0];
    if (fields.size() != 5) {
      c.malformed = "has " + std::to_string(fields.size()) + " tab-separated fields, not 5";
    } else {
      c.role = fields[1];
      c.category = fields[2];
      c.fragment = fields[3];
      c.what = fields[4];
      if (!kRoles.count(c.role))
        c.malformed = "role '" + c.role + "' is none of the roles README.md lists";
      else if (!known_category(c.category))
        c.malformed = "category '" + c.category + "' is no category_name()";
      else if (c.fragment.empty())
        c.malformed = "the message fragment is empty";
      else if (!fs::exists(kCorpus + "/" + c.path))
        c.malformed = "names " + c.path + ", which is not in tests/hostile";
    }
    cases.push_back(c);
  }
  return cases;
}

const std::vector<HostileCase>& manifest() {
  static const std::vector<HostileCase> cases = read_manifest();
  return cases;
}

// The folder of a case that is more than one file (external data, a test_data_set split):
// "model/external-missing-file/model.onnx" -> "model/external-missing-file/"; "" for
// "npy/bad-magic.npy".
std::string case_folder(const std::string& path) {
  if (!path.empty() && path.back() == '/') return path;
  const size_t first = path.find('/');
  const size_t second = first == std::string::npos ? first : path.find('/', first + 1);
  return second == std::string::npos ? "" : path.substr(0, second + 1);
}

// ---- The work folder each role's file is consumed in: WORK/model.onnx (the linear classifier
// of tests/cli/cli_harness.h, sized for the role's data) and WORK/data.

struct CaseSetup {
  std::string model;  // the model to train (absolute)
  std::string data;   // DATA, relative to the work folder
  std::vector<FieldSpec> fields;
};

void copy_file(const std::string& from, const std::string& to) {
  fs::create_directories(fs::path(to).parent_path());
  fs::copy_file(from, to, fs::copy_options::overwrite_existing);
}

std::string idx_header(const std::vector<uint32_t>& dims) {
  std::string out = {0, 0, 0x08, static_cast<char>(dims.size())};
  for (uint32_t d : dims)
    out += std::string{static_cast<char>(d >> 24), static_cast<char>(d >> 16), static_cast<char>(d >> 8),
                       static_cast<char>(d)};
  return out;
}

CaseSetup set_up(const HostileCase& c, const std::string& work) {
  const std::string source = kCorpus + "/" + c.path;
  const std::string name = fs::path(c.path).filename().string();
  CaseSetup s;
  s.model = work + "/model.onnx";
  s.data = "data";
  std::vector<int64_t> input = {4};
  int64_t classes = 3;
  if (c.role == "idx") input = {1, 28, 28}, classes = 10;
  if (c.role == "png" || c.role == "jpeg") input = {3, 8, 8}, classes = 2;
  make_linear(s.model, input, classes);
  s.fields = {{"x", DType::Float32, Shape(input.begin(), input.end())}, {"label", DType::Int64, {}, true, classes}};
  const std::string data = work + "/data";
  const Samples good = separable(8, 3);
  if (c.role == "model" || c.role == "checkpoint") {
    if (c.role == "model") s.model = source;
    write_npy_pair(data + "/train", good);
  } else if (c.role == "npy") {
    write_npy_pair(data + "/train", good);
    copy_file(source, data + "/train/x.npy");
  } else if (c.role == "npz" || c.role == "csv") {
    copy_file(source, data + "/" + name);
    s.data = "data/" + name;
  } else if (c.role == "tensor") {
    copy_file(source, data + "/train/test_data_set_0/input_0.pb");
    onnx::TensorProto label;
    label.set_name("label");
    label.set_data_type(onnx::TensorProto::INT64);
    label.add_dims(good.n);
    for (int64_t y : good.y) label.add_int64_data(y);
    write_file(data + "/train/test_data_set_0/label.pb", label.SerializeAsString());
  } else if (c.role == "test_data_set") {
    const std::string folder = case_folder(c.path);
    fs::create_directories(data);
    fs::copy(kCorpus + "/" + (folder.empty() ? c.path : folder), data + "/train", fs::copy_options::recursive);
  } else if (c.role == "idx") {
    // Beside the case, a good companion without "train" in its name (which would make a split).
    copy_file(source, data + "/" + name);
    if (name.find("labels") != std::string::npos)
      write_file(data + "/images-idx3-ubyte", idx_header({2, 28, 28}) + std::string(2 * 28 * 28, '\x40'));
    else
      write_file(data + "/labels-idx1-ubyte", idx_header({2}) + std::string{1, 2});
  } else if (c.role == "png" || c.role == "jpeg") {
    write_colour(data + "/train", "red", 1, 1, "a");
    write_colour(data + "/train", "green", 1, 2, "b");
    copy_file(source, data + "/train/a/" + name);
  }
  return s;
}

// ---- 1. The library

// Runs the entry point of the case's role; the Error it throws (or a failure when none is).
std::string library_error(const HostileCase& c, const CaseSetup& s, const std::string& work, ErrorCategory* category) {
  try {
    if (c.role == "model") {
      TrainingSession::from_file(s.model);
    } else if (c.role == "checkpoint") {
      TrainingSession session = TrainingSession::from_file(s.model);
      session.load_checkpoint(kCorpus + "/" + c.path);
    } else {
      const DataSplits data = open_data(work + "/" + s.data, s.fields, DataOptions{});
      for (const auto& split : {data.train, data.val}) {
        if (!split) continue;
        BatchLoader loader(split, 4, /*shuffle=*/false, /*seed=*/0);
        loader.start_epoch(0);
        std::map<std::string, Tensor> batch;
        while (loader.next(batch)) {
        }
      }
    }
  } catch (const Error& e) {
    *category = e.category();
    return e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "not an onnx_train::Error but " << typeid(e).name() << ": " << e.what();
    return "";
  }
  ADD_FAILURE() << "the " << c.role << " entry point accepted " << c.path;
  return "";
}

// ---- 2. The binary

// Every file left in the work folder's outputs: out/ (but the log), ck/, and any .partial.
std::vector<std::string> outputs_left(const std::string& work) {
  std::vector<std::string> left;
  for (const std::string& rel : tree(work)) {
    const bool output = rel.rfind("out/", 0) == 0 || rel.rfind("ck/", 0) == 0;
    const bool partial = rel.find(".partial") != std::string::npos;
    if ((output && rel != "out/log.jsonl" && !fs::is_directory(work + "/" + rel)) || partial) left.push_back(rel);
  }
  return left;
}

class HostileCorpus : public CliTest, public ::testing::WithParamInterface<HostileCase> {};

TEST_P(HostileCorpus, EndsInOneErrorOfItsCategoryAndWritesNothing) {
  const HostileCase& c = GetParam();
  ASSERT_EQ(c.malformed, "") << "MANIFEST.tsv line " << c.line << " (" << c.path << ")";
  SCOPED_TRACE("tests/hostile/" + c.path + " (" + c.role + ", MANIFEST.tsv line " + std::to_string(c.line) +
               "): " + c.what);
  const CaseSetup s = set_up(c, work_);

  ErrorCategory category = ErrorCategory::Unspecified;
  const std::string message = library_error(c, s, work_, &category);
  EXPECT_EQ(category_name(category), c.category) << message;
  EXPECT_HAS(message, c.fragment);

  std::vector<std::string> args;
  if (c.role == "checkpoint")
    args = {"export", kCorpus + "/" + c.path, "-o", "out/OUT.onnx"};
  else
    args = {s.model, s.data,         "--epochs",         "1",  "--batch-size", "4",
            "-o",    "out/OUT.onnx", "--checkpoint-dir", "ck", "--log",        "out/log.jsonl"};
  const CliRun r = run(args);
  EXPECT_EQ(r.code, 1) << r.show();
  EXPECT_EQ(count_of(r.err, "onnx-train: error: "), 1) << r.show();
  EXPECT_EQ(r.err.rfind("onnx-train: error: ", 0), 0u) << r.show();
  EXPECT_HAS(r.err, c.fragment);
  // One message, not a dump of the file: a damaged cell or header is quoted in part.
  EXPECT_LT(r.err.size(), 4096u) << r.err.substr(0, 600);
  EXPECT_EQ(outputs_left(work_), std::vector<std::string>{}) << r.show();
  // A log opened before the failure says which kind of failure ended the run.
  if (fs::exists(work_ + "/out/log.jsonl")) {
    const std::vector<std::string> log = lines_of(read_file(work_ + "/out/log.jsonl"));
    ASSERT_FALSE(log.empty());
    EXPECT_HAS(log.back(), "{\"event\": \"error\", \"category\": \"" + c.category + "\"");
  }
}

std::string test_name(const ::testing::TestParamInfo<HostileCase>& info) {
  std::string name;
  for (char ch : info.param.path) name += std::isalnum(static_cast<unsigned char>(ch)) ? ch : '_';
  // Names must be unique and "a-b" and "a_b" map to the same one: the line number keeps them apart.
  return name + "_L" + std::to_string(info.param.line);
}

INSTANTIATE_TEST_SUITE_P(Manifest, HostileCorpus, ::testing::ValuesIn(manifest()), test_name);

// ---- The category in the --log

class FailedRunLog : public CliTest {};

TEST_F(FailedRunLog, EndsWithTheErrorEventAndItsCategory) {
  // Inputs of 3e38 overflow the logits: the second step's loss is not finite, once the log is open.
  make_linear(path("work/model.onnx"), {4}, 3);
  Samples s = separable(8, 1);
  for (float& v : s.x) v = 3e38f;
  write_npy_pair(path("work/data/train"), s);
  const CliRun r = fails({"model.onnx", "data", "--epochs", "1", "--batch-size", "4", "--lr", "1e30", "-o",
                          "out/m.onnx", "--log", "out/log.jsonl"},
                         {"training stopped at step"});
  EXPECT_EQ(r.code, 1);
  const std::vector<std::string> log = lines_of(read_file(path("work/out/log.jsonl")));
  ASSERT_FALSE(log.empty());
  EXPECT_HAS(log.back(), "{\"event\": \"error\", \"category\": \"non-finite\", \"message\": \"model.onnx: ");
  EXPECT_FALSE(fs::exists(path("work/out/m.onnx")));
}

// ---- The corpus

TEST(HostileCorpusManifest, ListsEveryFileAndOnlyFilesThatExist) {
  std::set<std::string> listed, folders;
  for (const HostileCase& c : manifest()) {
    EXPECT_TRUE(listed.insert(c.path).second) << "MANIFEST.tsv lists " << c.path << " twice";
    if (const std::string folder = case_folder(c.path); !folder.empty()) folders.insert(folder);
  }
  std::set<std::string> unlisted;
  for (fs::recursive_directory_iterator it(kCorpus), end; it != end; ++it) {
    if (!it->is_regular_file()) continue;
    const std::string rel = fs::relative(it->path(), kCorpus).string();
    if (kCorpusFiles.count(rel) || listed.count(rel)) continue;
    // A file of a case's own folder (external data beside its model, the other sets of a split).
    const bool in_case_folder =
        std::any_of(folders.begin(), folders.end(), [&](const std::string& f) { return rel.rfind(f, 0) == 0; });
    if (!in_case_folder) unlisted.insert(rel);
  }
  EXPECT_EQ(unlisted, std::set<std::string>{}) << "files under tests/hostile that MANIFEST.tsv does not list";
  for (const std::string& path : listed) EXPECT_TRUE(fs::exists(kCorpus + "/" + path)) << path;
}

TEST(HostileCorpusManifest, HoldsAtLeastSixtyDistinctCasesOfEveryRole) {
  std::set<std::string> paths;
  std::map<std::string, int> per_role;
  for (const HostileCase& c : manifest()) {
    paths.insert(c.path);
    ++per_role[c.role];
  }
  EXPECT_GE(paths.size(), 60u);
  for (const std::string& role : kRoles) EXPECT_GE(per_role[role], 1) << "no case of role " << role;
}

}  // namespace
}  // namespace onnx_train::cli_test
