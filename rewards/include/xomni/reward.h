/* The xomni reward plugin ABI: plain C, so a reward can be written in C, C++ or anything with a C
 * FFI, and built against nothing but this header.
 *
 * A reward plugin is a shared library exporting one symbol,
 *
 *   XOMNI_REWARD_EXPORT const XomniRewardPlugin* xomni_reward_plugin(void);
 *
 * that returns a pointer to a static description (below). xomni reads `abi_version` first and
 * refuses the library unless it equals the XOMNI_REWARD_ABI_VERSION xomni was built with, so a
 * plugin must be rebuilt when this number changes. Every other field may change between ABI
 * versions.
 *
 * Life cycle: create(config) -> handle; score(handle, batch, ...) any number of times; destroy.
 * Errors never cross the ABI as exceptions: create returns NULL, score returns non-zero, and
 * last_error(handle) (or last_error(NULL) after a failed create) says why. Scores must be finite;
 * xomni stops the run with the plugin's name and the sample index on NaN or Inf.
 * See docs/PLUGINS.md and rewards/examples/contrast/contrast.c for a worked example. */
#ifndef XOMNI_REWARD_H
#define XOMNI_REWARD_H

#include <stddef.h>
#include <stdint.h>

#define XOMNI_REWARD_ABI_VERSION 1
/* The name of the entry point xomni looks up. */
#define XOMNI_REWARD_ENTRY "xomni_reward_plugin"

#if defined(_WIN32)
#define XOMNI_REWARD_EXPORT __declspec(dllexport)
#else
#define XOMNI_REWARD_EXPORT __attribute__((visibility("default")))
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* One image: 8-bit RGB, row-major, `stride` bytes from one row to the next (>= 3 * width). */
typedef struct XomniImage {
  const uint8_t* rgb;
  int32_t width;
  int32_t height;
  int64_t stride;
} XomniImage;

/* A batch of `size` samples. Strings are NUL-terminated UTF-8; metadata[i] is a JSON object
 * ("{}" when the sample has none). Everything is owned by xomni and valid during score() only. */
typedef struct XomniRewardBatch {
  int32_t size;
  const XomniImage* images;
  const char* const* prompts;
  const char* const* metadata;
} XomniRewardBatch;

typedef struct XomniRewardPlugin {
  uint32_t abi_version;    /* XOMNI_REWARD_ABI_VERSION at the plugin's build; read first */
  const char* name;        /* e.g. "ocr" */
  const char* version;     /* the plugin's own version, e.g. "1.0.0" */
  const char* description; /* one line, shown by `xomni plugins` */
  /* Named sub-scores the plugin reports next to its score (logged; not combined), e.g.
   * {"edit_distance", "word_accuracy"}. May be 0 / NULL. */
  int32_t num_sub_scores;
  const char* const* sub_score_names;
  int32_t batch_size_hint; /* largest batch score() wants at once; 0 = any size */
  int32_t thread_safe;     /* 1: score() may run concurrently on one handle */

  /* Makes a reward from its configuration text (the job file's `config`, often TOML or
   * key=value lines; "" when none). Returns NULL on failure; last_error(NULL) says why. */
  void* (*create)(const char* config);
  /* Scores a batch: writes scores[i] for each sample and, when num_sub_scores > 0,
   * sub_scores[i * num_sub_scores + k]. Returns 0 on success, non-zero on failure (then
   * last_error(handle) says why). */
  int (*score)(void* handle, const XomniRewardBatch* batch, float* scores, float* sub_scores);
  void (*destroy)(void* handle);
  /* The last error on `handle` (NULL: the last failed create on this thread). Never NULL; the
   * text stays valid until the next call on the same handle. */
  const char* (*last_error)(void* handle);
} XomniRewardPlugin;

typedef const XomniRewardPlugin* (*XomniRewardEntry)(void);

#ifdef __cplusplus
}
#endif

#endif /* XOMNI_REWARD_H */
