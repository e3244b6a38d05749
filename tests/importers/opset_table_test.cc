// The README's table of opset 18-23 op versions is the lowering table itself: this test builds
// the table from the registered lowerings (importers/lower_opset.h) and the cases compared with
// ONNX Runtime (tests/data/opset_new/*), and fails when the README says anything else, printing
// the table it expects. It also requires every lowered op version to have at least one ONNX
// Runtime case, so no lowering goes unchecked against ORT.
#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "importers/lower_opset.h"
#include "importers/proto_io.h"

namespace onnx_train {
namespace {

namespace fs = std::filesystem;

const std::string kSource = ONNX_TRAIN_SOURCE_DIR;
const char* kBegin = "<!-- opset 18-23 table: generated, tests/importers/opset_table_test.cc -->";
const char* kEnd = "<!-- end of the opset 18-23 table -->";

// (op, version) -> how many ONNX Runtime cases have a node of that op version.
std::map<std::pair<std::string, int>, int> ort_cases() {
  std::map<std::pair<std::string, int>, int> count;
  const fs::path root = fs::path(kSource) / "tests/data/opset_new";
  if (!fs::exists(root)) return count;
  for (const auto& entry : fs::directory_iterator(root)) {
    const fs::path model_path = entry.path() / "model.onnx";
    if (!fs::exists(model_path)) continue;
    onnx::ModelProto model;
    parse_proto_file(model_path.string(), model, "ONNX model");
    int opset = 0;
    for (const auto& imp : model.opset_import())
      if (imp.domain().empty() || imp.domain() == "ai.onnx") opset = static_cast<int>(imp.version());
    std::set<std::pair<std::string, int>> in_this_case;
    for (const auto& n : model.graph().node()) {
      const int version = lowered_version(n.op_type(), opset);
      if (version > 0) in_this_case.emplace(n.op_type(), version);
    }
    for (const auto& key : in_this_case) ++count[key];
  }
  return count;
}

// The table and the list of types-only versions, as the README holds them.
std::string expected_block(const std::map<std::pair<std::string, int>, int>& cases) {
  std::ostringstream out;
  out << kBegin << "\n\n| op version | how onnx-train runs it | ONNX Runtime cases |\n|---|---|---|\n";
  std::map<int, std::vector<std::string>> types_only;
  for (const std::string& op : ops_changed_after_opset17()) {
    for (const OpsetChange& change : opset_changes(op)) {
      if (change.types_only) {
        types_only[change.since_version].push_back(op);
        continue;
      }
      std::string how = "not supported";
      for (const LoweringRule& rule : lowering_rules())
        if (rule.op_type == op && rule.since_version == change.since_version) how = "lowered: " + rule.form;
      const auto it = cases.find({op, change.since_version});
      out << "| " << op << "-" << change.since_version << " | " << how << " | "
          << (it == cases.end() ? 0 : it->second) << " |\n";
    }
  }
  out << "\nVersions that only added element types run as the op's opset-17 version for the types "
         "that version has:\n\n";
  for (const auto& [version, ops] : types_only) {
    out << "- " << version << ": ";
    for (size_t i = 0; i < ops.size(); ++i) out << (i ? ", " : "") << ops[i];
    out << "\n";
  }
  out << "\n" << kEnd;
  return out.str();
}

std::string readme_block() {
  std::ifstream in(kSource + "/README.md");
  std::stringstream text;
  text << in.rdbuf();
  const std::string readme = text.str();
  const size_t begin = readme.find(kBegin);
  const size_t end = readme.find(kEnd);
  if (begin == std::string::npos || end == std::string::npos || end < begin) return "";
  return readme.substr(begin, end + std::string(kEnd).size() - begin);
}

TEST(OpsetTable, TheReadmeTableIsTheLoweringTable) {
  const std::string expected = expected_block(ort_cases());
  EXPECT_EQ(readme_block(), expected) << "README.md's opset 18-23 section should read:\n" << expected;
}

TEST(OpsetTable, EveryLoweredVersionIsComparedWithOnnxRuntime) {
  const auto cases = ort_cases();
  for (const LoweringRule& rule : lowering_rules())
    EXPECT_GT(cases.count({rule.op_type, rule.since_version}), 0u)
        << rule.op_type << "-" << rule.since_version
        << " has a lowering but no case in tests/data/opset_new (tests/data/make_opset_new.py)";
}

}  // namespace
}  // namespace onnx_train
