// ElectraLayer (post-LN transformer block) and ElectraEncoder.
#pragma once
#include "model/attention.h"

namespace electra {

struct IntermediateImpl : torch::nn::Module {
  torch::nn::Linear dense{nullptr};
  std::string act;
  explicit IntermediateImpl(const Config& c) : act(c.hidden_act) {
    dense = register_module("dense", torch::nn::Linear(c.hidden_size, c.intermediate_size));
  }
  torch::Tensor forward(const torch::Tensor& x) { return activation(act, linear(dense, x)); }  // (B, T, FFN)
};
TORCH_MODULE(Intermediate);

struct LayerImpl : torch::nn::Module {
  Attention attention{nullptr};
  Intermediate intermediate{nullptr};
  ResidualOutput output{nullptr};
  explicit LayerImpl(const Config& c) {
    attention = register_module("attention", Attention(c));
    intermediate = register_module("intermediate", Intermediate(c));
    output = register_module("output", ResidualOutput(c.intermediate_size, c));
  }
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& bias) {
    auto a = attention(x, bias);        // (B, T, H)
    return output(intermediate(a), a);  // (B, T, H)
  }
};
TORCH_MODULE(Layer);

struct EncoderImpl : torch::nn::Module {
  torch::nn::ModuleList layer;
  std::vector<Layer> layers;
  explicit EncoderImpl(const Config& c) {
    layer = register_module("layer", torch::nn::ModuleList());
    for (int64_t i = 0; i < c.num_hidden_layers; i++) {
      layers.push_back(Layer(c));
      layer->push_back(layers.back());
    }
  }
  torch::Tensor forward(torch::Tensor x, const torch::Tensor& bias) {
    for (auto& l : layers) x = l(x, bias);
    return x;
  }
};
TORCH_MODULE(Encoder);

}  // namespace electra
