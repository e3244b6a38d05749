// The mapping of fields to the names data files give them, shared by the array formats: the
// name looked for, and the hint that offers the flag (--input, --label) before a rename.
#include "importers/data/formats.h"

#include <algorithm>
#include <cctype>

namespace onnx_train {

namespace {

// Names people give labels: a file, array or column called so is offered for the label, and
// the others for the inputs.
bool looks_like_label(const std::string& name) {
  std::string base = ascii_lower(without_split_prefix(name));
  if (base.size() > 4 && base.compare(base.size() - 4, 4, ".npy") == 0) base.resize(base.size() - 4);
  for (const char* l : {"label", "labels", "target", "targets", "y", "class", "classes", "category", "categories"})
    if (base == l) return true;
  return false;
}

}  // namespace

std::string ascii_lower(std::string text) {
  for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

std::string source_name(const FieldSpec& field, const DataOptions& options) {
  const auto it = options.sources.find(field.name);
  return it == options.sources.end() ? field.name : it->second;
}

std::string without_split_prefix(const std::string& stem) {
  for (const char* prefix : {"train", "val", "valid", "validation", "test", "t10k"}) {
    const std::string p = prefix;
    if (stem.size() > p.size() + 1 && stem.compare(0, p.size(), p) == 0 &&
        (stem[p.size()] == '_' || stem[p.size()] == '-'))
      return stem.substr(p.size() + 1);
  }
  return stem;
}

std::string mapping_hint(const std::vector<const FieldSpec*>& missing, const std::vector<std::string>& unused,
                         const std::string& placeholder, const std::string& otherwise,
                         const std::string& label_fallback) {
  if (unused.empty()) return otherwise;  // nothing to map: the data lacks the field
  std::vector<std::string> label_like, other;
  for (const std::string& name : unused) (looks_like_label(name) ? label_like : other).push_back(name);
  const size_t missing_inputs = static_cast<size_t>(
      std::count_if(missing.begin(), missing.end(), [](const FieldSpec* f) { return !f->is_label; }));
  std::vector<std::string> flags;
  bool guessed_all = true;
  for (const FieldSpec* field : missing) {
    // The one name that fits: of its kind, or the only name left for the only field missing.
    std::string pick;
    const std::vector<std::string>& kind = field->is_label ? label_like : other;
    if (kind.size() == 1 && (field->is_label || missing_inputs == 1))
      pick = kind[0];
    else if (missing.size() == 1 && unused.size() == 1)
      pick = unused[0];
    else if (field->is_label && label_like.empty())
      pick = label_fallback;
    guessed_all = guessed_all && !pick.empty();
    if (field->is_label) {
      // --label takes a name, which finds x.npy, train_x.npy and an array or column x alike.
      std::string name = pick.empty() ? placeholder : without_split_prefix(pick);
      if (name.size() > 4 && name.compare(name.size() - 4, 4, ".npy") == 0) name.resize(name.size() - 4);
      flags.push_back("--label " + name);
    } else {
      flags.push_back("--input " + field->name + "=" + (pick.empty() ? placeholder : pick));
    }
  }
  std::string hint = fmt::format("pass {}", fmt::join(flags, " "));
  if (!guessed_all && !unused.empty()) hint += fmt::format(" with {} one of {}", placeholder, fmt::join(unused, ", "));
  return hint + " (or " + otherwise + ")";
}

}  // namespace onnx_train
