// Loading a Hugging Face tokenizer.json into Tokenizer::Impl: the model (vocabulary, merges,
// added tokens), the normalizer and pre-tokenizer pipeline, with errors that name the key.
#include "tokenizer_internal.h"

namespace xomni::bpe {

void Tokenizer::Impl::parse_normalizer(const json& n, const std::string& where) {
  if (n.is_null()) return;
  const std::string type = get_string(n, "type", where, origin);
  if (type == "Sequence") {
    const json& list = get_key(n, "normalizers", where, origin);
    XOMNI_CHECK(list.is_array(), origin, ": ", where, ".normalizers must be an array");
    for (size_t i = 0; i < list.size(); ++i)
      parse_normalizer(list[i], detail::concat(where, ".normalizers[", i, "]"));
  } else if (type == "NFC") {
    norms.push_back(NormForm::NFC);
  } else if (type == "NFD") {
    norms.push_back(NormForm::NFD);
  } else if (type == "NFKC") {
    norms.push_back(NormForm::NFKC);
  } else if (type == "NFKD") {
    norms.push_back(NormForm::NFKD);
  } else {
    throw Error(detail::concat(origin, ": ", where, ".type '", type,
                               "' is not supported (NFC, NFD, NFKC, NFKD, Sequence)"));
  }
}

void Tokenizer::Impl::parse_pre_tokenizer(const json& p, const std::string& where,
                                          bool& have_byte_level) {
  if (p.is_null()) return;
  const std::string type = get_string(p, "type", where, origin);
  if (type == "Sequence") {
    const json& list = get_key(p, "pretokenizers", where, origin);
    XOMNI_CHECK(list.is_array(), origin, ": ", where, ".pretokenizers must be an array");
    for (size_t i = 0; i < list.size(); ++i)
      parse_pre_tokenizer(list[i], detail::concat(where, ".pretokenizers[", i, "]"),
                          have_byte_level);
  } else if (type == "Split") {
    XOMNI_CHECK(!have_byte_level, origin, ": ", where,
                ": a Split after the ByteLevel step is not supported");
    const std::string behavior = get_string(p, "behavior", where, origin);
    XOMNI_CHECK(behavior == "Isolated", origin, ": ", where, ".behavior '", behavior,
                "' is not supported (only Isolated)");
    XOMNI_CHECK(!get_bool(p, "invert", false), origin, ": ", where,
                ".invert=true is not supported");
    const json& pat = get_key(p, "pattern", where, origin);
    if (pat.is_object() && pat.contains("Regex") && pat["Regex"].is_string()) {
      splits.push_back(
          compile_regex(pat["Regex"].get<std::string>(), false, where + ".pattern.Regex", origin));
    } else if (pat.is_object() && pat.contains("String") && pat["String"].is_string()) {
      splits.push_back(
          compile_regex(pat["String"].get<std::string>(), true, where + ".pattern.String", origin));
    } else {
      throw Error(detail::concat(origin, ": ", where,
                                 ".pattern must be {\"Regex\": ...} or {\"String\": ...}"));
    }
  } else if (type == "ByteLevel") {
    XOMNI_CHECK(!get_bool(p, "add_prefix_space", false), origin, ": ", where,
                ".add_prefix_space=true is not supported");
    if (get_bool(p, "use_regex", true))
      splits.push_back(compile_regex(kGpt2Pattern, false, where + " (GPT-2 regex)", origin));
    have_byte_level = true;
  } else {
    throw Error(detail::concat(origin, ": ", where, ".type '", type,
                               "' is not supported (Sequence, Split, ByteLevel)"));
  }
}

void Tokenizer::Impl::load(const json& root) {
  XOMNI_CHECK(root.is_object(), origin, ": the top level must be a JSON object");
  // Model.
  const json& model = get_key(root, "model", "", origin);
  XOMNI_CHECK(model.is_object(), origin, ": model must be an object");
  if (model.contains("type")) {
    const std::string type = get_string(model, "type", "model", origin);
    XOMNI_CHECK(type == "BPE", origin, ": model.type '", type, "' is not supported (only BPE)");
  }
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    auto it = model.find(key);
    XOMNI_CHECK(
        it == model.end() || it->is_null() || (it->is_string() && it->get<std::string>().empty()),
        origin, ": model.", key, " must be empty (not supported)");
  }
  if (auto it = model.find("dropout"); it != model.end() && !it->is_null())
    XOMNI_CHECK(it->is_number() && it->get<double>() == 0.0, origin,
                ": model.dropout is not supported");
  ignore_merges = get_bool(model, "ignore_merges", false);

  const json& vocab_json = get_key(model, "vocab", "model", origin);
  XOMNI_CHECK(vocab_json.is_object(), origin, ": model.vocab must be an object {token: id}");
  auto ensure_id = [&](int64_t id, const std::string& where) {
    XOMNI_CHECK(id >= 0 && id < (int64_t{1} << 30), origin, ": ", where, ": id ", id,
                " is out of range");
    if (static_cast<size_t>(id) >= id_kind.size()) {
      id_kind.resize(id + 1, 0);
      id_token.resize(id + 1);
      id_bytes.resize(id + 1);
    }
  };
  const ByteTables& bt = byte_tables();
  vocab.reserve(vocab_json.size());
  id_kind.reserve(vocab_json.size() + 1024);
  id_token.reserve(vocab_json.size() + 1024);
  id_bytes.reserve(vocab_json.size() + 1024);
  for (auto it = vocab_json.begin(); it != vocab_json.end(); ++it) {
    auto where = [&] { return "model.vocab[\"" + it.key() + "\"]"; };
    XOMNI_CHECK(it->is_number_integer(), origin, ": ", where(), " must be an integer id");
    const int64_t id = it->get<int64_t>();
    if (id < 0 || static_cast<size_t>(id) >= id_kind.size()) ensure_id(id, where());
    XOMNI_CHECK(id_kind[id] == 0, origin, ": ", where(), ": id ", id, " is used twice");
    id_kind[id] = 1;
    id_token[id] = it.key();
    vocab.emplace(it.key(), static_cast<int32_t>(id));
    // The bytes this token stands for (a token outside the byte alphabet decodes as itself).
    std::string bytes;
    std::string_view s = it.key();
    size_t i = 0;
    bool ok = true;
    while (i < s.size()) {
      const size_t n = utf8_seq_len(s, i);
      if (n == 0) {
        ok = false;
        break;
      }
      const char32_t cp = next_cp(s, i);
      if (cp >= bt.to_byte.size() || bt.to_byte[cp] < 0) {
        ok = false;
        break;
      }
      bytes += static_cast<char>(bt.to_byte[cp]);
    }
    id_bytes[id] = ok ? bytes : it.key();
  }
  for (int b = 0; b < 256; ++b) {
    auto it = vocab.find(bt.to_utf8[b]);
    XOMNI_CHECK(it != vocab.end(), origin, ": model.vocab lacks the byte-level symbol '",
                bt.to_utf8[b], "' of byte ", b);
    byte_id[b] = it->second;
  }

  const json& merges_json = get_key(model, "merges", "model", origin);
  XOMNI_CHECK(merges_json.is_array(), origin, ": model.merges must be an array");
  merge_list.reserve(merges_json.size());
  merges.reserve(merges_json.size() * 2);
  for (size_t r = 0; r < merges_json.size(); ++r) {
    const json& m = merges_json[r];
    auto where = [r] { return detail::concat("model.merges[", r, "]"); };
    std::string a, b;
    if (m.is_string()) {
      const std::string s = m.get<std::string>();
      const size_t sp = s.find(' ');
      XOMNI_CHECK(sp != std::string::npos && sp > 0 && sp + 1 < s.size() &&
                      s.find(' ', sp + 1) == std::string::npos,
                  origin, ": ", where(), " = \"", s,
                  "\" must be two tokens separated by one space");
      a = s.substr(0, sp);
      b = s.substr(sp + 1);
    } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
      a = m[0].get<std::string>();
      b = m[1].get<std::string>();
    } else {
      throw Error(detail::concat(origin, ": ", where(), " must be \"a b\" or [\"a\", \"b\"]"));
    }
    auto ia = vocab.find(a), ib = vocab.find(b), ic = vocab.find(a + b);
    XOMNI_CHECK(ia != vocab.end(), origin, ": ", where(), ": token '", a,
                "' is not in model.vocab");
    XOMNI_CHECK(ib != vocab.end(), origin, ": ", where(), ": token '", b,
                "' is not in model.vocab");
    XOMNI_CHECK(ic != vocab.end(), origin, ": ", where(), ": merged token '", a + b,
                "' is not in model.vocab");
    // The first (lowest rank) occurrence of a pair wins, as in Hugging Face tokenizers.
    merges.emplace(pair_key(ia->second, ib->second),
                   MergeInfo{static_cast<int32_t>(r), ic->second});
    merge_list.emplace_back(std::move(a), std::move(b));
  }

  // Added tokens.
  if (auto it = root.find("added_tokens"); it != root.end() && !it->is_null()) {
    XOMNI_CHECK(it->is_array(), origin, ": added_tokens must be an array");
    for (size_t i = 0; i < it->size(); ++i) {
      const json& t = (*it)[i];
      const std::string where = detail::concat("added_tokens[", i, "]");
      const json& idj = get_key(t, "id", where, origin);
      XOMNI_CHECK(idj.is_number_integer(), origin, ": ", where, ".id must be an integer");
      AddedToken a;
      a.id = static_cast<int32_t>(idj.get<int64_t>());
      a.content = get_string(t, "content", where, origin);
      XOMNI_CHECK(!a.content.empty(), origin, ": ", where, ".content is empty");
      check_utf8(a.content, (origin + ": " + where + ".content").c_str());
      a.special = get_bool(t, "special", false);
      a.single_word = get_bool(t, "single_word", false);
      a.lstrip = get_bool(t, "lstrip", false);
      a.rstrip = get_bool(t, "rstrip", false);
      a.normalized = get_bool(t, "normalized", !a.special);
      ensure_id(idj.get<int64_t>(), where + ".id");
      // An added token may repeat a vocabulary entry with the same content.
      XOMNI_CHECK(id_kind[a.id] == 0 || (id_kind[a.id] == 1 && id_token[a.id] == a.content), origin,
                  ": ", where, ": id ", a.id, " is already used by '", id_token[a.id], "'");
      XOMNI_CHECK(!added_by_content.contains(a.content), origin, ": ", where, ": content '",
                  a.content, "' appears twice");
      id_kind[a.id] = a.special ? 3 : 2;
      id_token[a.id] = a.content;
      id_bytes[a.id] = a.content;
      added_by_content.emplace(a.content, a.id);
      added.push_back(std::move(a));
    }
  }
  for (size_t i = 0; i < added.size(); ++i)
    added_by_first[static_cast<unsigned char>(added[i].content[0])].push_back(
        static_cast<int32_t>(i));
  for (auto& list : added_by_first)
    std::stable_sort(list.begin(), list.end(), [&](int32_t x, int32_t y) {
      return added[x].content.size() > added[y].content.size();
    });

  // Pipeline.
  if (auto it = root.find("normalizer"); it != root.end()) {
    normalizer_json = *it;
    parse_normalizer(*it, "normalizer");
  }
  bool have_byte_level = false;
  if (auto it = root.find("pre_tokenizer"); it != root.end()) {
    pre_tokenizer_json = *it;
    parse_pre_tokenizer(*it, "pre_tokenizer", have_byte_level);
  }
  XOMNI_CHECK(have_byte_level, origin,
              ": pre_tokenizer must contain a ByteLevel step (only byte-level BPE is supported)");
  if (auto it = root.find("decoder"); it != root.end() && !it->is_null()) {
    decoder_json = *it;
    const std::string type = get_string(*it, "type", "decoder", origin);
    XOMNI_CHECK(type == "ByteLevel", origin, ": decoder.type '", type,
                "' is not supported (only ByteLevel)");
  }
  if (auto it = root.find("post_processor"); it != root.end()) post_processor_json = *it;
}

}  // namespace xomni::bpe
