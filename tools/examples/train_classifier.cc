// The README's C++ example: fine-tune an exported classifier, evaluate it, checkpoint it
// and export it. Run as `train_classifier MODEL.onnx OUT_DIR`; it feeds a made-up batch of
// the model's input shape (dynamic dimensions 8), labels 0..C-1, so any classifier with a
// float input works.
#include <iostream>
#include <random>

#include "onnx_train/training_session.h"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: train_classifier MODEL.onnx OUT_DIR\n";
    return 2;
  }
  const std::string model = argv[1], out = argv[2];
  try {
    onnx_train::TrainingOptions options;
    options.loss.kind = onnx_train::LossKind::CrossEntropy;  // on the first output; new input "label"
    options.optimizer.kind = "adamw";
    options.learning_rate = 1e-3;
    options.schedule = onnx_train::parse_schedule("cosine:total_steps=20,warmup_steps=2");
    options.clip_grad_norm = 1.0;
    auto trainer = onnx_train::TrainingSession::from_file(model, options);

    // A batch: the model's input (here random) and int64 class labels.
    const onnx_train::TensorSpec& input = trainer.inputs()[0];
    onnx_train::Shape shape = input.shape;
    for (auto& d : shape) d = d < 0 ? 8 : d;
    onnx_train::Tensor x(onnx_train::DType::Float32, shape);
    std::mt19937 rng(0);
    std::normal_distribution<float> normal;
    for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] = normal(rng);
    const int64_t classes = trainer.predict({{input.name, x}})[0].dim(1);
    onnx_train::Tensor label(onnx_train::DType::Int64, {shape[0]});
    for (int64_t i = 0; i < shape[0]; ++i) label.data<int64_t>()[i] = i % classes;

    for (int step = 0; step < 20; ++step) {
      const onnx_train::StepResult r = trainer.train_step({{input.name, x}, {trainer.label_name(), label}});
      std::cout << "step " << r.step << "  loss " << r.loss << "  lr " << r.learning_rate << "\n";
    }
    const onnx_train::EvalResult e = trainer.eval_step({{input.name, x}, {trainer.label_name(), label}});
    std::cout << "eval loss " << e.loss << "\n";
    trainer.save_checkpoint(out + "/run.ckpt");   // parameters, optimizer state, step, schedule, RNG
    trainer.export_model(out + "/trained.onnx");  // the inference model with the trained weights
  } catch (const onnx_train::Error& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
