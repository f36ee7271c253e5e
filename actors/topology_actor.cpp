#include "actors/topology_actor.hpp"

namespace vs {
namespace {

std::vector<bool> active_vector(uint64_t mask, int workers) {
  std::vector<bool> v;
  for (int w = 0; w < workers; ++w) v.push_back((mask >> w) & 1);
  return v;
}

}  // namespace

uint64_t publish_table(TopologyRefs& refs, uint64_t active_workers) {
  // kMaxPorts entries: on the heap, not on an actor thread's stack.
  auto table = std::make_unique<TopologyTable>();
  refs.build(active_vector(active_workers, refs.nb_workers), *table);
  topology_publish(refs.shared, *table);
  return refs.shared.generation.load(std::memory_order_acquire);
}

topology_actor::behavior_type topology_behavior(
    topology_actor::stateful_pointer<TopologyState> self, TopologyRefs* refs) {
  self->state.refs = refs;
  return {
      [self](publish_atom) -> uint64_t {
        return publish_table(*self->state.refs, self->state.active_workers);
      },
      [self](workers_atom, uint64_t active) {
        self->state.active_workers = active;
        publish_table(*self->state.refs, active);
      },
  };
}

}  // namespace vs
