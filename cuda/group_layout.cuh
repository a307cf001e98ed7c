// The group layout on the GPU: cpp/lawfit/group.hpp with a cooperative-groups
// tile of kBlock threads as the group.
#pragma once
#include <cooperative_groups.h>

#include "lawfit/group.hpp"

namespace lawfit {
namespace cuda {

namespace cg = cooperative_groups;
using Group = cg::thread_block_tile<kBlock>;

}  // namespace cuda
}  // namespace lawfit
