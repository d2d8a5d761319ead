// TOML job configuration checked against a schema (TOML++ stays inside this file).
#include "xomni/core/config/config.h"

#include <toml++/toml.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "xomni/core/tensor/error.h"

namespace xomni {

struct Config::Impl {
  Schema schema;
  std::string source;
  std::map<std::string, FieldValue, std::less<>> values;  // every schema key
  std::set<std::string, std::less<>> set_keys;            // given by the file or an override
  std::string rendered;
};

namespace {

std::string node_type_name(const toml::node& n) {
  switch (n.type()) {
    case toml::node_type::table:
      return "table";
    case toml::node_type::array: {
      const toml::array& a = *n.as_array();
      if (a.empty()) return "empty array";
      for (size_t i = 0; i < a.size(); ++i)
        if (!a[i].is_string())
          return "array whose element " + std::to_string(i) + " is " + node_type_name(a[i]);
      return "list of strings";
    }
    case toml::node_type::string:
      return "string";
    case toml::node_type::integer:
      return "int";
    case toml::node_type::floating_point:
      return "float";
    case toml::node_type::boolean:
      return "bool";
    case toml::node_type::date:
      return "date";
    case toml::node_type::time:
      return "time";
    case toml::node_type::date_time:
      return "date-time";
    default:
      return "nothing";
  }
}

std::string where(const std::string& source, const toml::source_region& r) {
  if (r.begin.line == 0) return source;
  return source + ":" + std::to_string(r.begin.line) + ":" + std::to_string(r.begin.column);
}

std::string render(const toml::table& t) {
  toml::table block = t;  // an inline table ({a = 1}) is written as a block so it parses alone
  block.is_inline(false);
  std::ostringstream os;
  os << toml::toml_formatter{block};
  return os.str();
}

// Checks `n` against the field's type and converts it; `at` prefixes the error.
FieldValue read_value(const FieldSpec& f, const toml::node& n, const std::string& at) {
  FieldValue v;
  bool ok = false;
  switch (f.type) {
    case FieldType::integer:
      if (auto x = n.as_integer()) v.i = x->get(), ok = true;
      break;
    case FieldType::floating:
      if (auto x = n.as_floating_point()) v.f = x->get(), ok = true;
      if (auto x = n.as_integer()) v.f = double(x->get()), ok = true;
      break;
    case FieldType::boolean:
      if (auto x = n.as_boolean()) v.b = x->get(), ok = true;
      break;
    case FieldType::string:
      if (auto x = n.as_string()) v.text = x->get(), ok = true;
      break;
    case FieldType::string_list:
      if (auto a = n.as_array()) {
        ok = true;
        for (const toml::node& e : *a) {
          if (!e.is_string()) {
            ok = false;
            break;
          }
          v.list.push_back(e.as_string()->get());
        }
      }
      break;
    case FieldType::table:
      if (auto t = n.as_table()) v.text = render(*t), ok = true;
      break;
  }
  if (!ok)
    throw Error(at + ": '" + f.key + "' has the wrong type: expected " + field_type_name(f.type) +
                ", found " + node_type_name(n));
  if (f.type == FieldType::integer || f.type == FieldType::floating) {
    const std::string why = f.range_problem(f.type == FieldType::integer ? double(v.i) : v.f);
    if (!why.empty()) throw Error(at + ": '" + f.key + "' " + why);
  }
  return v;
}

std::unique_ptr<toml::node> to_node(const FieldSpec& f, const FieldValue& v) {
  switch (f.type) {
    case FieldType::integer:
      return std::make_unique<toml::value<int64_t>>(v.i);
    case FieldType::floating:
      return std::make_unique<toml::value<double>>(v.f);
    case FieldType::boolean:
      return std::make_unique<toml::value<bool>>(v.b);
    case FieldType::string:
      return std::make_unique<toml::value<std::string>>(v.text);
    case FieldType::string_list: {
      auto a = std::make_unique<toml::array>();
      for (const std::string& s : v.list) a->push_back(s);
      return a;
    }
    case FieldType::table:
      return std::make_unique<toml::table>(toml::parse(v.text, "<table " + f.key + ">"));
  }
  throw Error("config: invalid field type for '" + f.key + "'");
}

std::vector<std::string> split_key(std::string_view key) {
  std::vector<std::string> parts;
  size_t start = 0;
  for (size_t dot; (dot = key.find('.', start)) != std::string_view::npos; start = dot + 1)
    parts.emplace_back(key.substr(start, dot - start));
  parts.emplace_back(key.substr(start));
  return parts;
}

std::string unknown_key_message(const Schema& schema, const std::string& key) {
  std::string msg = "unknown key '" + key + "'";
  const std::string near = schema.suggest(key);
  if (!near.empty()) return msg + "; did you mean '" + near + "'?";
  // No close match: list what the enclosing section allows.
  const size_t dot = key.rfind('.');
  const std::string parent = dot == std::string::npos ? "" : key.substr(0, dot);
  std::set<std::string> names;
  for (const FieldSpec& f : schema.fields()) {
    if (!parent.empty() && f.key.rfind(parent + ".", 0) != 0) continue;
    const std::string rest = parent.empty() ? f.key : f.key.substr(parent.size() + 1);
    names.insert(rest.substr(0, rest.find('.')));
  }
  if (names.empty()) return msg;
  msg += parent.empty() ? "; valid top-level keys:" : "; valid keys in [" + parent + "]:";
  for (const std::string& n : names) msg += " " + n;
  return msg;
}

// TOML text of one scalar or list value; floats in the shortest form that reads back exactly.
std::string toml_string(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\r':
        out += "\\r";
        break;
      default:
        if (c < 0x20 || c == 0x7f) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", unsigned(c));
          out += buf;
        } else {
          out += char(c);
        }
    }
  }
  return out + "\"";
}

std::string toml_value_text(const FieldSpec& f, const FieldValue& v) {
  switch (f.type) {
    case FieldType::integer:
      return std::to_string(v.i);
    case FieldType::floating: {
      if (std::isnan(v.f)) return "nan";
      if (std::isinf(v.f)) return v.f > 0 ? "inf" : "-inf";
      char buf[64];
      auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v.f);
      std::string s(buf, end);
      if (s.find_first_of(".e") == std::string::npos) s += ".0";
      return s;
    }
    case FieldType::boolean:
      return v.b ? "true" : "false";
    case FieldType::string:
      return toml_string(v.text);
    case FieldType::string_list: {
      std::string s = "[";
      for (size_t i = 0; i < v.list.size(); ++i) s += (i ? ", " : "") + toml_string(v.list[i]);
      return s + "]";
    }
    case FieldType::table:
      break;
  }
  throw Error("config: '" + f.key + "' is not a scalar field");
}

// Every non-table field, section by section in schema order with its doc as a comment, then the
// free-form tables (rendered by TOML++ so nested tables get their full headers).
std::string render_effective(const Schema& schema,
                             const std::map<std::string, FieldValue, std::less<>>& values,
                             const toml::table& tables) {
  std::vector<std::string> sections = {""};
  std::map<std::string, std::string> body;
  for (const FieldSpec& f : schema.fields()) {
    if (f.type == FieldType::table) continue;
    const size_t dot = f.key.rfind('.');
    const std::string sec = dot == std::string::npos ? "" : f.key.substr(0, dot);
    if (std::find(sections.begin(), sections.end(), sec) == sections.end()) sections.push_back(sec);
    std::string& b = body[sec];
    b += f.key.substr(dot == std::string::npos ? 0 : dot + 1) + " = " +
         toml_value_text(f, values.find(f.key)->second);
    if (!f.doc.empty()) b += "  # " + f.doc;
    b += "\n";
  }
  std::string out;
  for (const std::string& sec : sections) {
    if (!body.count(sec)) continue;
    if (!sec.empty()) out += (out.empty() ? "[" : "\n[") + sec + "]\n";
    out += body[sec];
  }
  if (!tables.empty()) {
    std::ostringstream os;
    os << toml::toml_formatter{tables};
    if (!out.empty()) out += "\n";
    out += os.str();
    if (out.back() != '\n') out += '\n';
  }
  return out;
}

class Builder {
 public:
  Builder(const Schema& schema, std::string source, std::string base_dir)
      : schema_(schema), source_(std::move(source)), base_dir_(std::move(base_dir)) {}

  void walk(const toml::table& t, const std::string& prefix) {
    for (auto&& [k, v] : t) {
      const std::string path =
          prefix.empty() ? std::string(k.str()) : prefix + "." + std::string(k.str());
      const toml::source_region& r = k.source().begin.line ? k.source() : v.source();
      if (const FieldSpec* f = schema_.find(path)) {
        values_[path] = read_value(*f, v, where(source_, r));
        values_[path].text = resolve_path(values_[path].text, base_dir_, f->path_kind);
        set_keys_.insert(path);
      } else if (schema_.is_section(path)) {
        if (!v.is_table())
          throw Error(where(source_, r) + ": '" + path +
                      "' has the wrong type: expected table, found " + node_type_name(v));
        sections_[path] = v.source();
        walk(*v.as_table(), path);
      } else {
        throw Error(where(source_, r) + ": " + unknown_key_message(schema_, path));
      }
    }
  }

  void apply_override(const std::string& item) {
    const std::string at = "--set " + item;
    const size_t eq = item.find('=');
    if (eq == std::string::npos)
      throw Error(at + ": expected key=value (e.g. --set optimizer.learning_rate=3e-4)");
    auto trim = [](std::string s) {
      const size_t b = s.find_first_not_of(" \t"), e = s.find_last_not_of(" \t");
      return b == std::string::npos ? std::string() : s.substr(b, e - b + 1);
    };
    const std::string key = trim(item.substr(0, eq));
    const std::string text = trim(item.substr(eq + 1));
    const FieldSpec* f = schema_.find(key);
    if (!f) {
      for (const FieldSpec& g : schema_.fields())
        if (g.type == FieldType::table && key.rfind(g.key + ".", 0) == 0)
          throw Error(at + ": '" + g.key +
                      "' is a free-form table; override it whole, e.g. --set " + g.key + "={...}");
      throw Error(at + ": " + unknown_key_message(schema_, key));
    }
    toml::table doc;
    try {
      doc = toml::parse("v = " + text, "--set " + key);
    } catch (const toml::parse_error& e) {
      if (f->type == FieldType::string) {  // unquoted text for a string field
        values_[key].text = text;
        set_keys_.insert(key);
        return;
      }
      throw Error(at + ": cannot parse '" + text + "' as a TOML value (" +
                  std::string(e.description()) + "); expected " + field_type_name(f->type));
    }
    values_[key] = read_value(*f, *doc.get("v"), at);
    set_keys_.insert(key);
  }

  std::shared_ptr<const Config::Impl> finish() {
    auto impl = std::make_shared<Config::Impl>();
    toml::table tables;
    for (const FieldSpec& f : schema_.fields()) {
      auto it = values_.find(f.key);
      if (it == values_.end()) {
        if (f.required) {
          const size_t dot = f.key.rfind('.');
          auto sec =
              dot == std::string::npos ? sections_.end() : sections_.find(f.key.substr(0, dot));
          const std::string at = sec != sections_.end() ? where(source_, sec->second) : source_;
          throw Error(at + ": missing required key '" + f.key + "'" +
                      (f.doc.empty() ? "" : " (" + f.doc + ")"));
        }
        it = values_.emplace(f.key, f.default_value).first;
      }
      if (f.type != FieldType::table) continue;
      // Free-form tables are written by TOML++ at their full path.
      const std::vector<std::string> parts = split_key(f.key);
      toml::table* t = &tables;
      for (size_t i = 0; i + 1 < parts.size(); ++i) {
        auto [pos, inserted] = t->insert(parts[i], toml::table{});
        t = pos->second.as_table();
      }
      t->insert_or_assign(parts.back(), *to_node(f, it->second));
    }
    impl->schema = schema_;
    impl->source = source_;
    impl->values = std::move(values_);
    impl->set_keys = std::move(set_keys_);
    impl->rendered = render_effective(schema_, impl->values, tables);
    return impl;
  }

 private:
  const Schema& schema_;
  std::string source_;
  std::string base_dir_;  // what relative paths in the file are relative to ("": left as given)
  std::map<std::string, FieldValue, std::less<>> values_;
  std::set<std::string, std::less<>> set_keys_;
  std::map<std::string, toml::source_region> sections_;
};

}  // namespace

const char* field_type_name(FieldType t) {
  switch (t) {
    case FieldType::integer:
      return "int";
    case FieldType::floating:
      return "float";
    case FieldType::boolean:
      return "bool";
    case FieldType::string:
      return "string";
    case FieldType::string_list:
      return "list of strings";
    case FieldType::table:
      return "table";
  }
  return "?";
}

Config Config::parse(std::string_view text, const std::string& source, const Schema& schema,
                     const std::vector<std::string>& overrides, const std::string& base_dir) {
  toml::table doc;
  try {
    doc = toml::parse(text, source);
  } catch (const toml::parse_error& e) {
    throw Error(where(source, e.source()) + ": TOML syntax error: " + std::string(e.description()));
  }
  Builder b(schema, source, base_dir);
  b.walk(doc, "");
  for (const std::string& o : overrides) b.apply_override(o);
  return Config(b.finish());
}

std::string Config::read_text(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec))
    throw Error("config: '" + path + "' is a directory; give the job file (a .toml file) in it");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("config: cannot open '" + path + "'");
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

Config Config::load(const std::string& path, const Schema& schema,
                    const std::vector<std::string>& overrides) {
  return parse(read_text(path), path, schema, overrides, folder_of(path));
}

std::string Config::folder_of(const std::string& path) {
  const std::string parent = std::filesystem::path(path).parent_path().string();
  return parent.empty() ? "." : parent;
}

std::string Config::peek_string(std::string_view text, const std::string& source,
                                const std::string& key, const std::vector<std::string>& overrides,
                                const std::string& fallback) {
  for (auto o = overrides.rbegin(); o != overrides.rend(); ++o) {
    if (o->rfind(key + "=", 0) != 0) continue;
    const std::string value = o->substr(key.size() + 1);
    try {  // a TOML string, or the unquoted text a string field also takes
      const toml::table v = toml::parse("v = " + value, "--set " + key);
      if (const auto s = v["v"].value<std::string>()) return *s;
    } catch (const toml::parse_error&) {
    }
    return value;
  }
  toml::table doc;
  try {
    doc = toml::parse(text, source);
  } catch (const toml::parse_error& e) {
    throw Error(where(source, e.source()) + ": TOML syntax error: " + std::string(e.description()));
  }
  const toml::node_view<toml::node> node = doc.at_path(key);
  if (!node) return fallback;
  const auto s = node.value<std::string>();
  XOMNI_CHECK(s.has_value(), where(source, node.node()->source()), ": '", key,
              "' has the wrong type: expected string, found ", node_type_name(*node.node()));
  return *s;
}

std::optional<int64_t> Config::peek_saved_int(std::string_view text, const std::string& key) {
  try {
    const toml::table doc = toml::parse(text, std::string_view("<saved config>"));
    return doc.at_path(key).value<int64_t>();
  } catch (const toml::parse_error&) {
    return std::nullopt;
  }
}

namespace {
const FieldValue& lookup(const Config::Impl& impl, std::string_view key, FieldType want) {
  const FieldSpec* f = impl.schema.find(key);
  if (!f)
    throw Error("config (" + impl.source +
                "): " + unknown_key_message(impl.schema, std::string(key)));
  if (f->type != want)
    throw Error("config (" + impl.source + "): '" + std::string(key) + "' is a " +
                field_type_name(f->type) + " field, read as " + field_type_name(want));
  return impl.values.find(key)->second;
}
}  // namespace

int64_t Config::get_int(std::string_view key) const {
  return lookup(*impl_, key, FieldType::integer).i;
}
double Config::get_float(std::string_view key) const {
  return lookup(*impl_, key, FieldType::floating).f;
}
bool Config::get_bool(std::string_view key) const {
  return lookup(*impl_, key, FieldType::boolean).b;
}
std::string Config::get_string(std::string_view key) const {
  return lookup(*impl_, key, FieldType::string).text;
}
std::vector<std::string> Config::get_strings(std::string_view key) const {
  return lookup(*impl_, key, FieldType::string_list).list;
}
std::string Config::get_table(std::string_view key) const {
  return lookup(*impl_, key, FieldType::table).text;
}
bool Config::is_set(std::string_view key) const {
  if (!impl_->schema.find(key))
    throw Error("config (" + impl_->source +
                "): " + unknown_key_message(impl_->schema, std::string(key)));
  return impl_->set_keys.count(key) > 0;
}
std::string Config::to_toml() const {
  return impl_->rendered;
}
const Schema& Config::schema() const {
  return impl_->schema;
}
const std::string& Config::source() const {
  return impl_->source;
}

}  // namespace xomni
