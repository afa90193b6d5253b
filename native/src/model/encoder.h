// ElectraIntermediate, ElectraLayer (a post-LN transformer block) and ElectraEncoder.
#pragma once
#include "model/attention.h"

namespace electra {

struct IntermediateImpl : torch::nn::Module {
  torch::nn::Linear dense{nullptr};
  std::string intermediate_act_fn;
  explicit IntermediateImpl(const Config& c) : intermediate_act_fn(c.hidden_act) {
    dense = register_module("dense", torch::nn::Linear(c.hidden_size, c.intermediate_size));
  }

  // hidden_states (B, T, H) -> (B, T, I)
  torch::Tensor forward(const torch::Tensor& hidden_states) {
    auto x = linear(dense, hidden_states);
    return activation(intermediate_act_fn, x);
  }
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

  // hidden_states (B, T, H) -> (B, T, H)
  torch::Tensor forward(const torch::Tensor& hidden_states, const torch::Tensor& attention_mask) {
    auto attention_output = attention(hidden_states, attention_mask);  // (B, T, H)
    auto intermediate_output = intermediate(attention_output);         // (B, T, I)
    return output(intermediate_output, attention_output);              // (B, T, H)
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

  // hidden_states (B, T, H) -> (B, T, H)
  torch::Tensor forward(torch::Tensor hidden_states, const torch::Tensor& attention_mask) {
    for (auto& layer_module : layers) hidden_states = layer_module(hidden_states, attention_mask);
    return hidden_states;
  }
};
TORCH_MODULE(Encoder);

}  // namespace electra
