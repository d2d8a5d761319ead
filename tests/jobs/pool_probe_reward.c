/* Test reward plugin for the reward pool: reports the environment of the process that scores.
 *
 *   score          = $OMP_THREAD_LIMIT as a number (-1 when unset)
 *   sub-scores     = omp_num_threads ($OMP_NUM_THREADS, -1 when unset), pid (getpid())
 *
 * The prompt picks a behaviour: "sleep" sleeps 30 s (a worker busy long enough to be killed
 * mid-batch), "fail" makes score() fail naming the sample, "nan" gives that sample a NaN score.
 * Not thread-safe on purpose: the pool's in-process mode must then start one worker process. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "xomni/reward.h"

typedef struct Probe {
  char error[128];
} Probe;

static float env_number(const char* name) {
  const char* v = getenv(name);
  return v ? (float)atof(v) : -1.0f;
}

static void* probe_create(const char* config) {
  (void)config;
  return calloc(1, sizeof(Probe));
}

static int probe_score(void* handle, const XomniRewardBatch* batch, float* scores,
                       float* sub_scores) {
  Probe* p = (Probe*)handle;
  for (int32_t i = 0; i < batch->size; ++i) {
    const char* prompt = batch->prompts[i];
    if (strcmp(prompt, "sleep") == 0) {
      const struct timespec step = {0, 10 * 1000 * 1000};
      for (int t = 0; t < 3000; ++t) nanosleep(&step, NULL);
    }
    if (strcmp(prompt, "fail") == 0) {
      snprintf(p->error, sizeof p->error, "probe: asked to fail on sample %d", i);
      return 1;
    }
    scores[i] = strcmp(prompt, "nan") == 0 ? NAN : env_number("OMP_THREAD_LIMIT");
    sub_scores[2 * i] = env_number("OMP_NUM_THREADS");
    sub_scores[2 * i + 1] = (float)getpid();
  }
  return 0;
}

static void probe_destroy(void* handle) {
  free(handle);
}

static const char* probe_last_error(void* handle) {
  return handle ? ((Probe*)handle)->error : "";
}

static const char* const k_sub_scores[] = {"omp_num_threads", "pid"};

static const XomniRewardPlugin k_plugin = {
    .abi_version = XOMNI_REWARD_ABI_VERSION,
    .name = "pool_probe",
    .version = "0.1.0",
    .description = "test plugin: the scoring process's OpenMP environment and pid",
    .num_sub_scores = 2,
    .sub_score_names = k_sub_scores,
    .batch_size_hint = 0,
    .thread_safe = 0,
    .create = probe_create,
    .score = probe_score,
    .destroy = probe_destroy,
    .last_error = probe_last_error,
};

XOMNI_REWARD_EXPORT const XomniRewardPlugin* xomni_reward_plugin(void) {
  return &k_plugin;
}
