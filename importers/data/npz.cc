// *.npz: a zip archive of NAME.npy members (numpy.savez / savez_compressed), read through
// libzip, which parses the container (ZIP64, data descriptors, stored and deflated members)
// and checks each member's CRC-32 as it is read, so a damaged member is refused as numpy
// refuses it. Each wanted member is read whole into memory.
#include <zip.h>

#include <algorithm>
#include <filesystem>
#include <new>

#include "importers/data/array_npy.h"
#include "importers/data/formats.h"
#include "onnx_train/printable.h"
#include "runtime/core/resource_limits.h"

namespace onnx_train {

namespace fs = std::filesystem;

namespace {

// Deflate cannot compress better than about 1032:1; a member that claims more is corrupt,
// and is refused before memory for it is taken.
constexpr uint64_t kMaxDeflateRatio = 1032;

std::string libzip_message(int code) {
  zip_error_t error;
  zip_error_init_with_code(&error, code);
  std::string message = zip_error_strerror(&error);
  zip_error_fini(&error);
  return message;
}

[[noreturn]] void fail_archive(const std::string& path, const std::string& problem) {
  OT_FAIL("{}: not a valid .npz (zip) archive: {}; save it again with numpy.savez", path, problem);
}

class ZipArchive {
 public:
  explicit ZipArchive(std::string path) : path_(std::move(path)) {
    int code = 0;
    // ZIP_CHECKCONS: also compare each local header with the central directory.
    archive_ = zip_open(path_.c_str(), ZIP_RDONLY | ZIP_CHECKCONS, &code);
    if (archive_ == nullptr) {
      if (!(code != ZIP_ER_OPEN && code != ZIP_ER_NOENT && code != ZIP_ER_READ))
        OT_FAIL_AS(ErrorCategory::Io, "{}: cannot read the archive: {}", path_, libzip_message(code));
      fail_archive(path_, code == ZIP_ER_NOZIP ? "it has no end of central directory record (it is not a zip file)"
                                               : libzip_message(code));
    }
  }
  ~ZipArchive() { zip_discard(archive_); }
  ZipArchive(const ZipArchive&) = delete;
  ZipArchive& operator=(const ZipArchive&) = delete;

  std::vector<std::string> names() const {
    std::vector<std::string> out;
    const zip_int64_t count = zip_get_num_entries(archive_, 0);
    for (zip_int64_t i = 0; i < count; ++i) {
      const char* name = zip_get_name(archive_, static_cast<zip_uint64_t>(i), ZIP_FL_ENC_GUESS);
      if (name != nullptr) out.emplace_back(name);
    }
    return out;
  }

  // The member's uncompressed bytes; libzip checks its CRC-32 when the read reaches the end.
  std::shared_ptr<std::vector<uint8_t>> read(const std::string& name) const {
    const zip_int64_t index = zip_name_locate(archive_, name.c_str(), 0);
    OT_CHECK(index >= 0, "{}: no member {}", path_, name);
    zip_stat_t stat;
    zip_stat_init(&stat);
    if (zip_stat_index(archive_, static_cast<zip_uint64_t>(index), 0, &stat) != 0)
      fail_archive(path_, fmt::format("member {}: {}", name, zip_strerror(archive_)));
    const std::string where = fmt::format("{}: {}", path_, name);
    OT_CHECK(!(stat.valid & ZIP_STAT_ENCRYPTION_METHOD) || stat.encryption_method == ZIP_EM_NONE,
             "{} is encrypted; save the archive without a password", where);
    OT_CHECK(zip_compression_method_supported(stat.comp_method, 0),
             "{}: compression method {} is not supported (numpy writes stored or deflated members)", where,
             stat.comp_method);
    // The sizes come from the directory: bound them by the archive before allocating.
    std::error_code ec;
    const uint64_t archive_size = fs::file_size(path_, ec);
    if (stat.comp_size > archive_size)
      fail_archive(path_, fmt::format("member {} claims {} bytes, more than the whole archive ({} bytes); the file "
                                      "is truncated or damaged",
                                      name, stat.comp_size, archive_size));
    if ((stat.comp_method == ZIP_CM_STORE && stat.size != stat.comp_size) ||
        (stat.comp_method == ZIP_CM_DEFLATE && stat.size / kMaxDeflateRatio > stat.comp_size))
      fail_archive(path_, fmt::format("member {} records an impossible size ({} bytes from {} stored)", name, stat.size,
                                      stat.comp_size));
    // Then against the caps (onnx_train/limits.h): the member is held in memory, and a deflated
    // one may not inflate past the decompression cap. The read below stops at the recorded size.
    if (stat.comp_method == ZIP_CM_DEFLATE)
      check_decompressed_size(stat.size, stat.comp_size, fmt::format("{}, deflated", where));
    else
      check_memory_limit(stat.size, where);
    auto bytes = std::make_shared<std::vector<uint8_t>>();
    try {
      bytes->resize(stat.size);
    } catch (const std::bad_alloc&) {
      OT_FAIL("{}: needs {} bytes of memory ({:.3g} GB) to be read; split the data over several archives", where,
              stat.size, stat.size / 1e9);
    }
    zip_file_t* file = zip_fopen_index(archive_, static_cast<zip_uint64_t>(index), 0);
    if (file == nullptr) fail_archive(path_, fmt::format("member {}: {}", name, zip_strerror(archive_)));
    uint64_t got = 0;
    zip_int64_t n = 0;
    while (got < bytes->size() && (n = zip_fread(file, bytes->data() + got, bytes->size() - got)) > 0)
      got += static_cast<uint64_t>(n);
    uint8_t extra = 0;
    if (n >= 0) n = zip_fread(file, &extra, 1);  // reaching the end runs the CRC check
    std::string problem;
    if (n < 0)
      problem = zip_error_code_zip(zip_file_get_error(file)) == ZIP_ER_CRC
                    ? "its CRC-32 does not match its data (the member is damaged; numpy refuses it too)"
                    : zip_file_strerror(file);
    else if (got != bytes->size() || n > 0)
      problem = fmt::format("it does not hold its recorded {} bytes", stat.size);
    zip_fclose(file);
    if (!problem.empty()) fail_archive(path_, fmt::format("member {}: {}", name, problem));
    return bytes;
  }

  const std::string& path() const { return path_; }

 private:
  std::string path_;
  zip_t* archive_ = nullptr;
};

}  // namespace

std::unique_ptr<Dataset> open_npz_files(const SplitSource& split, const std::vector<FieldSpec>& wanted,
                                        const DataOptions& options) {
  std::vector<std::string> archives;
  for (const auto& path : split.files)
    if (fs::path(path).extension() == ".npz") archives.push_back(path);
  if (archives.empty()) return nullptr;
  OT_CHECK(archives.size() == 1,
           "{}: {} .npz archives ({}); a split takes exactly one: save all arrays in one numpy.savez call, or move "
           "the others out",
           split.dir, archives.size(), list_paths(archives));

  const ZipArchive zip(archives[0]);
  const std::vector<std::string> members = zip.names();
  std::vector<std::string> arrays;  // the members' array names, as numpy.load gives them
  for (const auto& m : members) arrays.push_back(fs::path(m).stem().string());
  std::vector<std::string> shown;  // quoted in errors
  for (const auto& a : arrays) shown.push_back(printable_bytes(a));

  // Each field's array (named after it, or as --input maps it); every field missing one is
  // named in one message.
  std::vector<std::string> member_of(wanted.size());
  std::vector<const FieldSpec*> missing;
  for (size_t f = 0; f < wanted.size(); ++f) {
    std::string array = source_name(wanted[f], options);
    if (fs::path(array).extension() == ".npy") array = fs::path(array).stem().string();
    const bool found = std::find(members.begin(), members.end(), array + ".npy") != members.end();
    OT_CHECK(found || !options.sources.count(wanted[f].name), "{}: --input {}={}: no such array; the archive holds {}",
             zip.path(), wanted[f].name, options.sources.at(wanted[f].name),
             shown.empty() ? "nothing" : list_paths(shown));
    if (found)
      member_of[f] = array + ".npy";
    else
      missing.push_back(&wanted[f]);
  }
  // The arrays found are read first: a damaged one is the problem to hear about.
  std::vector<ArrayColumn> columns;
  std::vector<std::shared_ptr<const void>> storage;
  for (const std::string& member_name : member_of) {
    if (member_name.empty()) continue;
    const std::string where = fmt::format("{}: {}", zip.path(), member_name);
    auto bytes = zip.read(member_name);
    columns.push_back(npy_column(parse_npy(bytes->data(), bytes->size(), where), where));
    storage.push_back(std::move(bytes));
  }
  if (!missing.empty()) {
    std::vector<std::string> unused, described, keywords;
    for (size_t m = 0; m < members.size(); ++m)
      if (std::find(member_of.begin(), member_of.end(), members[m]) == member_of.end() &&
          fs::path(members[m]).extension() == ".npy")
        unused.push_back(shown[m]);
    for (const FieldSpec* field : missing) {
      described.push_back(fmt::format("no array '{}' for {} '{}'", field->name,
                                      field->is_label ? "the label" : "the model input", field->name));
      keywords.push_back(field->name + "=...");
    }
    OT_FAIL("{}: {}; the archive holds {}: {}", zip.path(), fmt::join(described, " and "),
            shown.empty() ? "nothing" : list_paths(shown),
            mapping_hint(missing, unused, "ARRAY",
                         fmt::format("save {} with numpy.savez(path, {})", missing.size() == 1 ? "it" : "them",
                                     fmt::join(keywords, ", "))));
  }

  return std::make_unique<ArrayDataset>(split.dir, wanted, std::move(columns), std::move(storage), zip.path(), "npz");
}

}  // namespace onnx_train
