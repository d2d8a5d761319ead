#include "xomni/flow_decoder/config.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <sstream>

#include "xomni/core/tensor/error.h"

namespace xomni::flow_decoder {

namespace {

const char* kChannelMultDoc =
    "UNet width multipliers per resolution level, comma-separated, from full resolution down to "
    "the token grid (log2(pixels_per_token) + 1 levels; a shorter list repeats its last entry)";

const FieldSpec& spec(const std::vector<FieldSpec>& fields, const std::string& key) {
  for (const FieldSpec& f : fields)
    if (f.key == key) return f;
  throw Error("flow_decoder: no setting '" + key + "'");  // unreachable: keys come from fields
}

}  // namespace

std::vector<int64_t> parse_channel_mult(const std::string& text, const std::string& where) {
  std::vector<int64_t> out;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    const auto b = item.find_first_not_of(" \t"), e = item.find_last_not_of(" \t");
    const std::string s = b == std::string::npos ? "" : item.substr(b, e - b + 1);
    size_t used = 0;
    int64_t v = 0;
    try {
      v = std::stoll(s, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    XOMNI_CHECK(!s.empty() && used == s.size() && v > 0 && v <= 64, where,
                ": channel_mult must be comma-separated integers in [1, 64] (e.g. \"1,2,2\"), got "
                "\"",
                text, "\"");
    out.push_back(v);
  }
  XOMNI_CHECK(!out.empty() && (text.empty() || text.back() != ','), where,
              ": channel_mult must be comma-separated integers in [1, 64] (e.g. \"1,2,2\"), got \"",
              text, "\"");
  return out;
}

int64_t Config::levels() const {
  int64_t l = 0;
  while ((int64_t(1) << l) < pixels_per_token) ++l;
  return l;
}

int64_t Config::width(int64_t level) const {
  const size_t i = std::min<size_t>(size_t(level), channel_mult.size() - 1);
  return channels * channel_mult[i];
}

void Config::validate(const std::string& where) const {
  const std::vector<FieldSpec> fields = job_fields();
  auto in_range = [&](const char* key, int64_t v) {
    const std::string problem = spec(fields, key).range_problem(double(v));
    XOMNI_CHECK(problem.empty(), where, ": ", key, " ", problem);
  };
  in_range("code_dim", code_dim);
  in_range("pixels_per_token", pixels_per_token);
  in_range("channels", channels);
  in_range("res_blocks", res_blocks);
  in_range("groups", groups);
  in_range("time_embed_dim", time_embed_dim);
  in_range("steps", steps);
  XOMNI_CHECK((pixels_per_token & (pixels_per_token - 1)) == 0, where,
              ": pixels_per_token must be a power of two (each UNet level halves the resolution "
              "down to the token grid), got ",
              pixels_per_token);
  XOMNI_CHECK(time_embed_dim % 2 == 0, where,
              ": time_embed_dim must be even (sine and cosine halves), got ", time_embed_dim);
  XOMNI_CHECK(!channel_mult.empty(), where, ": channel_mult must list at least one multiplier");
  for (int64_t m : channel_mult)
    XOMNI_CHECK(m >= 1 && m <= 64, where, ": channel_mult entries must be in [1, 64], got ", m);
  XOMNI_CHECK(int64_t(channel_mult.size()) <= levels() + 1, where, ": channel_mult has ",
              channel_mult.size(), " entries but pixels_per_token = ", pixels_per_token,
              " gives only ", levels() + 1,
              " resolution levels (log2(pixels_per_token) + 1); list at most that many");
  for (int64_t l = 0; l <= levels(); ++l)
    XOMNI_CHECK(width(l) % groups == 0, where, ": groups = ", groups,
                " must divide every level's width (channels x channel_mult), but level ", l,
                " has width ", width(l));
}

Config Config::from_json_text(const std::string& text, const std::string& where) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text.empty() ? std::string("{}") : text);
  } catch (const nlohmann::json::exception& e) {
    throw Error(where + ": the flow decoder settings are not JSON: " + e.what());
  }
  XOMNI_CHECK(j.is_object(), where, ": the flow decoder settings are a JSON object, got ",
              j.type_name());
  const std::vector<FieldSpec> fields = job_fields();
  const Schema schema(fields);
  for (const auto& [key, value] : j.items()) {
    if (schema.find(key) != nullptr) continue;
    const std::string near = schema.suggest(key);
    throw Error(where + ": unknown flow decoder setting '" + key + "'" +
                (near.empty() ? std::string() : "; did you mean '" + near + "'?"));
  }
  Config c;
  auto read_int = [&](const char* key, int64_t& field) {
    if (!j.contains(key) || j[key].is_null()) return;
    XOMNI_CHECK(j[key].is_number_integer(), where, ": setting '", key, "' must be an integer, got ",
                j[key].dump());
    field = j[key].get<int64_t>();
  };
  read_int("code_dim", c.code_dim);
  read_int("pixels_per_token", c.pixels_per_token);
  read_int("channels", c.channels);
  read_int("res_blocks", c.res_blocks);
  read_int("groups", c.groups);
  read_int("time_embed_dim", c.time_embed_dim);
  read_int("steps", c.steps);
  if (j.contains("channel_mult") && !j["channel_mult"].is_null()) {
    const nlohmann::json& m = j["channel_mult"];
    if (m.is_string()) {
      c.channel_mult = parse_channel_mult(m.get<std::string>(), where);
    } else {
      XOMNI_CHECK(m.is_array() && !m.empty() &&
                      std::all_of(m.begin(), m.end(),
                                  [](const nlohmann::json& e) { return e.is_number_integer(); }),
                  where,
                  ": channel_mult must be a string of comma-separated integers (\"1,2,2\") or an "
                  "array of integers, got ",
                  m.dump());
      c.channel_mult = m.get<std::vector<int64_t>>();
    }
  }
  if (j.contains("timestep_sampling") && !j["timestep_sampling"].is_null()) {
    XOMNI_CHECK(j["timestep_sampling"].is_string(), where,
                ": setting 'timestep_sampling' must be a string, got ",
                j["timestep_sampling"].dump());
    c.timestep_sampling = parse_timestep_sampling(j["timestep_sampling"].get<std::string>(),
                                                  where + ": timestep_sampling");
  }
  c.validate(where);
  return c;
}

std::vector<FieldSpec> Config::job_fields() {
  return {
      int_field("code_dim", 64, "width of the image tokenizer's code embeddings")
          .at_least(1)
          .at_most(65536),
      int_field("pixels_per_token", 8,
                "image pixels per token along each side (a power of two: the UNet halves the "
                "resolution log2(pixels_per_token) times, down to the token grid)")
          .at_least(1)
          .at_most(1024),
      int_field("channels", 32, "UNet width at full resolution").at_least(1).at_most(4096),
      string_field("channel_mult", "1,2,2", kChannelMultDoc),
      int_field("res_blocks", 1, "residual blocks per resolution level (down and up)")
          .at_least(1)
          .at_most(16),
      int_field("groups", 8, "GroupNorm groups (must divide every level's width)")
          .at_least(1)
          .at_most(1024),
      int_field("time_embed_dim", 128, "timestep embedding width (even)").at_least(2).at_most(8192),
      int_field("steps", 16, "Euler sampler steps of decode() by default")
          .at_least(1)
          .at_most(100000),
      string_field("timestep_sampling", "logit_normal",
                   "training timesteps: \"logit_normal\" (t = sigmoid(n), n ~ N(0, 1), as SD3) "
                   "or \"uniform\" (t ~ U[0, 1))"),
  };
}

}  // namespace xomni::flow_decoder
