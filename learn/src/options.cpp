#include "concise/learn/options.hpp"

#include <cmath>
#include <sstream>

#include "concise/core/error.hpp"

namespace concise::learn {

void LearnOptions::validate() const {
  solve.validate();
  if (atoms < 1) throw InputError("the number of atoms to learn must be >= 1, got " + std::to_string(atoms));
  if (epochs < 1) throw InputError("epochs must be >= 1, got " + std::to_string(epochs));
  if (batch < 1) throw InputError("batch must be >= 1 row, got " + std::to_string(batch));
  if (!std::isfinite(forget) || forget < 0) throw InputError("forget (rho) must be a finite number >= 0");
  if (sweeps < 1 || batch_sweeps < 1) throw InputError("sweeps must be >= 1");
  if (!(duplicate_cosine > 0 && duplicate_cosine <= 1)) throw InputError("duplicate cosine must be in (0, 1]");
  if (chunk < 0) throw InputError("chunk must be 0 (automatic) or positive, got " + std::to_string(chunk));
}

std::string LearnOptions::settings_key() const {
  std::ostringstream key;
  key.precision(17);
  key << "atoms=" << atoms << " l1=" << solve.l1 << " tol=" << solve.tol << " solver=" << to_string(solve.solver)
      << " batch=" << batch << " seed=" << seed << " forget=" << forget << " sweeps=" << sweeps
      << " batch_sweeps=" << batch_sweeps << " duplicate_cosine=" << duplicate_cosine << " chunk=" << chunk;
  if (solve.l0 > 0) key << " l0=" << solve.l0 << " l0_ratio=" << solve.l0_ratio;
  return key.str();
}

}  // namespace concise::learn
