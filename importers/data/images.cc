// Image classification folders: SPLIT/<class>/*.png|jpg|jpeg, as torchvision's ImageFolder
// reads them. Class indices follow the sorted folder names of the training split, or the
// classes DataOptions gives (which every other split's folders map to by name). Each sample
// is decoded when read (so memory stays small and the BatchLoader's thread overlaps decoding
// with training), converted to the model input's channel count, resized to its height and
// width, scaled to [0, 1] and normalised: the numbers of torchvision's
//   ToTensor() -> Resize((H, W), InterpolationMode.BILINEAR, antialias=False) -> Normalize(mean, std)
// up to float rounding.
#include <algorithm>
#include <cctype>
#include <cmath>
#include <filesystem>
#include <map>
#include <set>

#include "importers/data/augment.h"
#include "importers/data/formats.h"
#include "importers/data/image_decode.h"
#include "importers/data/image_fields.h"

namespace onnx_train {

namespace fs = std::filesystem;

namespace {

bool has_image_extension(const fs::path& path) {
  const std::string ext = ascii_lower(path.extension().string());
  return ext == ".png" || ext == ".jpg" || ext == ".jpeg";
}

struct ClassFolder {
  std::string name;
  std::string dir;
  std::vector<std::string> images;          // sorted full paths
  int64_t other_files = 0;                  // files with other extensions, ignored
  int64_t direct_images = 0;                // images right in `dir`, not in a sub-folder of it
  std::set<std::string> image_sub_folders;  // its sub-folders that hold images ("a/", "b/")
};

// The images in `dir` and its sub-folders (ImageFolder walks them too). Hidden entries are
// not data, as at the top of the data folder: .ipynb_checkpoints/, macOS's ._x.jpg.
ClassFolder scan_class_folder(const std::string& dir) {
  ClassFolder folder;
  folder.dir = dir;
  folder.name = fs::path(dir).filename().string();
  std::error_code ec;
  for (fs::recursive_directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->path().filename().string().rfind('.', 0) == 0) {
      it.disable_recursion_pending();
      continue;
    }
    if (!it->is_regular_file(ec)) continue;
    if (has_image_extension(it->path())) {
      folder.images.push_back(it->path().string());
      if (it.depth() == 0)
        ++folder.direct_images;
      else
        folder.image_sub_folders.insert(fs::relative(it->path(), dir).begin()->string() + "/");
    } else {
      ++folder.other_files;
    }
  }
  OT_CHECK(!ec, "{}: cannot list the class folder: {}", dir, ec.message());
  std::sort(folder.images.begin(), folder.images.end());
  return folder;
}

// The image as `channels` planes (channels first) of 0..255 values: gray becomes 3 channels
// by replication, colour becomes 1 by luminance L = 0.299 R + 0.587 G + 0.114 B rounded to
// 8 bits exactly as PIL's convert("L"), and alpha is dropped.
std::vector<uint8_t> to_planes(const DecodedImage& image, int64_t channels) {
  const size_t pixels = static_cast<size_t>(image.width * image.height);
  const size_t step = static_cast<size_t>(image.channels);
  const bool colour = image.channels >= 3;
  std::vector<uint8_t> planes(pixels * static_cast<size_t>(channels));
  for (size_t p = 0; p < pixels; ++p) {
    const uint8_t* in = image.pixels.data() + p * step;
    if (channels == 3) {
      for (size_t c = 0; c < 3; ++c) planes[c * pixels + p] = in[colour ? c : 0];
    } else {
      planes[p] = colour ? static_cast<uint8_t>((in[0] * 19595 + in[1] * 38470 + in[2] * 7471 + 0x8000) >> 16) : in[0];
    }
  }
  return planes;
}

// Where output index o samples an axis of `in_size` pixels: PyTorch's bilinear source
// index with align_corners=False, src = max((o + 0.5) * in / out - 0.5, 0) in float, between
// pixels `first` and `second` (the last pixel repeats at the edge).
struct Tap {
  size_t first, second;
  float first_weight, second_weight;
};

std::vector<Tap> bilinear_taps(int64_t in_size, int64_t out_size) {
  const float scale = static_cast<float>(in_size) / static_cast<float>(out_size);
  std::vector<Tap> taps;
  taps.reserve(static_cast<size_t>(out_size));
  for (int64_t o = 0; o < out_size; ++o) {
    const float src = std::max(scale * (static_cast<float>(o) + 0.5f) - 0.5f, 0.0f);
    const int64_t first = std::min(static_cast<int64_t>(src), in_size - 1);
    const int64_t second = std::min(first + 1, in_size - 1);
    const float second_weight = src - static_cast<float>(first);
    taps.push_back({static_cast<size_t>(first), static_cast<size_t>(second), 1.0f - second_weight, second_weight});
  }
  return taps;
}

// Bilinear resize (no antialiasing) of `channels` planes of `in_height` x `in_width` to
// `out_height` x `out_width` float planes of the same 0..255 range.
std::vector<float> resize_bilinear(const std::vector<uint8_t>& planes, int64_t channels, int64_t in_height,
                                   int64_t in_width, int64_t out_height, int64_t out_width) {
  const std::vector<Tap> rows = bilinear_taps(in_height, out_height);
  const std::vector<Tap> cols = bilinear_taps(in_width, out_width);
  const size_t in_plane = static_cast<size_t>(in_height * in_width);
  std::vector<float> out(static_cast<size_t>(channels * out_height * out_width));
  float* o = out.data();
  for (int64_t c = 0; c < channels; ++c) {
    const uint8_t* plane = planes.data() + static_cast<size_t>(c) * in_plane;
    for (const Tap& y : rows) {
      const uint8_t* top = plane + y.first * static_cast<size_t>(in_width);
      const uint8_t* bottom = plane + y.second * static_cast<size_t>(in_width);
      for (const Tap& x : cols) {
        *o++ = y.first_weight * (x.first_weight * top[x.first] + x.second_weight * top[x.second]) +
               y.second_weight * (x.first_weight * bottom[x.first] + x.second_weight * bottom[x.second]);
      }
    }
  }
  return out;
}

struct ImageSample {
  std::string path;
  int64_t label = 0;
};

class ImageFolderDataset : public Dataset {
 public:
  ImageFolderDataset(std::vector<FieldSpec> fields, PictureFields which, PixelScaling scaling,
                     ImageAugmentation augment, std::vector<std::string> class_names, std::vector<ImageSample> samples,
                     std::string dir, int64_t other_files, int64_t folders)
      : fields_(std::move(fields)),
        which_(which),
        scaling_(std::move(scaling)),
        augment_(augment),
        class_names_(std::move(class_names)),
        samples_(std::move(samples)),
        dir_(std::move(dir)),
        other_files_(other_files),
        folders_(folders) {}

  int64_t size() const override { return static_cast<int64_t>(samples_.size()); }
  const std::vector<FieldSpec>& fields() const override { return fields_; }
  std::vector<std::string> class_names() const override { return class_names_; }
  std::string sample_name(int64_t index) const override {
    return index >= 0 && index < size() ? samples_[static_cast<size_t>(index)].path : "";
  }

  void read(size_t field, int64_t index, void* out) const override { read_sample(field, index, nullptr, out); }

  void read_augmented(size_t field, int64_t index, uint64_t draw_seed, void* out) const override {
    read_sample(field, index, augment_.any() ? &draw_seed : nullptr, out);
  }

  std::string source_of(size_t field, int64_t index) const override {
    if (index < 0 || index >= size()) return fmt::format("image folders in {}, sample {}", dir_, index);
    const ImageSample& sample = samples_[static_cast<size_t>(index)];
    if (field == which_.image) return sample.path;
    return fmt::format("{} (class {}, folder '{}')", sample.path, sample.label,
                       class_names_[static_cast<size_t>(sample.label)]);
  }

  std::string describe() const override {
    if (folders_ == 0)
      return fmt::format("{} unlabelled images in {} (PNG/JPEG{})", size(), dir_,
                         other_files_ == 0 ? "" : fmt::format("; {} other files ignored", other_files_));
    const auto classes = static_cast<int64_t>(class_names_.size());
    return fmt::format("{} images in {} class folder{} of {} (PNG/JPEG{}{})", size(), folders_,
                       folders_ == 1 ? "" : "s", dir_,
                       folders_ == classes ? "" : fmt::format("; {} of the {} classes", folders_, classes),
                       other_files_ == 0 ? "" : fmt::format("; {} other files ignored", other_files_));
  }

 private:
  // Sample `index` of `field`, augmented with the draws of `*draw_seed` when given: the crop
  // takes the place of the whole image in the resize, then the flip and the rotation.
  void read_sample(size_t field, int64_t index, const uint64_t* draw_seed, void* out) const {
    OT_CHECK(field < fields_.size() && index >= 0 && index < size(),
             "image folders in {}: no sample {} of field {} (the data has {} samples and {} fields)", dir_, index,
             field, size(), fields_.size());
    const ImageSample& sample = samples_[static_cast<size_t>(index)];
    const FieldSpec& spec = fields_[field];
    auto where = [&] { return source_of(field, index); };
    if (field != which_.image) {
      store_values(&sample.label, 1, spec, PixelScaling{}, out, where);
      return;
    }
    const DecodedImage image = decode_image(sample.path);
    const Shape& shape = spec.sample_shape;  // [C, H, W]
    std::vector<uint8_t> planes = to_planes(image, shape[0]);
    const AugmentDraw draw =
        draw_seed ? draw_augmentation(augment_, *draw_seed, image.height, image.width) : AugmentDraw{};
    CropBox box{0, 0, image.height, image.width};
    if (draw.crop) {
      box = *draw.crop;
      planes = crop_planes(planes, shape[0], image.height, image.width, box);
    }
    std::vector<float> values = resize_bilinear(planes, shape[0], box.height, box.width, shape[1], shape[2]);
    if (draw.flip) flip_horizontal(values, shape[0], shape[1], shape[2]);
    if (draw.degrees != 0) values = rotate_bilinear(values, shape[0], shape[1], shape[2], draw.degrees);
    if (!dtype_is_float(spec.dtype))
      for (float& v : values) v = std::nearbyint(v);  // integer inputs take whole pixel values
    store_values(values.data(), static_cast<int64_t>(values.size()), spec, scaling_, out, where);
  }

  std::vector<FieldSpec> fields_;
  PictureFields which_;
  PixelScaling scaling_;
  ImageAugmentation augment_;  // applied by read_augmented only
  std::vector<std::string> class_names_;
  std::vector<ImageSample> samples_;
  std::string dir_;
  int64_t other_files_;
  int64_t folders_;  // class folders found; fewer than the classes when a split lacks some
};

std::string quoted_list(const std::vector<std::string>& names, size_t shown) {
  std::string out;
  for (size_t i = 0; i < names.size() && i < shown; ++i) out += (i ? ", '" : "'") + names[i] + "'";
  if (names.size() > shown) out += fmt::format(" and {} more", names.size() - shown);
  return out;
}

// The class index of each folder, by name among `options.classes`: a folder that is not one
// of them is an Error naming it, the classes and (when only the case differs) the match.
std::vector<int64_t> map_folders_to_classes(const std::vector<ClassFolder>& folders, const DataOptions& options,
                                            const std::string& split_dir) {
  std::map<std::string, int64_t> index;
  for (size_t c = 0; c < options.classes.size(); ++c) index.emplace(options.classes[c], static_cast<int64_t>(c));
  std::vector<int64_t> out;
  for (const ClassFolder& folder : folders) {
    const auto it = index.find(folder.name);
    if (it != index.end()) {
      out.push_back(it->second);
      continue;
    }
    std::string hint = "rename the folder to the class it holds, or move it out of " + split_dir;
    for (const std::string& name : options.classes)
      if (ascii_lower(name) == ascii_lower(folder.name))
        hint = fmt::format("class names are case-sensitive: rename the folder to '{}'", name);
    OT_FAIL("{}: the class folder '{}' is not one of the {} classes of {} ({}); {}", folder.dir, folder.name,
            options.classes.size(), options.classes_from.empty() ? "the training data" : options.classes_from,
            quoted_list(options.classes, 20), hint);
  }
  return out;
}

// One class folder: one folder level too many (train/images/<class>/) when its sub-folders
// hold the images; say what it holds and the layout expected.
[[noreturn]] void fail_single_class(const ClassFolder& only, const std::string& split_dir) {
  std::string found = fmt::format("all {} images are in one class folder, {}/", only.images.size(), only.dir);
  if (only.direct_images == 0 && only.image_sub_folders.size() > 1) {
    const std::vector<std::string> subs(only.image_sub_folders.begin(), only.image_sub_folders.end());
    found += fmt::format(", whose sub-folders {} look like the classes: one folder level too many; move them up to {}/",
                         fmt::join(subs.begin(), subs.begin() + std::min<size_t>(subs.size(), 5), ", "), split_dir);
  }
  OT_FAIL(
      "{}: {}. Image classification data needs one folder per class (at least two):\n  {}/<class>/*.png (or .jpg), "
      "e.g. {}/cat/1.png, {}/dog/2.png",
      split_dir, found, split_dir, split_dir, split_dir);
}

// The model input images are resized to: samples of [C, H, W], C = 1 or 3, whose open
// height and width (a model exported with dynamic ones) are set to DataOptions' image size;
// a fixed one must equal the size given, if any.
void fit_image_input(FieldSpec& field, const DataOptions& options, const std::string& source) {
  Shape& shape = field.sample_shape;
  OT_CHECK(shape.size() == 3,
           "{}: images feed a model input of shape [N, C, H, W] (channels first), but '{}' takes samples of shape {}; "
           "use a model with such an input, or other data",
           source, field.name, shape_str(shape));
  OT_CHECK(shape[0] == 1 || shape[0] == 3,
           "{}: the model input '{}' takes samples of shape {}; images give 1 (gray) or 3 (RGB) channels, so it needs "
           "C = 1 or 3{}",
           source, field.name, shape_str(shape), shape[0] < 0 ? " (export the model with a fixed channel count)" : "");
  const bool sized = options.image_height > 0 && options.image_width > 0;
  const std::string size_from = options.image_size_from.empty() ? "--image-size" : options.image_size_from;
  OT_CHECK(sized || (shape[1] > 0 && shape[2] > 0),
           "{}: the model input '{}' takes samples of shape {}, with an open height or width (dynamic), so there is "
           "no size to resize the images to; give one with --image-size H,W (e.g. --image-size 224,224), or export "
           "the model with a fixed input size",
           source, field.name, shape_str(shape));
  if (!sized) return;
  OT_CHECK((shape[1] <= 0 || shape[1] == options.image_height) && (shape[2] <= 0 || shape[2] == options.image_width),
           "{}: {} resizes the images to {}x{} (height x width), but the model input '{}' takes samples of shape {}, "
           "fixed at {}x{}; leave the size out, or give {},{}",
           source, size_from, options.image_height, options.image_width, field.name, shape_str(shape),
           shape[1] > 0 ? std::to_string(shape[1]) : "any", shape[2] > 0 ? std::to_string(shape[2]) : "any",
           shape[1] > 0 ? shape[1] : options.image_height, shape[2] > 0 ? shape[2] : options.image_width);
  shape[1] = options.image_height;
  shape[2] = options.image_width;
}

// Pictures right in the split's folder, with no class folders: images without labels, which a
// model's predictions need (`onnx-train predict MODEL photos/`); nullptr when there are none.
std::unique_ptr<Dataset> open_unlabelled_images(const SplitSource& split, const std::vector<FieldSpec>& wanted,
                                                const DataOptions& options) {
  std::vector<ImageSample> samples;
  for (const std::string& file : split.files)
    if (has_image_extension(file)) samples.push_back({file, 0});
  if (samples.empty()) return nullptr;
  const std::string source = "images in " + split.dir;
  const PictureFields which = pick_picture_fields(wanted, source);
  OT_CHECK(!which.label,
           "{}: {} images without class folders carry no class labels; put each in a folder named after its class "
           "({}/<class>/*.png), e.g. {}/cat/1.png",
           source, samples.size(), split.dir, split.dir);
  std::vector<FieldSpec> fields = wanted;
  fit_image_input(fields[which.image], options, source);
  PixelScaling scaling = make_pixel_scaling(255.0, options, fields[which.image], source);
  const auto other_files = static_cast<int64_t>(split.files.size() - samples.size());
  // No augmentation: unlabelled images are only ever predicted on, never trained on.
  return std::make_unique<ImageFolderDataset>(std::move(fields), which, std::move(scaling), ImageAugmentation{},
                                              std::vector<std::string>{}, std::move(samples), split.dir, other_files,
                                              /*folders=*/0);
}

}  // namespace

void check_training_classes(const SplitSource& split, const Dataset& train, const std::vector<FieldSpec>& wanted) {
  const bool labelled = std::any_of(wanted.begin(), wanted.end(), [](const FieldSpec& f) { return f.is_label; });
  if (!labelled || train.class_names().size() != 1) return;
  for (const std::string& dir : split.dirs) {
    const ClassFolder folder = scan_class_folder(dir);
    if (!folder.images.empty()) fail_single_class(folder, split.dir);
  }
}

std::unique_ptr<Dataset> open_image_folders(const SplitSource& split, const std::vector<FieldSpec>& wanted,
                                            const DataOptions& options) {
  std::vector<ClassFolder> folders;
  for (const std::string& dir : split.dirs) folders.push_back(scan_class_folder(dir));
  const bool any_images =
      std::any_of(folders.begin(), folders.end(), [](const ClassFolder& f) { return !f.images.empty(); });
  if (!any_images) return open_unlabelled_images(split, wanted, options);
  std::sort(folders.begin(), folders.end(), [](const ClassFolder& a, const ClassFolder& b) { return a.name < b.name; });

  const std::string source = "image folders in " + split.dir;
  for (const ClassFolder& folder : folders)
    OT_CHECK(!folder.images.empty(),
             "{}: the class folder has no .png, .jpg or .jpeg images{}; every sub-folder of {} is a class, so add its "
             "images or remove the folder",
             folder.dir, folder.other_files == 0 ? "" : fmt::format(" (only {} other files)", folder.other_files),
             split.dir);
  const PictureFields which = pick_picture_fields(wanted, source);

  // The classes: given (the training split's, a model's), which folders map to by name, or
  // this split's own sorted folder names.
  std::vector<std::string> class_names = options.classes;
  std::vector<int64_t> class_of;
  if (class_names.empty()) {
    for (const ClassFolder& folder : folders) {
      class_of.push_back(static_cast<int64_t>(class_names.size()));
      class_names.push_back(folder.name);
    }
  } else {
    class_of = map_folders_to_classes(folders, options, split.dir);
  }
  std::vector<ImageSample> samples;
  int64_t other_files = 0;
  for (size_t i = 0; i < folders.size(); ++i) {
    for (const std::string& path : folders[i].images) samples.push_back({path, class_of[i]});
    other_files += folders[i].other_files;
  }

  std::vector<FieldSpec> fields = wanted;
  FieldSpec& image = fields[which.image];
  fit_image_input(image, options, source);
  if (which.label) {
    FieldSpec& label = fields[*which.label];
    label.sample_shape = resolve_sample_shape(label, {}, source + " (one class index per image)");
    const int64_t classes = static_cast<int64_t>(class_names.size());
    OT_CHECK(label.num_classes <= 0 || classes <= label.num_classes,
             "{}: {} class folders ({}{}), but the model's '{}' takes {} classes; pass --num-classes {} to give the "
             "model a new {}-way head, or use fewer class folders",
             source, classes, fmt::join(class_names.begin(), class_names.begin() + std::min<int64_t>(classes, 5), ", "),
             classes > 5 ? ", ..." : "", label.name, label.num_classes, classes, classes);
  }
  PixelScaling scaling = make_pixel_scaling(255.0, options, image, source);
  return std::make_unique<ImageFolderDataset>(std::move(fields), which, std::move(scaling), options.augment,
                                              std::move(class_names), std::move(samples), split.dir, other_files,
                                              static_cast<int64_t>(folders.size()));
}

}  // namespace onnx_train
