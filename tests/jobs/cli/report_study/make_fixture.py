#!/usr/bin/env python3
"""A hand-made run root for `xomni report study` with known numbers (see report_study.sh).

make_fixture.py ROOT one|two
  one: ROOT/study.json and its stages (one seed).
  two: ROOT/seed-0 (as one) and ROOT/seed-1 (the RL scene overall at CFG 1 is 0.42, not 0.62;
       the sft stage's wall time 30.5, not 20.5).
The numbers, and what the report must make of them:
  rl reward at step s = 0.02 s for 20 steps: the last tenth (2 steps) averages 0.39, above the SFT
  best-of-4 level 0.3 (G = 4 from settings) -> claim 1 holds; its running mean passes at step 16.
  scene overall at CFG 1 / 3: SFT 0.25 / 0.5, RL 0.62 / 0.63 -> claim 2 holds.
  OneIG text score SFT 0.40 -> RL 0.45 but LongText 0.30 -> 0.25 -> claim 3 does not hold.
  RL overall 0.62 >= 0.60, VQA 0.70 -> 0.69 (1 point) -> claim 4 holds (one seed); with seed-1's
  0.42 the mean overall is 0.52 -> it does not hold for two seeds.
"""
import json, os, struct, sys, zlib


def png(path, w, h, rgb):
    raw = b"".join(b"\0" + bytes(rgb) * w for _ in range(h))

    def chunk(t, data):
        return struct.pack(">I", len(data)) + t + data + struct.pack(">I", zlib.crc32(t + data))

    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def write(path, obj):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(obj, f, indent=1)


def lines(path, rows):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")


def results(overall1, overall3, unseen1, oneig, longtext, vqa, single_pass):
    def gen(overall, unseen, with_text):
        g = {"scene": {"overall": overall, "total": 8, "unseen_overall": unseen, "unseen_total": 2,
                       "clean_mean": 0.8 if overall < 0.5 else 0.3,
                       "by_category": {
                           "single_object": {"pass": single_pass, "total": 4, "rate": single_pass / 4},
                           "counting": {"pass": 0, "total": 4, "rate": 0.0}}},
             "image_tokens_per_s": 1000.0, "decode_images_per_s": 2.5}
        if with_text:
            g["text"] = {"short": {"total": 3, "ed": 0.5, "cr": 0.25, "wac": 0.5, "oneig_score": oneig},
                         "long": {"total": 2, "longtext_accuracy": longtext}}
        return g

    return {"checkpoint": "ckpt.h5", "grid": [8, 8],
            "sampler": {"temperature": 1, "min_p": 0.03, "top_p": 1, "seed": 5, "batch": 4,
                        "decoder_steps": 4},
            "prompt_files": [{"path": "prompts/geneval.jsonl", "sha256": "ab" * 32, "lines": 8,
                              "scored": 8, "errors": []}],
            "cfg": [1, 3],
            "generation": {"1": gen(overall1, unseen1, True), "3": gen(overall3, unseen1, False)},
            "understanding": {"vqa": {"accuracy": vqa, "total": 100,
                                      "by_type": {"How many": {"correct": 30, "total": 50, "rate": 0.6}},
                                      "by_set": {"vqa": {"correct": int(vqa * 100), "total": 100,
                                                         "rate": vqa}}}},
            "timing": {"total_s": 12.5}}


def samples(eval_dir, colours, passes):
    rows = []
    for i, (rgb, ok) in enumerate(zip(colours, passes)):
        rel = f"samples/cfg-1/scene-{i}.png"
        png(os.path.join(eval_dir, rel), 8, 8, rgb)
        rows.append({"set": "geneval", "index": i, "task": "scene", "category": "single_object",
                     "prompt": f"a photo of shape number {i}", "png": rel, "pass": ok, "seen": i == 0})
    rel = "samples/cfg-1/text-0.png"
    png(os.path.join(eval_dir, rel), 8, 8, (250, 250, 250))
    rows.append({"set": "oneig", "index": 0, "task": "text", "category": "short",
                 "prompt": "a sign that says HELLO", "png": rel, "ed": 0.2, "cr": 0.0, "wac": 0.0,
                 "ocr_text": "HELO"})
    lines(os.path.join(eval_dir, "samples/cfg-1/samples.jsonl"), rows)


def study(root, seed):
    stages = [("siglip", "train", 10.5), ("sft", "train", 20.5 if seed == 0 else 30.5),
              ("bon", "eval", 3.0), ("rl", "train", 40.0), ("eval-sft", "eval", 5.0),
              ("eval-rl", "eval", 6.0)]
    write(os.path.join(root, "study.json"), {
        "name": "fixture", "scale": "default", "seed": seed,
        "stages": [{"name": n, "kind": k, "status": "done", "wall_s": w, "dir": n} for n, k, w in stages],
        "settings": {"sft": {"steps": 5, "batch": 4}, "rl": {"group_size": 4, "steps": 20}}})
    lines(os.path.join(root, "siglip/metrics.jsonl"),
          [{"step": s, "loss": 4 - 0.5 * s} for s in range(1, 5)] + [{"step": 4, "eval_loss": 2.5}])
    lines(os.path.join(root, "sft/metrics.jsonl"),
          [{"step": s, "loss": 2 - 0.25 * s} for s in range(1, 6)] + [{"step": 5, "eval_loss": 1.25}])
    lines(os.path.join(root, "rl/metrics.jsonl"),
          [{"step": s, "loss": 0.001, "reward": 0.02 * s, "reward.scene": 0.02 * s,
            "reward.scene.object_found": 0.5, "kl": 0.001 * s, "entropy": 1.0} for s in range(1, 21)])
    write(os.path.join(root, "bon/bon.json"),
          {"by_n": [{"n": 1, "mean_best_reward": 0.1}, {"n": 2, "mean_best_reward": 0.2},
                    {"n": 4, "mean_best_reward": 0.3}]})
    write(os.path.join(root, "eval-sft/results.json"), results(0.25, 0.5, 0.2, 0.40, 0.30, 0.70, 1))
    write(os.path.join(root, "eval-rl/results.json"),
          results(0.62 if seed == 0 else 0.42, 0.63, 0.5, 0.45, 0.25, 0.69, 3))
    # codec-eval: `xomni image eval`'s results.json; the reconstruction at the most steps counts.
    write(os.path.join(root, "codec-eval/results.json"), {
        "samples": 100, "reconstruction": {"1": {"psnr_db": 15.0}, "16": {"psnr_db": 21.5 if seed == 0 else 20.5},
                                           "4": {"psnr_db": 18.0}},
        "scene_checker": {"pass": 25, "pass_rate": 0.25, "scenes": 100, "steps": 16,
                          "input_pass_rate": 1.0,
                          "by_category": {"single_object": {"scenes": 50, "pass": 20, "pass_rate": 0.4,
                                                            "input_pass_rate": 1.0},
                                          "two_object": {"scenes": 50, "pass": 5, "pass_rate": 0.1,
                                                         "input_pass_rate": 1.0}}},
        "codebook": {"used": 414, "used_fraction": 0.80859375, "perplexity": 215.1, "size": 512},
        "vqa": {"accuracy": 0.466}, "retrieval": {"top1": 0.1},
        "code_information": {"colour": {"probe_accuracy": 0.637, "majority_accuracy": 0.105},
                             "shape": {"probe_accuracy": 0.302, "majority_accuracy": 0.435}}})
    # Its second pass on the text images (with OCR), at 4 steps only.
    write(os.path.join(root, "codec-eval/text-images/results.json"), {
        "samples": 64, "reconstruction": {"4": {"psnr_db": 16.25}},
        "ocr": {"images": 64, "word_accuracy_original": 0.95,
                "word_accuracy_reconstructed": 0.125, "ratio": 0.125 / 0.95}})
    samples(os.path.join(root, "eval-sft"), [(200, 0, 0), (0, 200, 0), (0, 0, 200)], [False, True, False])
    samples(os.path.join(root, "eval-rl"), [(200, 200, 0), (0, 200, 200), (200, 0, 200)], [True, True, False])


root, kind = sys.argv[1], sys.argv[2]
if kind == "one":
    study(root, 0)
else:
    study(os.path.join(root, "seed-0"), 0)
    study(os.path.join(root, "seed-1"), 1)
