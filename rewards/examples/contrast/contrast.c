/* A minimal xomni reward plugin, in plain C: the RMS contrast of an image.
 *
 *   score          = scale * sqrt(mean((Y - mean(Y))^2)),  Y = (0.299 R + 0.587 G + 0.114 B) / 255
 *   sub-scores     = mean_luminance (mean(Y)), rms_contrast (the unscaled standard deviation)
 *
 * Config text: optional "scale = <number>" (default 1). A half-black, half-white image scores
 * 0.5 * scale; a flat image scores 0. The prompt and metadata are ignored.
 * Build: see CMakeLists.txt next to this file and docs/PLUGINS.md. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xomni/reward.h"

typedef struct Contrast {
  double scale;
  char error[256];
} Contrast;

/* The reason the last create() failed (create has no handle to store it in). */
static _Thread_local char g_create_error[256];

static void* contrast_create(const char* config) {
  double scale = 1.0;
  const char* p = config ? strstr(config, "scale") : NULL;
  if (p) {
    p = strchr(p, '=');
    char* end = NULL;
    if (p) scale = strtod(p + 1, &end);
    if (!p || end == p + 1 || !isfinite(scale)) {
      snprintf(g_create_error, sizeof g_create_error,
               "contrast: cannot read 'scale = <number>' in the config text '%s'", config);
      return NULL;
    }
  }
  Contrast* c = (Contrast*)calloc(1, sizeof(Contrast));
  if (!c) {
    snprintf(g_create_error, sizeof g_create_error, "contrast: out of memory");
    return NULL;
  }
  c->scale = scale;
  return c;
}

static int contrast_score(void* handle, const XomniRewardBatch* batch, float* scores,
                          float* sub_scores) {
  Contrast* c = (Contrast*)handle;
  for (int32_t i = 0; i < batch->size; ++i) {
    const XomniImage* im = &batch->images[i];
    const int64_t n = (int64_t)im->width * im->height;
    if (n <= 0) {
      snprintf(c->error, sizeof c->error, "contrast: sample %d has an empty image (%dx%d)", i,
               im->width, im->height);
      return 1;
    }
    double sum = 0.0, sum_sq = 0.0;
    for (int32_t y = 0; y < im->height; ++y) {
      const uint8_t* row = im->rgb + y * im->stride;
      for (int32_t x = 0; x < im->width; ++x) {
        const double lum =
            (0.299 * row[3 * x] + 0.587 * row[3 * x + 1] + 0.114 * row[3 * x + 2]) / 255.0;
        sum += lum;
        sum_sq += lum * lum;
      }
    }
    const double mean = sum / (double)n;
    const double var = sum_sq / (double)n - mean * mean;
    const double std = sqrt(var > 0.0 ? var : 0.0);
    scores[i] = (float)(c->scale * std);
    sub_scores[2 * i] = (float)mean;
    sub_scores[2 * i + 1] = (float)std;
  }
  return 0;
}

static void contrast_destroy(void* handle) {
  free(handle);
}

static const char* contrast_last_error(void* handle) {
  return handle ? ((Contrast*)handle)->error : g_create_error;
}

static const char* const k_sub_scores[] = {"mean_luminance", "rms_contrast"};

static const XomniRewardPlugin k_plugin = {
    .abi_version = XOMNI_REWARD_ABI_VERSION,
    .name = "contrast",
    .version = "1.0.0",
    .description = "RMS contrast of the image's luminance (example plugin)",
    .num_sub_scores = 2,
    .sub_score_names = k_sub_scores,
    .batch_size_hint = 0,
    .thread_safe = 1, /* score() only writes the handle's error text on failure */
    .create = contrast_create,
    .score = contrast_score,
    .destroy = contrast_destroy,
    .last_error = contrast_last_error,
};

XOMNI_REWARD_EXPORT const XomniRewardPlugin* xomni_reward_plugin(void) {
  return &k_plugin;
}
