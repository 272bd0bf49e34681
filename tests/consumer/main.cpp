#include <leaksnek/leaksnek.hpp>

int main() {
  using namespace leaksnek;
  Gcra gcra{rl("2/s")};
  Gcra::State state;
  int allowed = 0;
  for (int i = 0; i < 3; ++i) allowed += gcra.decide(state, Instant{}, 1).allowed ? 1 : 0;
  return allowed == 2 ? 0 : 1;
}
