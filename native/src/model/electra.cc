#include "model/electra.h"

namespace electra {

Head parseHead(const std::string& s) {
  if (s == "none") return Head::None;
  if (s == "discriminator") return Head::Discriminator;
  if (s == "generator") return Head::Generator;
  if (s == "sequence-classification") return Head::SequenceClassification;
  if (s == "token-classification") return Head::TokenClassification;
  if (s == "question-answering") return Head::QuestionAnswering;
  fail("ERR_CONFIG", "unknown head '", s, "'");
}

const char* headName(Head h) {
  switch (h) {
    case Head::None: return "none";
    case Head::Discriminator: return "discriminator";
    case Head::Generator: return "generator";
    case Head::SequenceClassification: return "sequence-classification";
    case Head::TokenClassification: return "token-classification";
    case Head::QuestionAnswering: return "question-answering";
  }
  return "?";
}

bool hasPadding(const torch::Tensor& mask) { return !mask.is_cpu() || !mask.all().item<bool>(); }

torch::Tensor attentionBias(const torch::Tensor& mask, torch::ScalarType dtype, bool padded) {
  if (!padded) return torch::Tensor();
  auto m = mask.to(dtype).view({mask.size(0), 1, 1, mask.size(1)});
  return (1.0 - m) * std::numeric_limits<float>::lowest();
}

ElectraModelImpl::ElectraModelImpl(const Config& c, Embeddings shared) {
  embeddings = register_module("embeddings", shared ? shared : Embeddings(c));
  if (c.embedding_size != c.hidden_size) {
    embeddings_project = register_module("embeddings_project", torch::nn::Linear(c.embedding_size, c.hidden_size));
  }
  encoder = register_module("encoder", Encoder(c));
}

torch::Tensor ElectraModelImpl::forward(const torch::Tensor& ids, const torch::Tensor& types, const torch::Tensor& bias) {
  auto x = embeddings(ids, types);             // (B, T, E)
  if (embeddings_project) x = linear(embeddings_project, x);  // (B, T, H)
  return encoder(x, bias);                     // (B, T, H)
}

ElectraNetImpl::ElectraNetImpl(const Config& c, Head h, Embeddings shared) : cfg(c), head(h) {
  c.validate();
  electra = register_module("electra", ElectraModel(c, shared));
  switch (h) {
    case Head::None: break;
    case Head::Discriminator:
      discriminator_predictions = register_module("discriminator_predictions", DiscriminatorHead(c));
      break;
    case Head::Generator:
      generator_predictions = register_module("generator_predictions", GeneratorHead(c));
      generator_lm_head = register_module("generator_lm_head", TiedLMHead(c, electra->embeddings->word_embeddings));
      break;
    case Head::SequenceClassification:
      sequence_classifier = register_module("classifier", ClassificationHead(c));
      break;
    case Head::TokenClassification:
      token_classifier = register_module("classifier", torch::nn::Linear(c.hidden_size, c.num_labels));
      break;
    case Head::QuestionAnswering:
      qa_outputs = register_module("qa_outputs", torch::nn::Linear(c.hidden_size, 2));
      break;
  }
}

torch::Tensor ElectraNetImpl::generatorLogits(const torch::Tensor& h) {
  return generator_lm_head(generator_predictions(h));
}

Outputs ElectraNetImpl::forward(const torch::Tensor& ids, const torch::Tensor& types, const torch::Tensor& mask, bool withHidden,
                                bool padded) {
  Outputs out;
  auto param = electra->embeddings->word_embeddings->weight;
  auto h = electra(ids, types, attentionBias(mask, param.scalar_type(), padded));  // (B, T, H)
  switch (head) {
    case Head::None: break;
    case Head::Discriminator: out.discriminator = discriminator_predictions(h); break;
    case Head::Generator: out.generator = generatorLogits(h); break;
    case Head::SequenceClassification: out.classification = sequence_classifier(h); break;
    case Head::TokenClassification:
      out.tokens = token_classifier(applyDropout(h, cfg.classifierDropout(), is_training()));
      break;
    case Head::QuestionAnswering: {
      auto l = qa_outputs(h);  // (B, T, 2)
      out.start = l.select(2, 0).contiguous();
      out.end = l.select(2, 1).contiguous();
      break;
    }
  }
  if (withHidden || head == Head::None) out.hidden = h;
  return out;
}

static bool endsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

static bool isVocabParam(const std::string& name) {
  return endsWith(name, "word_embeddings.weight") || endsWith(name, "generator_lm_head.bias");
}

torch::Tensor vocabView(const std::string& name, const torch::Tensor& t, int64_t vocab) {
  return isVocabParam(name) && t.dim() >= 1 && t.size(0) > vocab ? t.narrow(0, 0, vocab) : t;
}

static int64_t logicalVocab(torch::nn::Module& m) {
  auto* net = dynamic_cast<ElectraNetImpl*>(&m);
  return net ? net->cfg.vocab_size : std::numeric_limits<int64_t>::max();
}

void initWeights(torch::nn::Module& m, const Config& c, const std::string& skipPrefix) {
  torch::NoGradGuard ng;
  for (auto& p : m.named_parameters(true)) {
    const auto& name = p.key();
    if (!skipPrefix.empty() && name.rfind(skipPrefix, 0) == 0) continue;
    // Padding rows zero; the others drawn exactly as without padding (same random stream).
    if (isVocabParam(name) && p.value().size(0) > c.vocab_size) p.value().narrow(0, c.vocab_size, p.value().size(0) - c.vocab_size).zero_();
    auto t = vocabView(name, p.value(), c.vocab_size);
    if (endsWith(name, "LayerNorm.weight")) t.fill_(1.0);
    else if (endsWith(name, ".bias")) t.zero_();
    else t.normal_(0.0, c.initializer_range);
    if (endsWith(name, "word_embeddings.weight")) t[c.pad_token_id].zero_();
  }
}

std::vector<std::pair<std::string, torch::Tensor>> namedParameters(torch::nn::Module& m) {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (auto& p : m.named_parameters(true)) out.emplace_back(p.key(), p.value());
  return out;
}

std::vector<std::pair<std::string, torch::Tensor>> hfParameters(torch::nn::Module& m) {
  const int64_t V = logicalVocab(m);
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (auto& p : m.named_parameters(true)) out.emplace_back(p.key(), vocabView(p.key(), p.value(), V));
  return out;
}

void loadParameters(torch::nn::Module& m, const std::vector<std::pair<std::string, torch::Tensor>>& values) {
  torch::NoGradGuard ng;
  const int64_t V = logicalVocab(m);
  auto params = m.named_parameters(true);
  for (auto& [name, v] : values) {
    auto* found = params.find(name);
    check(found != nullptr, "ERR_CHECKPOINT", "unexpected weight '", name, "'");
    auto p = vocabView(name, *found, V);
    check(p.sizes() == v.sizes(), "ERR_CHECKPOINT", "weight '", name, "' has shape ", v.sizes(), ", the model expects ",
          p.sizes());
    p.copy_(v);
  }
}

void checkInputs(const torch::Tensor& ids, const torch::Tensor& types, const torch::Tensor& mask, const Config& c) {
  check(ids.dim() == 2, "ERR_INPUT", "inputIds must be (B, T), got ", ids.sizes());
  check(types.sizes() == ids.sizes(), "ERR_INPUT", "tokenTypeIds shape ", types.sizes(), " differs from inputIds ", ids.sizes());
  check(mask.sizes() == ids.sizes(), "ERR_INPUT", "attentionMask shape ", mask.sizes(), " differs from inputIds ", ids.sizes());
  check(ids.size(1) <= c.max_position_embeddings, "ERR_INPUT", "sequence length ", ids.size(1),
        " exceeds max_position_embeddings ", c.max_position_embeddings);
  check(ids.size(0) > 0 && ids.size(1) > 0, "ERR_INPUT", "empty batch ", ids.sizes());
  if (ids.numel() > 0) {
    auto mn = ids.min().item<int64_t>(), mx = ids.max().item<int64_t>();
    check(mn >= 0 && mx < c.vocab_size, "ERR_INPUT", "token id out of range [0, ", c.vocab_size, "): found ",
          mn < 0 ? mn : mx);
    auto tmn = types.min().item<int64_t>(), tmx = types.max().item<int64_t>();
    check(tmn >= 0 && tmx < c.type_vocab_size, "ERR_INPUT", "token type id out of range [0, ", c.type_vocab_size,
          "): found ", tmn < 0 ? tmn : tmx);
    auto mmn = mask.min().item<int64_t>(), mmx = mask.max().item<int64_t>();
    check(mmn >= 0 && mmx <= 1, "ERR_INPUT", "attentionMask values must be 0 (padding) or 1 (token): found ", mmn < 0 ? mmn : mmx);
  }
}

}  // namespace electra
