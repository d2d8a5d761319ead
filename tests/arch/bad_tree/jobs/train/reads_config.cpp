// Deliberately wrong: a stage reads its job file by key inside the step loop.
int steps(const Config& c) {
  return c.get_int("train.steps");
}
