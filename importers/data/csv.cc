// *.csv: a header row, then one sample per row. The label takes the column named like it;
// the model inputs take the columns DataOptions::sources names (--input x=a,b), and one input
// not named there takes every other column (--columns chooses them, --ignore-columns leaves
// some out), in order. Cells are numbers ("..." quoting allowed), except the labels of a
// class loss, which may be names: the sorted names are the classes, or given ones (a trained
// model's, the training split's) that names map to. Several files in a split are
// concatenated and must have the same header.
#include <algorithm>
#include <cctype>
#include <charconv>
#include <deque>
#include <filesystem>
#include <map>
#include <set>
#include <string_view>

#include "importers/data/array_dataset.h"
#include "importers/data/formats.h"
#include "onnx_train/printable.h"
#include "runtime/core/resource_limits.h"

namespace onnx_train {

namespace fs = std::filesystem;

namespace {

std::string_view trim(std::string_view s) {
  const size_t begin = s.find_first_not_of(" \t");
  if (begin == std::string_view::npos) return {};
  return s.substr(begin, s.find_last_not_of(" \t") - begin + 1);
}

// Splits a csv text into records of cells: cells are separated by commas, records by \n or
// \r\n; a cell in double quotes may hold commas, line breaks and "" for a quote.
class CsvReader {
 public:
  CsvReader(std::string_view text, std::string path) : text_(text), path_(std::move(path)) {
    if (text_.substr(0, 3) == "\xEF\xBB\xBF") text_.remove_prefix(3);  // spreadsheets' UTF-8 byte order mark
  }

  // The next non-blank record's cells (views into the text, or into this reader for quoted
  // cells with "" in them, valid until the next call); false at the end of the text.
  bool next(std::vector<std::string_view>& cells) {
    do {
      if (pos_ >= text_.size()) return false;
      record_line_ = line_;
      cells.clear();
      unescaped_.clear();
      bool more = true;
      while (more) cells.push_back(read_cell(more));
    } while (cells.size() == 1 && cells[0].empty());
    return true;
  }

  int64_t record_line() const { return record_line_; }

 private:
  // Reads one cell; `more` says whether a comma followed it (rather than the record's end).
  std::string_view read_cell(bool& more) {
    const size_t start = pos_;
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\t')) ++pos_;
    std::string_view cell;
    if (pos_ < text_.size() && text_[pos_] == '"') {
      cell = read_quoted();
      while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\t')) ++pos_;
      OT_CHECK(pos_ >= text_.size() || text_[pos_] == ',' || text_[pos_] == '\n' || text_[pos_] == '\r',
               "{}, line {}: text after a quoted cell's closing quote; quote the whole cell", path_, line_);
    } else {
      pos_ = std::min(text_.find_first_of(",\r\n", pos_), text_.size());
      cell = trim(text_.substr(start, pos_ - start));
    }
    more = pos_ < text_.size() && text_[pos_] == ',';
    if (more) {
      ++pos_;
    } else {
      if (pos_ < text_.size() && text_[pos_] == '\r') ++pos_;
      if (pos_ < text_.size() && text_[pos_] == '\n') ++pos_;
      ++line_;
    }
    return cell;
  }

  std::string_view read_quoted() {
    const int64_t opened_on = line_;
    const size_t begin = ++pos_;
    bool escaped = false;
    for (;; ++pos_) {
      OT_CHECK(pos_ < text_.size(), "{}, line {}: a quoted cell is not closed (a \" is missing)", path_, opened_on);
      if (text_[pos_] == '\n') ++line_;
      if (text_[pos_] != '"') continue;
      if (pos_ + 1 < text_.size() && text_[pos_ + 1] == '"') {
        escaped = true;
        ++pos_;
        continue;
      }
      break;
    }
    const std::string_view raw = text_.substr(begin, pos_ - begin);
    ++pos_;
    if (!escaped) return raw;
    std::string& s = unescaped_.emplace_back();
    for (size_t i = 0; i < raw.size(); ++i) {
      s += raw[i];
      if (raw[i] == '"') ++i;
    }
    return s;
  }

  std::string_view text_;
  std::string path_;
  size_t pos_ = 0;
  int64_t line_ = 1, record_line_ = 1;
  std::deque<std::string> unescaped_;  // a deque, so views into earlier cells stay valid
};

bool is_number(std::string_view cell, double& value) {
  std::string_view digits = trim(cell);
  if (!digits.empty() && digits[0] == '+') digits.remove_prefix(1);
  const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  return !digits.empty() && ec == std::errc() && end == digits.data() + digits.size();
}

// Names of columns that number or name the rows rather than describe them.
bool looks_like_id(const std::string& column) {
  const std::string name = ascii_lower(column);
  return name == "id" || name == "index" || name == "name" || name == "filename" || name == "file" ||
         (name.size() > 3 && name.compare(name.size() - 3, 3, "_id") == 0);
}

// Which field each column of a header feeds, and where in the field's sample.
struct CsvLayout {
  static constexpr int kIgnored = -1;
  std::vector<int> field_of_column;               // kIgnored for --ignore-columns and unused columns
  std::vector<int64_t> offset_of_column;          // the value's place in the field's sample
  std::vector<std::vector<std::string>> columns;  // by field: its columns, in order
  std::vector<bool> text_labels;                  // by field: a class label whose cells may be names
};

std::string header_text(const std::vector<std::string>& header) {
  std::vector<std::string> shown;
  for (const auto& h : header) shown.push_back(printable_bytes(h));
  return fmt::format("{}", fmt::join(shown, ", "));
}

// Splits "a,b,c" (an --input or --columns value) into column names.
std::vector<std::string> column_list(const std::string& text) {
  std::vector<std::string> out;
  size_t begin = 0;
  while (begin <= text.size()) {
    const size_t comma = std::min(text.find(',', begin), text.size());
    out.emplace_back(trim(std::string_view(text).substr(begin, comma - begin)));
    begin = comma + 1;
  }
  return out;
}

// The columns an input takes: "*" (every column no other field takes), or a list, and the
// flag that said so, for messages.
struct InputColumns {
  std::string spec = "*";
  std::string flag;  // "--input x=a,b", "--columns a,b", or "" for the default
};

std::vector<InputColumns> input_columns(const std::vector<FieldSpec>& wanted, const DataOptions& options,
                                        const std::string& where) {
  std::vector<InputColumns> out(wanted.size());
  std::vector<std::string> inputs, unmapped;
  for (const auto& field : wanted) {
    if (field.is_label) continue;
    inputs.push_back(field.name);
    if (!options.sources.count(field.name)) unmapped.push_back(field.name);
  }
  const std::string columns = fmt::format("{}", fmt::join(options.columns, ","));
  OT_CHECK(options.columns.empty() || inputs.size() == 1,
           "{}: --columns {} chooses the columns of the model's single input, but the model takes {} ({}); map each "
           "input to its columns with --input NAME=COLUMN,COLUMN,...",
           where, columns, inputs.size(), fmt::join(inputs, ", "));
  OT_CHECK(options.columns.empty() || unmapped.size() == 1,
           "{}: both --columns {} and --input {}={} choose the input's columns; give them once", where, columns,
           inputs.empty() ? "" : inputs[0], inputs.empty() ? "" : options.sources.at(inputs[0]));
  OT_CHECK(unmapped.size() <= 1,
           "{}: the model takes {} inputs ({}), and csv columns fill one input by default; map the others with "
           "--input NAME=COLUMN,COLUMN,... (--input NAME=* for the columns left over)",
           where, inputs.size(), fmt::join(inputs, ", "));
  for (size_t f = 0; f < wanted.size(); ++f) {
    if (wanted[f].is_label) continue;
    if (const auto it = options.sources.find(wanted[f].name); it != options.sources.end())
      out[f] = {it->second, fmt::format("--input {}={}", wanted[f].name, it->second)};
    else if (!options.columns.empty())
      out[f] = {columns, "--columns " + columns};
  }
  return out;
}

CsvLayout plan_columns(const std::vector<std::string>& header, const std::vector<FieldSpec>& wanted,
                       const DataOptions& options, const std::string& path) {
  CsvLayout layout;
  layout.field_of_column.assign(header.size(), CsvLayout::kIgnored);
  layout.offset_of_column.assign(header.size(), 0);
  layout.columns.resize(wanted.size());
  layout.text_labels.resize(wanted.size());
  std::vector<bool> taken(header.size(), false);  // by a field or --ignore-columns
  std::vector<std::string> taken_by(header.size());

  // The one column called `name`; -1 when there is none.
  auto find_column = [&](const std::string& name, const std::string& flag) -> int {
    const auto it = std::find(header.begin(), header.end(), name);
    if (it == header.end()) return -1;
    OT_CHECK(std::find(it + 1, header.end(), name) == header.end(), "{}: two columns are named '{}' ({}); rename one",
             path, printable_bytes(name), flag);
    return static_cast<int>(it - header.begin());
  };
  auto take = [&](int column, int field, const std::string& by) {
    OT_CHECK(!taken[static_cast<size_t>(column)], "{}: column '{}' is taken twice: by {} and by {}; give it once", path,
             printable_bytes(header[static_cast<size_t>(column)]), taken_by[static_cast<size_t>(column)], by);
    taken[static_cast<size_t>(column)] = true;
    taken_by[static_cast<size_t>(column)] = by;
    if (field == CsvLayout::kIgnored) return;
    layout.field_of_column[static_cast<size_t>(column)] = field;
    layout.offset_of_column[static_cast<size_t>(column)] = static_cast<int64_t>(layout.columns[field].size());
    layout.columns[static_cast<size_t>(field)].push_back(header[static_cast<size_t>(column)]);
  };

  for (const std::string& name : options.ignore_columns) {
    const int column = find_column(name, "--ignore-columns");
    OT_CHECK(column >= 0, "{}: --ignore-columns {}: no such column; the header has {}", path, printable_bytes(name),
             header_text(header));
    take(column, CsvLayout::kIgnored, "--ignore-columns");
  }
  const bool labelled = std::any_of(wanted.begin(), wanted.end(), [](const FieldSpec& f) { return f.is_label; });
  for (const std::string& name : options.skip_columns_if_present) {
    const int column = find_column(name, "the training label");
    if (column >= 0 && !labelled && !taken[static_cast<size_t>(column)]) take(column, CsvLayout::kIgnored, name);
  }
  // The labels first: a label column is not a feature.
  std::vector<const FieldSpec*> missing;
  for (size_t f = 0; f < wanted.size(); ++f) {
    if (!wanted[f].is_label) continue;
    const std::string name = source_name(wanted[f], options);
    const int column = find_column(name, "the label");
    if (column < 0) {
      missing.push_back(&wanted[f]);
      continue;
    }
    take(column, static_cast<int>(f), fmt::format("the label '{}'", wanted[f].name));
    layout.text_labels[f] = !dtype_is_float(wanted[f].dtype) && wanted[f].dtype != DType::Bool;
  }
  const std::vector<InputColumns> specs = input_columns(wanted, options, path);
  for (size_t f = 0; f < wanted.size(); ++f) {
    if (wanted[f].is_label || specs[f].spec == "*") continue;
    for (const std::string& name : column_list(specs[f].spec)) {
      const int column = find_column(name, specs[f].flag);
      OT_CHECK(column >= 0, "{}: {}: no column '{}'; the header has {}", path, specs[f].flag, printable_bytes(name),
               header_text(header));
      take(column, static_cast<int>(f), specs[f].flag);
    }
  }
  std::vector<std::string> left;  // columns no field and no flag took
  for (size_t c = 0; c < header.size(); ++c)
    if (!taken[c] && !header[c].empty()) left.push_back(header[c]);
  if (!missing.empty()) {
    std::vector<std::string> described, named;
    for (const FieldSpec* field : missing) {
      described.push_back(fmt::format("no column '{}' for the label", printable_bytes(source_name(*field, options))));
      named.push_back("'" + printable_bytes(field->name) + "'");
    }
    // Tables conventionally keep their target last: offered when no column is named like a label.
    std::string last_column;
    for (const std::string& name : left)
      if (!looks_like_id(name)) last_column = name;
    OT_FAIL("{}: {}; the header has {}: {}", path, fmt::join(described, " and "), header_text(header),
            mapping_hint(missing, left, "COLUMN", fmt::format("name the label column {}", fmt::join(named, " and ")),
                         last_column));
  }
  for (size_t f = 0; f < wanted.size(); ++f) {
    if (wanted[f].is_label || specs[f].spec != "*") continue;
    for (size_t c = 0; c < header.size(); ++c)
      if (!taken[c]) take(static_cast<int>(c), static_cast<int>(f), "the columns left over");
    OT_CHECK(!layout.columns[f].empty(),
             "{}: no column is left for the model input '{}' (the header has {}); free some from --ignore-columns or "
             "the other inputs",
             path, wanted[f].name, header_text(header));
  }

  // An input of a fixed size fed a different number of columns: an id or name column is the
  // usual extra one.
  for (size_t f = 0; f < wanted.size(); ++f) {
    const Shape& shape = wanted[f].sample_shape;
    if (wanted[f].is_label || std::any_of(shape.begin(), shape.end(), [](int64_t d) { return d < 0; })) continue;
    const auto fed = static_cast<int64_t>(layout.columns[f].size());
    if (fed == shape_numel(shape)) continue;
    std::vector<std::string> ids;
    for (const auto& column : layout.columns[f])
      if (looks_like_id(column)) ids.push_back(printable_bytes(column));
    OT_FAIL(
        "{}: the model input '{}' takes {} values per sample ({}), but {} columns feed it ({}); {}", path,
        wanted[f].name, shape_numel(shape), shape_str(shape), fed, header_text(layout.columns[f]),
        !ids.empty() ? fmt::format("leave {} out with --ignore-columns {}", fmt::join(ids, ", "), fmt::join(ids, ","))
        : specs[f].spec == "*" ? std::string("choose the input's columns with --columns A,B,... or leave some out with "
                                             "--ignore-columns")
                               : fmt::format("name {} columns in {}", shape_numel(shape), specs[f].flag));
  }
  return layout;
}

// One file's cells, by field: values[f] holds field f's numbers, one sample after another;
// a label that may be names keeps its cells as text (label_cells[f]) until every file is read.
struct CsvFile {
  std::string path;
  std::vector<std::string> header;
  std::vector<std::vector<double>> values;
  std::vector<std::vector<std::string>> label_cells;
  std::vector<int64_t> lines;   // each sample's line
  std::vector<int64_t> widths;  // by field: the columns that feed it
  // The rows' names: the cells of the first column left out that names rows (an id column
  // given to --ignore-columns), one per sample; empty without one.
  std::vector<std::string> ids;
};

[[noreturn]] void fail_cell(const CsvFile& csv, int64_t line, size_t column, std::string_view cell,
                            const FieldSpec& field) {
  const std::string name = printable_bytes(csv.header[column]);
  // A cell of a damaged file can be megabytes long: its start says enough.
  constexpr size_t kShown = 40;
  const std::string shown =
      cell.size() <= kShown
          ? fmt::format("'{}'", printable_bytes(cell))
          : fmt::format("'{}...' ({} bytes)", printable_bytes(cell.substr(0, kShown)), cell.size());
  OT_FAIL("{}, line {}, column {} ('{}'): {} is not a number; {}", csv.path, line, column + 1, name, shown,
          field.is_label ? fmt::format("the label '{}' of this loss takes numbers", field.name)
                         : fmt::format("the column feeds the model input '{}', which takes numbers: leave it out with "
                                       "--ignore-columns {} (or choose the input's columns with --columns)",
                                       field.name, name));
}

CsvFile read_csv(const std::string& path, const std::vector<FieldSpec>& wanted, const DataOptions& options) {
  const MappedFile file(path);
  // Its values are read whole into memory: about as many bytes as the file, up to twice that.
  check_memory_limit(file.size(), fmt::format("{}: the CSV file, read whole into memory", path));
  CsvReader reader(std::string_view(reinterpret_cast<const char*>(file.data()), file.size()), path);
  std::vector<std::string_view> cells;
  OT_CHECK(reader.next(cells), "{}: the file is empty; a csv file needs a header row naming its columns", path);
  CsvFile csv;
  csv.path = path;
  for (auto cell : cells) csv.header.emplace_back(cell);
  const CsvLayout layout = plan_columns(csv.header, wanted, options, path);
  for (const auto& columns : layout.columns) csv.widths.push_back(static_cast<int64_t>(columns.size()));
  int id_column = -1;
  for (const std::string& name : options.ignore_columns) {
    const auto at = std::find(csv.header.begin(), csv.header.end(), name);
    if (at != csv.header.end() && looks_like_id(name)) {
      id_column = static_cast<int>(at - csv.header.begin());
      break;
    }
  }

  csv.values.resize(wanted.size());
  csv.label_cells.resize(wanted.size());
  while (reader.next(cells)) {
    const int64_t line = reader.record_line();
    OT_CHECK(cells.size() == csv.header.size(), "{}, line {}: {} cells but the header has {} columns", path, line,
             cells.size(), csv.header.size());
    for (size_t f = 0; f < wanted.size(); ++f) csv.values[f].resize(csv.values[f].size() + layout.columns[f].size());
    for (size_t c = 0; c < cells.size(); ++c) {
      const int field = layout.field_of_column[c];
      if (field == CsvLayout::kIgnored) continue;
      const auto f = static_cast<size_t>(field);
      if (layout.text_labels[f]) {
        csv.label_cells[f].emplace_back(trim(cells[c]));
        continue;
      }
      double value = 0;
      if (!is_number(cells[c], value)) fail_cell(csv, line, c, cells[c], wanted[f]);
      csv.values[f][csv.values[f].size() - layout.columns[f].size() + static_cast<size_t>(layout.offset_of_column[c])] =
          value;
    }
    csv.lines.push_back(line);
    if (id_column >= 0) csv.ids.emplace_back(trim(cells[static_cast<size_t>(id_column)]));
  }
  return csv;
}

// The class labels of every file's field `f`: numbers (class indices) when every cell is one,
// otherwise names mapped to `classes` (filled with the sorted names when empty). Each file's
// labels go to values[f] as indices.
void label_values(std::vector<CsvFile>& files, size_t f, const FieldSpec& field, std::vector<std::string>& classes,
                  const std::string& classes_from) {
  const std::pair<const CsvFile*, size_t> none{nullptr, 0};
  std::pair<const CsvFile*, size_t> first_number = none, first_name = none;
  for (const CsvFile& csv : files) {
    for (size_t i = 0; i < csv.label_cells[f].size(); ++i) {
      double value = 0;
      auto& first = is_number(csv.label_cells[f][i], value) ? first_number : first_name;
      if (first.first == nullptr) first = {&csv, i};
    }
  }
  auto where = [](const std::pair<const CsvFile*, size_t>& at) {
    return fmt::format("{}, line {}", at.first->path, at.first->lines[at.second]);
  };
  if (first_name.first == nullptr) {  // class indices
    for (CsvFile& csv : files)
      for (size_t i = 0; i < csv.label_cells[f].size(); ++i) is_number(csv.label_cells[f][i], csv.values[f][i]);
    classes.clear();
    return;
  }
  const std::string& name = first_name.first->label_cells[f][first_name.second];
  OT_CHECK(!name.empty(), "{}: the label '{}' is empty; every row needs its class", where(first_name), field.name);
  OT_CHECK(first_number.first == nullptr,
           "{}: the label '{}' is '{}', a name, but {} has '{}', a number; class labels are either all numbers (class "
           "indices from 0) or all names (the classes, numbered in sorted order)",
           where(first_name), field.name, printable_bytes(name), where(first_number),
           printable_bytes(first_number.first->label_cells[f][first_number.second]));
  const bool given = !classes.empty();
  if (!given) {
    std::set<std::string> names;
    for (const CsvFile& csv : files) names.insert(csv.label_cells[f].begin(), csv.label_cells[f].end());
    classes.assign(names.begin(), names.end());
  }
  std::map<std::string, int64_t> index;
  for (size_t c = 0; c < classes.size(); ++c) index.emplace(classes[c], static_cast<int64_t>(c));
  for (CsvFile& csv : files) {
    for (size_t i = 0; i < csv.label_cells[f].size(); ++i) {
      const std::string& label = csv.label_cells[f][i];
      const auto it = index.find(label);
      if (it == index.end()) {
        std::vector<std::string> shown;
        for (size_t c = 0; c < classes.size() && c < 20; ++c) shown.push_back("'" + printable_bytes(classes[c]) + "'");
        OT_FAIL(
            "{}, line {}: the label '{}' is '{}', which is not one of the {} classes of {} ({}{}); fix the label "
            "or leave the row out",
            csv.path, csv.lines[i], field.name, printable_bytes(label), classes.size(),
            classes_from.empty() ? "the training data" : classes_from, fmt::join(shown, ", "),
            classes.size() > 20 ? ", ..." : "");
      }
      csv.values[f][i] = static_cast<double>(it->second);
    }
  }
  const auto count = static_cast<int64_t>(classes.size());
  OT_CHECK(
      given || field.num_classes <= 0 || count <= field.num_classes,
      "{}: the label '{}' names {} classes ({}{}), but the model's output has {}; pass --num-classes {} to give it "
      "a new classifier layer of {} outputs",
      files[0].path, field.name, count, fmt::join(classes.begin(), classes.begin() + std::min<int64_t>(count, 5), ", "),
      count > 5 ? ", ..." : "", field.num_classes, count, count);
}

}  // namespace

std::unique_ptr<Dataset> open_csv_files(const SplitSource& split, const std::vector<FieldSpec>& wanted,
                                        const DataOptions& options) {
  std::vector<std::string> paths;
  for (const auto& path : split.files)
    if (fs::path(path).extension() == ".csv") paths.push_back(path);
  if (paths.empty()) return nullptr;

  std::vector<CsvFile> files;
  for (const auto& path : paths) {
    files.push_back(read_csv(path, wanted, options));
    OT_CHECK(files.back().header == files[0].header,
             "{}: the header ({}) differs from {}'s ({}); every csv file of a split needs the same columns", path,
             header_text(files.back().header), paths[0], header_text(files[0].header));
  }
  std::vector<std::string> classes;
  std::string label_column;
  for (size_t f = 0; f < wanted.size(); ++f) {
    bool text = false;
    for (const CsvFile& csv : files) text = text || !csv.label_cells[f].empty();
    if (!wanted[f].is_label || !text) continue;
    std::vector<std::string> found = options.classes;
    label_values(files, f, wanted[f], found, options.classes_from);
    if (!found.empty()) {
      classes = std::move(found);
      label_column = source_name(wanted[f], options);
    }
  }

  std::vector<ArrayColumn> columns(wanted.size());
  std::vector<std::shared_ptr<const void>> storage;
  std::vector<std::string> ids;
  for (CsvFile& csv : files) {
    for (std::string& id : csv.ids) ids.push_back(std::move(id));
    const auto samples = static_cast<int64_t>(csv.lines.size());
    for (size_t f = 0; f < wanted.size(); ++f) {
      auto values = std::make_shared<std::vector<double>>(std::move(csv.values[f]));
      columns[f].dtype = DType::Float64;
      columns[f].sample_shape = wanted[f].is_label ? Shape{} : Shape{csv.widths[f]};
      columns[f].chunks.push_back({csv.path, reinterpret_cast<const uint8_t*>(values->data()), samples, csv.lines});
      storage.push_back(std::move(values));
    }
  }
  auto data = std::make_unique<ArrayDataset>(split.dir, wanted, std::move(columns), std::move(storage),
                                             list_paths(paths), "csv");
  if (!ids.empty()) data->set_sample_names(std::move(ids));
  if (!classes.empty())
    data->set_class_names(classes,
                          fmt::format("{} classes in column '{}'", classes.size(), printable_bytes(label_column)));
  return data;
}

}  // namespace onnx_train
