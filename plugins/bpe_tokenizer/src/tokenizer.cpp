// Byte-level BPE tokenizer: encode/decode through Tokenizer::Impl, save (loading is in
// tokenizer_load.cpp).
#include "tokenizer_internal.h"
#include "tokenizer_json.h"

namespace xomni::bpe {

char32_t byte_to_unicode(uint8_t b) {
  return byte_tables().to_unicode[b];
}

std::string Tokenizer::Impl::normalize(std::string_view text) const {
  std::string s(text);
  if (norms.empty()) return s;
  bool ascii = true;
  for (char c : s) ascii &= static_cast<unsigned char>(c) < 0x80;
  if (ascii) return s;  // every normal form of ASCII is itself
  for (NormForm f : norms) {
    int opts = UTF8PROC_STABLE;
    switch (f) {
      case NormForm::NFC:
        opts |= UTF8PROC_COMPOSE;
        break;
      case NormForm::NFD:
        opts |= UTF8PROC_DECOMPOSE;
        break;
      case NormForm::NFKC:
        opts |= UTF8PROC_COMPOSE | UTF8PROC_COMPAT;
        break;
      case NormForm::NFKD:
        opts |= UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT;
        break;
    }
    if (s.empty()) return s;
    utf8proc_uint8_t* out = nullptr;
    const utf8proc_ssize_t n = utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(s.data()),
                                            static_cast<utf8proc_ssize_t>(s.size()), &out,
                                            static_cast<utf8proc_option_t>(opts));
    XOMNI_CHECK(n >= 0, "bpe tokenizer: normalization failed: ", utf8proc_errmsg(n));
    s.assign(reinterpret_cast<const char*>(out), static_cast<size_t>(n));
    std::free(out);
  }
  return s;
}

template <typename Fn>
void Tokenizer::Impl::pre_tokenize(std::string_view normalized, Fn&& emit) const {
  if (splits.empty()) {
    if (!normalized.empty()) emit(normalized);
    return;
  }
  if (splits.size() == 1) {
    split_isolated(*splits[0], normalized, emit);
    return;
  }
  std::vector<std::string_view> pieces{normalized}, next;
  for (const auto& re : splits) {
    next.clear();
    for (std::string_view p : pieces)
      split_isolated(*re, p, [&](std::string_view q) { next.push_back(q); });
    pieces.swap(next);
  }
  for (std::string_view p : pieces) emit(p);
}

// Merges the byte symbols of one word by rank (lowest first, leftmost among equal ranks), as
// Hugging Face tokenizers' Word::merge_all does.
void Tokenizer::Impl::merge_word(std::string_view word, std::vector<int32_t>& out) const {
  struct Sym {
    int32_t id, prev, next;
  };
  struct Cand {
    int32_t rank, pos, new_id;
  };
  const int32_t n = static_cast<int32_t>(word.size());
  std::vector<Sym> sym(n);
  for (int32_t i = 0; i < n; ++i)
    sym[i] = {byte_id[static_cast<unsigned char>(word[i])], i - 1, i + 1 < n ? i + 1 : -1};
  auto later = [](const Cand& x, const Cand& y) {
    return x.rank != y.rank ? x.rank > y.rank : x.pos > y.pos;
  };
  std::vector<Cand> heap;
  heap.reserve(n);
  auto push = [&](int32_t pos) {
    const int32_t nx = sym[pos].next;
    if (nx < 0) return;
    auto it = merges.find(pair_key(sym[pos].id, sym[nx].id));
    if (it == merges.end()) return;
    heap.push_back({it->second.rank, pos, it->second.new_id});
    std::push_heap(heap.begin(), heap.end(), later);
  };
  for (int32_t i = 0; i + 1 < n; ++i) push(i);
  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), later);
    const Cand c = heap.back();
    heap.pop_back();
    Sym& s = sym[c.pos];
    if (s.id < 0 || s.next < 0) continue;
    auto it = merges.find(pair_key(s.id, sym[s.next].id));
    if (it == merges.end() || it->second.new_id != c.new_id) continue;
    const int32_t nx = s.next;
    s.id = c.new_id;
    s.next = sym[nx].next;
    sym[nx].id = -1;
    if (s.next >= 0) sym[s.next].prev = c.pos;
    if (s.prev >= 0) push(s.prev);
    push(c.pos);
  }
  for (int32_t i = 0; i >= 0 && i < n; i = sym[i].next) out.push_back(sym[i].id);
}

void Tokenizer::Impl::bpe_word(std::string_view word, std::vector<int32_t>& out) const {
  if (word.size() == 1) {
    out.push_back(byte_id[static_cast<unsigned char>(word[0])]);
    return;
  }
  {
    std::lock_guard<std::mutex> lock(cache_mutex);
    auto it = cache.find(word);
    if (it != cache.end()) {
      out.insert(out.end(), it->second.begin(), it->second.end());
      return;
    }
  }
  std::vector<int32_t> ids;
  if (ignore_merges) {
    std::string mapped;
    for (char c : word) mapped += byte_tables().to_utf8[static_cast<unsigned char>(c)];
    if (auto it = vocab.find(mapped); it != vocab.end()) ids.push_back(it->second);
  }
  if (ids.empty()) merge_word(word, ids);
  out.insert(out.end(), ids.begin(), ids.end());
  std::lock_guard<std::mutex> lock(cache_mutex);
  if (cache.size() >= (size_t{1} << 18)) cache.clear();  // bound the memory
  cache.emplace(std::string(word), std::move(ids));
}

// Calls on_text for the text between added tokens and on_added for each added token id.
template <typename Fn>
void Tokenizer::Impl::split_added(std::string_view text, bool allow_special, Fn&& on_text,
                                  const std::function<void(int32_t)>& on_added) const {
  size_t start = 0;  // start of the pending plain text
  size_t i = 0;
  while (i < text.size()) {
    const auto& cands = added_by_first[static_cast<unsigned char>(text[i])];
    const AddedToken* hit = nullptr;
    for (int32_t k : cands) {
      const AddedToken& a = added[k];
      if (a.special && !allow_special) continue;
      if (text.compare(i, a.content.size(), a.content) != 0) continue;
      if (a.single_word) {
        size_t j = i;
        bool ok = true;
        if (i > 0) {  // the code point before
          size_t b = i - 1;
          while (b > 0 && (static_cast<unsigned char>(text[b]) & 0xC0) == 0x80) --b;
          size_t bb = b;
          ok &= !is_word_cp(next_cp(text, bb));
        }
        j = i + a.content.size();
        if (ok && j < text.size()) ok &= !is_word_cp(next_cp(text, j));
        if (!ok) continue;
      }
      hit = &a;
      break;  // candidates are sorted longest first
    }
    if (hit == nullptr) {
      ++i;
      continue;
    }
    size_t s = i, e = i + hit->content.size();
    if (hit->lstrip)
      while (s > start && is_space_byte(text[s - 1])) --s;
    if (hit->rstrip)
      while (e < text.size() && is_space_byte(text[e])) ++e;
    if (s > start) on_text(text.substr(start, s - start));
    on_added(hit->id);
    start = i = e;
  }
  if (start < text.size()) on_text(text.substr(start));
}

// ---- Tokenizer ----------------------------------------------------------------------------

Tokenizer::Tokenizer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;
Tokenizer::~Tokenizer() = default;

Tokenizer Tokenizer::from_json(std::string_view json_text, const std::string& origin) {
  json root;
  try {
    root = json::parse(json_text);
  } catch (const json::exception& e) {
    throw Error(detail::concat(origin, ": not valid JSON: ", e.what()));
  }
  auto impl = std::make_unique<Impl>();
  impl->origin = origin;
  try {
    impl->load(root);
  } catch (const json::exception& e) {
    throw Error(detail::concat(origin, ": unexpected JSON value: ", e.what()));
  }
  return Tokenizer(std::move(impl));
}

Tokenizer Tokenizer::from_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  XOMNI_CHECK(in.good(), "bpe tokenizer: cannot open '", path, "'");
  std::ostringstream ss;
  ss << in.rdbuf();
  return from_json(ss.str(), path);
}

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool allow_special) const {
  check_utf8(text, "bpe tokenizer: encode input");
  std::vector<int32_t> ids;
  ids.reserve(text.size() / 3 + 8);
  impl_->split_added(
      text, allow_special,
      [&](std::string_view plain) {
        const std::string norm = impl_->normalize(plain);
        impl_->pre_tokenize(norm, [&](std::string_view w) { impl_->bpe_word(w, ids); });
      },
      [&](int32_t id) { ids.push_back(id); });
  return ids;
}

std::string Tokenizer::decode(std::span<const int32_t> ids, bool skip_special) const {
  std::string out;
  for (size_t i = 0; i < ids.size(); ++i) {
    const int32_t id = ids[i];
    XOMNI_CHECK(
        id >= 0 && static_cast<size_t>(id) < impl_->id_kind.size() && impl_->id_kind[id] != 0,
        "bpe tokenizer: decode: unknown id ", id, " at position ", i);
    if (skip_special && impl_->id_kind[id] == 3) continue;
    out += impl_->id_bytes[id];
  }
  return out;
}

std::string Tokenizer::normalize(std::string_view text) const {
  check_utf8(text, "bpe tokenizer: normalize input");
  return impl_->normalize(text);
}

std::vector<std::string> Tokenizer::pre_tokenize(std::string_view text) const {
  check_utf8(text, "bpe tokenizer: pre_tokenize input");
  const std::string norm = impl_->normalize(text);
  std::vector<std::string> out;
  impl_->pre_tokenize(norm, [&](std::string_view w) { out.emplace_back(w); });
  return out;
}

int32_t Tokenizer::vocab_size() const {
  return static_cast<int32_t>(impl_->id_kind.size());
}

std::optional<int32_t> Tokenizer::token_to_id(std::string_view token) const {
  if (auto it = impl_->added_by_content.find(token); it != impl_->added_by_content.end())
    return it->second;
  if (auto it = impl_->vocab.find(token); it != impl_->vocab.end()) return it->second;
  return std::nullopt;
}

const std::string& Tokenizer::id_to_token(int32_t id) const {
  XOMNI_CHECK(id >= 0 && static_cast<size_t>(id) < impl_->id_kind.size() && impl_->id_kind[id] != 0,
              "bpe tokenizer: unknown id ", id);
  return impl_->id_token[id];
}

const std::vector<AddedToken>& Tokenizer::added_tokens() const {
  return impl_->added;
}

const std::vector<std::pair<std::string, std::string>>& Tokenizer::merges() const {
  return impl_->merge_list;
}

std::string Tokenizer::to_json() const {
  const Impl& m = *impl_;
  std::vector<std::pair<int32_t, std::string_view>> by_id;
  by_id.reserve(m.vocab.size());
  for (const auto& [token, id] : m.vocab) by_id.emplace_back(id, token);
  std::sort(by_id.begin(), by_id.end());
  auto as_ordered = [](const json& j) { return ordered_json::parse(j.dump()); };
  return tokenizer_json({.added_tokens = m.added,
                         .normalizer = as_ordered(m.normalizer_json),
                         .pre_tokenizer = as_ordered(m.pre_tokenizer_json),
                         .post_processor = as_ordered(m.post_processor_json),
                         .decoder = as_ordered(m.decoder_json),
                         .vocab = by_id,
                         .merges = m.merge_list,
                         .ignore_merges = m.ignore_merges})
      .dump(2);
}

void Tokenizer::save(const std::string& path) const {
  const std::string text = to_json();
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  XOMNI_CHECK(out.good(), "bpe tokenizer: cannot write '", path, "'");
  out << text << '\n';
  out.close();
  XOMNI_CHECK(out.good(), "bpe tokenizer: writing '", path, "' failed");
}

}  // namespace xomni::bpe
