// Named model presets: the paper's ProMoE-S/B/L/XL and dense DiT-S/B/L/XL (docs/PROMOE.md §6.1), the
// TC-DiT / EC-DiT L-E8 baselines and ProMoE-EC-L (§6.2, §3), and small CPU presets for 32x32x1
// Fashion-MNIST with 10 classes (patch 4, 64 tokens): ProMoE-Tiny (hidden 128, depth 6, 4 heads,
// 8 routed experts, top-1, expert width 2D), ProMoE-EC-Tiny, TC-Tiny and EC-Tiny (8 full-width
// experts) and Dense-Tiny (the dense model with equal activated parameters, up to the prototypes).
#pragma once
#include "moe/model.h"  // declares preset() and preset_names()
