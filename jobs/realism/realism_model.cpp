#include "realism/realism_model.h"

#include <cmath>

#include "xomni/core/io/checkpoint.h"
#include "xomni/core/io/image_io.h"
#include "xomni/core/tensor/autograd.h"

namespace xomni::realism {

namespace {

Tensor zeros_leaf(int64_t n) {
  Tensor t = Tensor::zeros({n});
  t.set_requires_grad();
  return t;
}

}  // namespace

RealismModel::RealismModel(const RealismModelOptions& options, Generator& gen) : options_(options) {
  check_realism_model(options, "realism model");
  int64_t in = 3;
  for (int64_t i = 0; i < options.levels; ++i) {
    const int64_t out = options.channels << i;
    const std::string p = "levels." + std::to_string(i) + ".";
    Level l;
    l.conv_w = &register_parameter(
        p + "conv.weight",
        nn::normal_parameter({out, in, 3, 3}, 1.0 / std::sqrt(double(in * 9)), gen));
    l.conv_b = &register_parameter(p + "conv.bias", zeros_leaf(out));
    Tensor ones = Tensor::ones({out});
    ones.set_requires_grad();
    l.norm_w = &register_parameter(p + "norm.weight", ones);
    l.norm_b = &register_parameter(p + "norm.bias", zeros_leaf(out));
    levels_.push_back(l);
    in = out;
  }
  head_ = &register_module(
      "head", std::make_unique<nn::Linear>(in, 1, true, gen, 1.0 / std::sqrt(double(in))));
}

Tensor RealismModel::operator()(const Tensor& images) const {
  const int64_t S = options_.image_size;
  XOMNI_CHECK(
      images.dim() == 4 && images.size(1) == 3 && images.size(2) == S && images.size(3) == S,
      "realism model: expects images [B, 3, ", S, ", ", S, "], got ", shape_str(images.shape()));
  Tensor x = add(mul(images, 2.0), -1.0);
  for (const Level& l : levels_) {
    x = conv2d(x, *l.conv_w, *l.conv_b, 1, 1);
    x = silu(group_norm(x, options_.groups, *l.norm_w, *l.norm_b));
    x = avg_pool2d(x, 2);
  }
  const Tensor pooled = mean(x, {2, 3});  // [B, C]
  return reshape((*head_)(pooled), {images.size(0)});
}

Tensor realism_batch(const std::vector<Image>& images, int64_t S) {
  XOMNI_CHECK(!images.empty(), "realism_batch: no images");
  const int64_t B = int64_t(images.size());
  Tensor out = Tensor::empty({B, 3, S, S}, DType::f32);
  float* o = out.data<float>();
  for (int64_t b = 0; b < B; ++b) {
    const Image& src = images[size_t(b)];
    const Image fitted = src.width == S && src.height == S ? src : resize_image(src, S, S);
    for (int64_t c = 0; c < 3; ++c)
      for (int64_t i = 0; i < S * S; ++i)
        o[(b * 3 + c) * S * S + i] = float(fitted.rgb[size_t(3 * i + c)]) / 255.0f;
  }
  return out;
}

Tensor binary_cross_entropy_with_logits(const Tensor& logits, const Tensor& labels) {
  XOMNI_CHECK(logits.dim() == 1 && labels.shape() == logits.shape(),
              "binary_cross_entropy_with_logits: expects logits [B] and labels [B], got ",
              shape_str(logits.shape()), " and ", shape_str(labels.shape()));
  // Column 0 holds log(1 - sigmoid(z)) = log_sigmoid(-z), column 1 log sigmoid(z).
  const Tensor two = log_softmax(stack({mul(logits, 0.0), logits}, 1), 1);  // [B, 2]
  const Tensor y = labels.to(logits.dtype());
  const Tensor per = add(mul(reshape(slice(two, 1, 1, 2), {-1}), y),
                         mul(reshape(slice(two, 1, 0, 1), {-1}), add(neg(y), 1.0)));
  return neg(mean(per));
}

std::unique_ptr<RealismModel> load_realism_model(const std::string& checkpoint) {
  CheckpointReader reader(checkpoint);
  XOMNI_CHECK(reader.has_config(), checkpoint, ": the checkpoint holds no job config");
  const RealismModelOptions o = realism_model_from_saved(reader.config(), checkpoint);
  Generator gen(0);  // every weight is overwritten below
  auto model = std::make_unique<RealismModel>(o, gen);
  NoGradGuard no_grad;
  for (const nn::ParamInfo& p : model->parameter_infos()) {
    const std::string name = std::string("model/") + kScorerPrefix + p.name;
    XOMNI_CHECK(reader.has_tensor(name), checkpoint, ": holds no ", name,
                " (a scorer of another design?)");
    reader.read_into(name, p.tensor);
  }
  return model;
}

}  // namespace xomni::realism
