// Model prices: the TOML table, the built-in copy of it, and the per-entry cost arithmetic.
// Pure functions over values; any thread may call them.
//
// The arithmetic is ccusage's (packages/internal/src/pricing.ts, calculateCostFromPricing):
// each token category of one entry is priced on its own; when it holds more than 200,000
// tokens and the model has a tier, the first 200,000 are at the base rate and the rest at the
// tier rate. No rounding: costs are summed as doubles and only rounded for display.
// usage.cache_creation's 1-hour part is priced at the 1-hour rate, each part tiered on its own:
// ccusage 20.0.x does the same (scripts/compare-ccusage measures its rates per category).
#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <system_error>

#include <fmt/format.h>
#include <toml++/toml.h>

#include "usage/usage.hpp"

namespace sqtail::usage {

namespace {

constexpr double kPerMillion = 1e-6;

double tiered(std::int64_t tokens, double base, const double* tier) {
  if (tokens <= 0) return 0;
  if (tier != nullptr && tokens > kTierThreshold) {
    return (static_cast<double>(kTierThreshold) * base +
            static_cast<double>(tokens - kTierThreshold) * *tier) *
           kPerMillion;
  }
  return static_cast<double>(tokens) * base * kPerMillion;
}

std::string lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(), [](char c) {
    return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
  });
  return out;
}

double* rateField(Rates& rates, std::string_view key) {
  if (key == "input") return &rates.input;
  if (key == "output") return &rates.output;
  if (key == "cache_write_5m") return &rates.cache_write_5m;
  if (key == "cache_write_1h") return &rates.cache_write_1h;
  if (key == "cache_read") return &rates.cache_read;
  return nullptr;
}

class Loader {
 public:
  explicit Loader(std::string_view origin) : origin_(origin) {}

  tl::expected<Pricing, std::string> load(const toml::table& root) {
    Pricing pricing;
    for (const auto& [key, node] : root) {
      if (key.str() != "models") {
        error(key.source().begin.line,
              fmt::format("unknown key '{}' (expected 'models')", key.str()));
        continue;
      }
      const auto* models = node.as_table();
      if (models == nullptr) {
        error(node.source().begin.line, "key 'models': expected a table of models");
        continue;
      }
      for (const auto& [id, model] : *models) {
        if (auto price = readModel(id.str(), model)) pricing.models.emplace(id.str(), *price);
      }
    }
    if (!errors_.empty()) return tl::make_unexpected(fmt::format("{}", fmt::join(errors_, "\n")));
    return pricing;
  }

 private:
  std::optional<ModelPrice> readModel(std::string_view id, const toml::node& node) {
    const auto* table = node.as_table();
    const std::string prefix = fmt::format("models.\"{}\"", id);
    if (table == nullptr) {
      error(node.source().begin.line, fmt::format("key '{}': expected a table", prefix));
      return std::nullopt;
    }
    ModelPrice price;
    const std::size_t before = errors_.size();
    // Base rates first: a tier rate left out stays at the base rate.
    for (const auto& [key, value] : *table) {
      const std::string name = fmt::format("{}.{}", prefix, key.str());
      if (double* field = rateField(price.base, key.str())) {
        readPrice(value, name, *field);
      } else if (key.str() == "fast_multiplier") {
        readPrice(value, name, price.fast_multiplier);
      } else if (key.str() != "above_200k") {
        unknownKey(key, name);
      }
    }
    if (table->get("input") == nullptr || table->get("output") == nullptr) {
      error(node.source().begin.line,
            fmt::format("key '{}': 'input' and 'output' are required", prefix));
    }
    if (const toml::node* tier_node = table->get("above_200k")) {
      const std::string name = prefix + ".above_200k";
      if (const auto* tier = tier_node->as_table()) {
        Rates rates = price.base;
        for (const auto& [key, value] : *tier) {
          const std::string tier_name = fmt::format("{}.{}", name, key.str());
          if (double* field = rateField(rates, key.str())) {
            readPrice(value, tier_name, *field);
          } else {
            unknownKey(key, tier_name);
          }
        }
        price.above_threshold = rates;
      } else {
        error(tier_node->source().begin.line, fmt::format("key '{}': expected a table", name));
      }
    }
    if (errors_.size() != before) return std::nullopt;
    return price;
  }

  void readPrice(const toml::node& node, std::string_view key, double& out) {
    std::optional<double> value;
    if (const auto* f = node.as_floating_point()) value = f->get();
    if (const auto* i = node.as_integer()) value = static_cast<double>(i->get());
    if (!value) {
      error(node.source().begin.line, fmt::format("key '{}': expected a number", key));
    } else if (*value < 0) {
      error(node.source().begin.line, fmt::format("key '{}': a price cannot be negative", key));
    } else {
      out = *value;
    }
  }

  void unknownKey(const toml::key& key, std::string_view name) {
    error(key.source().begin.line,
          fmt::format("unknown key '{}' (expected one of: input, output, cache_write_5m, "
                      "cache_write_1h, cache_read, above_200k, fast_multiplier)",
                      name));
  }

  void error(std::uint32_t line, std::string text) {
    errors_.push_back(fmt::format("{}:{}: {}", origin_, line, text));
  }

  std::string origin_;
  std::vector<std::string> errors_;
};

ModelPrice price(Rates base, std::optional<Rates> tier = std::nullopt) {
  return ModelPrice{base, tier, 1};
}

}  // namespace

const ModelPrice* Pricing::find(std::string_view model) const {
  if (model.empty()) return nullptr;
  if (auto it = models.find(model); it != models.end()) return &it->second;
  if (auto it = models.find("claude-" + std::string(model)); it != models.end()) {
    return &it->second;
  }
  // ccusage takes the first key of LiteLLM's file either containing the name or contained in
  // it; our table has no meaningful order, so the shortest such key (then the first by name).
  const std::string wanted = lower(model);
  const ModelPrice* best = nullptr;
  std::size_t best_size = 0;
  for (const auto& [id, model_price] : models) {
    const std::string candidate = lower(id);
    if (candidate.find(wanted) == std::string::npos &&
        wanted.find(candidate) == std::string::npos) {
      continue;
    }
    if (best == nullptr || id.size() < best_size) {
      best = &model_price;
      best_size = id.size();
    }
  }
  return best;
}

double cost(const Pricing& pricing, std::string_view model, const Entry& entry, bool fast) {
  const ModelPrice* price = pricing.find(model);
  if (price == nullptr) return 0;
  const Rates& base = price->base;
  const Rates* tier = price->above_threshold ? &*price->above_threshold : nullptr;
  const double total =
      tiered(entry.input, base.input, tier ? &tier->input : nullptr) +
      tiered(entry.output, base.output, tier ? &tier->output : nullptr) +
      tiered(entry.cache_creation_5m, base.cache_write_5m, tier ? &tier->cache_write_5m : nullptr) +
      tiered(entry.cache_creation_1h, base.cache_write_1h, tier ? &tier->cache_write_1h : nullptr) +
      tiered(entry.cache_read, base.cache_read, tier ? &tier->cache_read : nullptr);
  return fast ? total * price->fast_multiplier : total;
}

tl::expected<Pricing, std::string> loadPricingString(std::string_view toml,
                                                     std::string_view origin) {
  toml::table root;
  // toml++ is built with exceptions in Debian; they stop here.
  try {
    root = toml::parse(toml, origin);
  } catch (const toml::parse_error& e) {
    return tl::make_unexpected(fmt::format("{}:{}:{}: {}", origin, e.source().begin.line,
                                           e.source().begin.column, e.description()));
  }
  return Loader{origin}.load(root);
}

tl::expected<Pricing, std::string> loadPricing(const std::filesystem::path& file) {
  std::FILE* stream = std::fopen(file.c_str(), "rb");
  if (stream == nullptr) {
    return tl::make_unexpected(fmt::format("cannot read pricing '{}': {}", file.string(),
                                           std::generic_category().message(errno)));
  }
  std::string text;
  char buffer[16 * 1024];
  std::size_t count = 0;
  while ((count = std::fread(buffer, 1, sizeof buffer, stream)) > 0) text.append(buffer, count);
  std::fclose(stream);
  return loadPricingString(text, file.string());
}

Pricing builtinPricing() {
  // Keep in step with conf/pricing.toml (usage_test compares the two).
  const Rates sonnet{3, 15, 3.75, 6, 0.3};
  const Rates sonnet_long{6, 22.5, 7.5, 12, 0.6};
  const Rates opus4{15, 75, 18.75, 30, 1.5};
  const Rates opus45{5, 25, 6.25, 10, 0.5};
  const Rates haiku35{0.8, 4, 1, 1.6, 0.08};
  const Rates haiku45{1, 5, 1.25, 2, 0.1};
  Pricing pricing;
  pricing.models = {
      {"claude-sonnet-4-20250514", price(sonnet, sonnet_long)},
      {"claude-sonnet-4-5-20250929", price(sonnet, sonnet_long)},
      {"claude-opus-4-20250514", price(opus4)},
      {"claude-opus-4-1-20250805", price(opus4)},
      {"claude-opus-4-5-20251101", price(opus45)},
      {"claude-3-5-haiku-20241022", price(haiku35)},
      {"claude-haiku-4-5-20251001", price(haiku45)},
  };
  return pricing;
}

}  // namespace sqtail::usage
