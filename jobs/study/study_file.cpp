#include "study/study_file.h"

#include <toml++/toml.h>

#include <algorithm>
#include <filesystem>
#include <sstream>

#include "xomni/core/config/config.h"
#include "xomni/core/tensor/error.h"

namespace xomni::study {
namespace {

namespace fs = std::filesystem;

std::string where(const std::string& source, const toml::source_region& r) {
  if (r.begin.line == 0) return source;
  return source + ":" + std::to_string(r.begin.line);
}

std::string known_list(const std::vector<std::string>& names) {
  std::string s;
  for (const auto& n : names) s += (s.empty() ? "" : ", ") + n;
  return s;
}

// A scalar as the text a command line takes ("3", "0.5", "true", "text").
std::string scalar_text(const toml::node& v, const std::string& at) {
  if (auto s = v.value<std::string>()) return *s;
  if (v.is_integer()) return std::to_string(*v.value<int64_t>());
  if (v.is_floating_point()) {
    std::ostringstream o;
    o << *v.value<double>();
    return o.str();
  }
  if (auto b = v.value<bool>()) return *b ? "true" : "false";
  throw Error(at + ": expected a string, number or boolean");
}

std::vector<std::string> string_list(const toml::node& v, const std::string& at) {
  const toml::array* a = v.as_array();
  XOMNI_CHECK(a, at, ": expected an array of strings");
  std::vector<std::string> out;
  for (const toml::node& e : *a) {
    auto s = e.value<std::string>();
    XOMNI_CHECK(s && e.is_string(), at, ": expected an array of strings");
    out.push_back(*s);
  }
  return out;
}

// Applies one stage table (the stage's own or a scale's) onto `st`.
void apply_stage_table(StageSettings& st, const toml::table& t, const std::string& stage,
                       const std::string& source, const std::string& dir,
                       const std::vector<std::string>& extra_keys) {
  for (const auto& [k, v] : t) {
    const std::string key(k.str());
    const std::string at = where(source, k.source()) + ": " + stage + "." + key;
    if (key == "job") {
      auto s = v.value<std::string>();
      XOMNI_CHECK(s && v.is_string(), at, ": expected a string (a job file)");
      st.job = fs::absolute(fs::path(dir) / *s).lexically_normal().string();
    } else if (key == "set") {
      for (auto& kv : string_list(v, at)) {
        XOMNI_CHECK(kv.find('=') != std::string::npos, at, ": '", kv, "' is not KEY=VALUE");
        st.set.push_back(kv);
      }
    } else if (key == "args") {
      st.args = string_list(v, at);
    } else if (key == "expect_s") {
      auto x = v.value<double>();
      XOMNI_CHECK(x && *x >= 0, at, ": expected a number of seconds >= 0");
      st.expect_s = *x;
    } else if (std::find(extra_keys.begin(), extra_keys.end(), key) != extra_keys.end()) {
      if (v.is_array())
        st.lists[key] = string_list(v, at);
      else
        st.values[key] = scalar_text(v, at);
    } else {
      std::vector<std::string> keys = {"job", "set", "args", "expect_s"};
      keys.insert(keys.end(), extra_keys.begin(), extra_keys.end());
      throw Error(at + ": unknown key (a stage takes: " + known_list(keys) + ")");
    }
  }
}

const toml::table& table_of(const toml::node& v, const std::string& at) {
  const toml::table* t = v.as_table();
  XOMNI_CHECK(t, at, ": expected a table");
  return *t;
}

}  // namespace

const StageSettings& StudyFile::stage(const std::string& stage_name) const {
  auto it = stages.find(stage_name);
  XOMNI_CHECK(it != stages.end(), path, ": has no [", stage_name,
              "] section, which the study needs");
  return it->second;
}

std::string StudyFile::seed_root() const {
  return root + "/seed-" + std::to_string(seed);
}

StudyFile parse_study_file(const std::string& text, const std::string& source,
                           const std::string& dir, const std::vector<std::string>& overrides,
                           const StageKeys& stage_keys) {
  toml::table doc;
  try {
    doc = toml::parse(text, source);
  } catch (const toml::parse_error& e) {
    throw Error(where(source, e.source()) + ": TOML syntax error: " + std::string(e.description()));
  }
  std::vector<std::string> stage_names;
  for (const auto& [name, keys] : stage_keys) stage_names.push_back(name);
  StudyFile f;
  f.path = source;
  f.dir = fs::absolute(dir.empty() ? "." : dir).lexically_normal().string();
  f.name = "study";
  f.scale = "default";
  std::string root = "runs/study";
  const toml::table* scales = nullptr;
  for (const auto& [k, v] : doc) {
    const std::string key(k.str());
    const std::string at = where(source, k.source()) + ": [" + key + "]";
    if (key == "study") {
      for (const auto& [sk, sv] : table_of(v, at)) {
        const std::string s(sk.str());
        const std::string sat = where(source, sk.source()) + ": study." + s;
        if (s == "name")
          f.name = scalar_text(sv, sat);
        else if (s == "root")
          root = scalar_text(sv, sat);
        else if (s == "scale")
          f.scale = scalar_text(sv, sat);
        else if (s == "seed") {
          auto x = sv.value<int64_t>();
          XOMNI_CHECK(sv.is_integer() && x && *x >= 0, sat, ": expected an integer >= 0");
          f.seed = *x;
        } else {
          throw Error(sat + ": unknown key (study takes: name, root, scale, seed)");
        }
      }
    } else if (key == "scales") {
      scales = &table_of(v, at);
    } else if (stage_keys.count(key)) {
      StageSettings st;
      apply_stage_table(st, table_of(v, at), key, source, f.dir, stage_keys.at(key));
      f.stages[key] = std::move(st);
    } else {
      throw Error(at + ": unknown section (the study's sections: study, scales, " +
                  known_list(stage_names) + ")");
    }
  }
  // Command-line overrides of [study] come before the scale is chosen.
  std::vector<std::pair<std::string, std::string>> stage_sets;
  for (const std::string& o : overrides) {
    const size_t eq = o.find('='), dot = o.find('.');
    XOMNI_CHECK(eq != std::string::npos && dot != std::string::npos && dot < eq, "--set ", o,
                ": expected SECTION.KEY=VALUE (study.scale=smoke, or STAGE.KEY=VALUE for a "
                "stage's job)");
    const std::string section = o.substr(0, dot), key = o.substr(dot + 1, eq - dot - 1),
                      value = o.substr(eq + 1);
    if (section == "study") {
      if (key == "name")
        f.name = value;
      else if (key == "root")
        root = fs::absolute(value).string();  // relative to the cwd
      else if (key == "scale")
        f.scale = value;
      else if (key == "seed") {
        char* end = nullptr;
        const long long s = std::strtoll(value.c_str(), &end, 10);
        XOMNI_CHECK(!value.empty() && *end == '\0' && s >= 0, "--set ", o,
                    ": the seed is an integer >= 0");
        f.seed = s;
      } else {
        throw Error("--set " + o + ": unknown key (study takes: name, root, scale, seed)");
      }
    } else {
      XOMNI_CHECK(stage_keys.count(section), "--set ", o, ": unknown stage '", section,
                  "' (the stages: ", known_list(stage_names), ")");
      stage_sets.emplace_back(section, o.substr(dot + 1));
    }
  }
  f.root = fs::path(root).is_absolute()
               ? root
               : fs::absolute(fs::path(f.dir) / root).lexically_normal().string();
  // Every scale's stage names are checked, the unused scales' too: a typo shows at once.
  if (scales)
    for (const auto& [name, table] : *scales)
      for (const auto& [k, v] :
           table_of(table, source + ": [scales." + std::string(name.str()) + "]"))
        XOMNI_CHECK(stage_keys.count(std::string(k.str())), where(source, k.source()), ": [scales.",
                    name.str(), ".", k.str(),
                    "]: unknown stage (the stages: ", known_list(stage_names), ")");
  // "default" needs no [scales.default]: the stages' own settings are the default scale.
  const toml::node* chosen = scales ? scales->get(f.scale) : nullptr;
  if (!chosen) {
    std::vector<std::string> known = {"default"};
    if (scales)
      for (const auto& [k, v] : *scales)
        if (k.str() != "default") known.emplace_back(k.str());
    XOMNI_CHECK(f.scale == "default", source, ": unknown scale '", f.scale,
                "' (the file defines: ", known_list(known), ")");
  } else {
    for (const auto& [k, v] : table_of(*chosen, source + ": [scales." + f.scale + "]")) {
      const std::string stage(k.str());
      const std::string at = where(source, k.source()) + ": [scales." + f.scale + "." + stage + "]";
      apply_stage_table(f.stages[stage], table_of(v, at), stage, source, f.dir,
                        stage_keys.at(stage));
    }
  }
  for (auto& [stage, kv] : stage_sets) f.stages[stage].set.push_back(kv);
  return f;
}

StudyFile read_study_file(const std::string& path, const std::vector<std::string>& overrides,
                          const StageKeys& stage_keys) {
  return parse_study_file(Config::read_text(path), path, Config::folder_of(path), overrides,
                          stage_keys);
}

}  // namespace xomni::study
