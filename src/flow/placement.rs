//! Which shard counts which share of which task.
//!
//! Tasks derived from another by a roll-up ([`super::rollup`]) go with
//! it: a base and its derived tasks are one unit, counted whole on one
//! shard and never split (the derived tasks cost nothing per packet, so
//! splitting the base would only add the routing work). Units are placed
//! as tasks were before roll-ups:
//!
//! With at least as many units as shards, every unit goes whole to one
//! shard (heaviest first, each to the least loaded shard), so no shard
//! hashes a key it does not keep. With more shards than units, the spare
//! shards go to the splittable units, the heaviest first: a split task is
//! hashed once per share, and each share keeps its part of the keys.
//! Sketch tasks are never split: a sketch has fixed memory per instance,
//! and one instance sees all of its task's keys. A task's `max_keys` is
//! divided among its shares so that the shares' limits sum to exactly
//! `max_keys`.
//!
//! The plan depends only on the tasks and the shard count, and a key's
//! share only on the key ([`share_of_key`](super::share_of_key)), so the same config gives the
//! same files on every run.

use super::rollup::plan_rollups;
use super::{Share, TaskSpec};

/// One share of one task, given to a shard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    /// Index of the task in config order.
    pub task: usize,
    pub share: Share,
    /// Tasks (in config order) derived from this one on the same shard;
    /// empty unless the task is whole.
    pub derived: Vec<usize>,
}

/// A task's cost per packet when it is derived: nothing is done per
/// packet, only per new key of its base and per record on a cut.
const DERIVED_WEIGHT: u64 = 100;

/// The plan: for each shard, the shares it counts. No shard is empty, so
/// there are fewer than `shards` when the tasks cannot be split that far
/// (sketch tasks and roll-ups). Every task's shares together cover its
/// keys exactly once; a derived task is covered by its base's placement.
/// `derives` says which task can be derived from which
/// ([`super::rollup::derivable`]; never, to count each task on its own).
pub fn place_tasks(
    tasks: &[TaskSpec],
    shards: usize,
    derives: fn(&TaskSpec, &TaskSpec) -> bool,
) -> Vec<Vec<Placement>> {
    let shards = shards.max(1);
    let derived_from = plan_rollups(tasks, derives);
    let derived_of = |task: usize| -> Vec<usize> {
        (0..tasks.len())
            .filter(|&other| derived_from[other] == Some(task))
            .collect()
    };
    let units: Vec<usize> = (0..tasks.len())
        .filter(|&task| derived_from[task].is_none())
        .collect();
    let mut weights = vec![0; tasks.len()];
    let mut splittable = vec![false; tasks.len()];
    for &unit in &units {
        let derived = derived_of(unit);
        weights[unit] = weight(&tasks[unit]) + DERIVED_WEIGHT * derived.len() as u64;
        splittable[unit] = tasks[unit].kind.splits() && derived.is_empty();
    }
    let mut heaviest_first = units.clone();
    heaviest_first.sort_by_key(|&task| std::cmp::Reverse(weights[task]));
    let share_counts = share_counts(&weights, &splittable, &heaviest_first, shards);
    let mut plan: Vec<Vec<Placement>> = vec![Vec::new(); shards];
    let mut load = vec![0u64; shards];
    for &task in &heaviest_first {
        let count = share_counts[task];
        for index in 0..count {
            let shard = least_loaded(&load);
            load[shard] += weights[task] / count as u64;
            plan[shard].push(Placement {
                task,
                share: Share {
                    index,
                    count,
                    key_limit: tasks[task]
                        .max_keys
                        .map(|max| share_of_limit(max, index, count)),
                },
                derived: if count == 1 {
                    derived_of(task)
                } else {
                    Vec::new()
                },
            });
        }
    }
    plan.retain(|shard| !shard.is_empty());
    for shard in &mut plan {
        shard.sort_by_key(|placement| placement.task);
    }
    plan
}

/// For [`place_tasks`]: no task is derived from another.
pub fn never_derived(_: &TaskSpec, _: &TaskSpec) -> bool {
    false
}

/// How many shares each task gets: one each, then the spare shards go one
/// at a time to the splittable task with the most weight per share.
fn share_counts(
    weights: &[u64],
    splittable: &[bool],
    heaviest_first: &[usize],
    shards: usize,
) -> Vec<usize> {
    let mut counts = vec![1usize; weights.len()];
    for _ in heaviest_first.len()..shards {
        let candidates = heaviest_first.iter().filter(|&&task| splittable[task]);
        let Some(&task) = candidates.max_by_key(|&&task| {
            (
                weights[task] * 1000 / counts[task] as u64,
                std::cmp::Reverse(task),
            )
        }) else {
            break;
        };
        counts[task] += 1;
    }
    counts
}

/// A task's relative cost per packet: wider keys mean bigger tables and
/// more cache misses.
fn weight(task: &TaskSpec) -> u64 {
    1000 * (1 + task.schema.fields().count() as u64)
}

fn least_loaded(load: &[u64]) -> usize {
    (0..load.len())
        .min_by_key(|&shard| (load[shard], shard))
        .unwrap_or(0)
}

/// Share `index` of `count` of a limit of `max` keys: the shares differ by
/// at most one and sum to exactly `max`.
fn share_of_limit(max: u64, index: usize, count: usize) -> u64 {
    let (count, index) = (count as u64, index as u64);
    max / count + u64::from(index < max % count)
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};

    use super::*;
    use crate::flow::{FlowKey, KeyField, KeySchema, TaskKind, share_of_key};

    fn task(name: &str, fields: &[KeyField], max_keys: Option<u64>) -> TaskSpec {
        TaskSpec {
            name: name.into(),
            kind: TaskKind::Exact,
            schema: KeySchema::from_fields(fields),
            max_keys,
        }
    }

    fn default_tasks() -> Vec<TaskSpec> {
        vec![
            task("per_src_ip", &[KeyField::SrcIp], None),
            task("per_dst_ip", &[KeyField::DstIp], None),
            task("per_src_port", &[KeyField::SrcPort], None),
            task("per_dst_port", &[KeyField::DstPort], None),
            task("per_protocol", &[KeyField::Protocol], None),
            task("per_five_tuple", &KeyField::ALL, Some(100)),
        ]
    }

    /// Per task: the share indexes placed, sorted, and the sum of their key limits.
    fn coverage(plan: &[Vec<Placement>], tasks: usize) -> Vec<(Vec<usize>, Option<u64>)> {
        (0..tasks)
            .map(|task| {
                let shares: Vec<Share> = plan
                    .iter()
                    .flatten()
                    .filter(|placement| placement.task == task)
                    .map(|placement| placement.share)
                    .collect();
                let mut indexes: Vec<usize> = shares.iter().map(|share| share.index).collect();
                indexes.sort_unstable();
                let limit = shares
                    .iter()
                    .map(|share| share.key_limit)
                    .sum::<Option<u64>>();
                (indexes, limit)
            })
            .collect()
    }

    #[test]
    fn every_task_is_covered_exactly_once_for_any_shard_count() {
        let tasks = default_tasks();
        for shards in [1, 2, 3, 4, 6, 7, 8, 16, 64] {
            let plan = place_tasks(&tasks, shards, never_derived);
            assert_eq!(plan.len(), shards);
            assert!(
                plan.iter().all(|shard| !shard.is_empty()),
                "{shards}: {plan:?}"
            );
            for (task, (indexes, _)) in coverage(&plan, tasks.len()).into_iter().enumerate() {
                let count = indexes.len();
                assert_eq!(
                    indexes,
                    (0..count).collect::<Vec<_>>(),
                    "{shards} shards, task {task}"
                );
            }
        }
    }

    #[test]
    fn with_no_more_shards_than_tasks_each_task_is_whole_on_one_shard() {
        let plan = place_tasks(&default_tasks(), 2, never_derived);
        assert!(
            plan.iter()
                .flatten()
                .all(|placement| placement.share.count == 1)
        );
        // Five-tuple (weight 6) and destination port (2) on one shard; the
        // four other single-field tasks (2 each) on the other: 8 and 8.
        let per_shard: Vec<Vec<usize>> = plan
            .iter()
            .map(|shard| shard.iter().map(|placement| placement.task).collect())
            .collect();
        assert_eq!(per_shard, [vec![3, 5], vec![0, 1, 2, 4]]);
    }

    #[test]
    fn split_key_limits_sum_to_exactly_max_keys() {
        for shards in [1, 3, 7, 8, 64] {
            let tasks = vec![
                task("t", &KeyField::ALL, Some(1)),
                task("u", &[KeyField::SrcIp], Some(100)),
            ];
            let plan = place_tasks(&tasks, shards, never_derived);
            let limits: Vec<Option<u64>> = coverage(&plan, 2)
                .into_iter()
                .map(|(_, limit)| limit)
                .collect();
            assert_eq!(limits, [Some(1), Some(100)], "{shards} shards");
        }
    }

    #[test]
    fn sketch_tasks_are_never_split_and_no_shard_is_left_empty() {
        let params = crate::flow::sketch::HeavyHitterParams {
            width: 64,
            depth: 2,
            packet_threshold: 1,
            byte_threshold: 1,
            seed: 0,
        };
        let mut tasks = vec![task("hh", &[KeyField::SrcIp], None); 2];
        for (index, task) in tasks.iter_mut().enumerate() {
            task.name = format!("hh{index}");
            task.kind = TaskKind::HeavyHitters(params);
        }
        let plan = place_tasks(&tasks, 4, never_derived);
        assert_eq!(plan.len(), 2);
        assert!(
            plan.iter()
                .all(|shard| shard.len() == 1 && shard[0].share.count == 1)
        );
        tasks.push(task("exact", &[KeyField::SrcIp], None));
        let plan = place_tasks(&tasks, 4, never_derived);
        assert_eq!(plan.len(), 4);
        assert_eq!(
            coverage(&plan, 3)[2].0.len(),
            2,
            "the exact task takes the spare shard"
        );
    }

    #[test]
    fn derived_tasks_go_whole_with_their_base_which_is_never_split() {
        let tasks = default_tasks();
        for shards in [1, 2, 8] {
            let plan = place_tasks(&tasks, shards, crate::flow::derivable);
            assert_eq!(plan.len(), 1, "{shards} shards: one unit");
            let five_tuple = &plan[0][0];
            assert_eq!(
                (five_tuple.task, five_tuple.share.count, &five_tuple.derived),
                (5, 1, &vec![0, 1, 2, 3, 4]),
                "{shards} shards"
            );
        }
        let mut with_sketch = default_tasks();
        with_sketch[0].kind = TaskKind::HeavyHitters(crate::flow::sketch::HeavyHitterParams {
            width: 64,
            depth: 2,
            packet_threshold: 1,
            byte_threshold: 1,
            seed: 0,
        });
        let plan = place_tasks(&with_sketch, 2, crate::flow::derivable);
        let units: Vec<(usize, Vec<usize>)> = plan
            .iter()
            .flatten()
            .map(|placement| (placement.task, placement.derived.clone()))
            .collect();
        assert_eq!(units.len(), 2, "{units:?}");
        assert!(
            units.contains(&(0, vec![])),
            "the sketch is not derived: {units:?}"
        );
        assert!(units.contains(&(5, vec![1, 2, 3, 4])), "{units:?}");
    }

    #[test]
    fn the_heaviest_task_is_split_first() {
        let plan = place_tasks(&default_tasks(), 7, never_derived);
        let five_tuple_shares = plan
            .iter()
            .flatten()
            .filter(|placement| placement.task == 5)
            .count();
        assert_eq!(five_tuple_shares, 2);
    }

    /// How many of `keys` each of `count` shares gets.
    fn spread(keys: &[FlowKey], count: usize) -> Vec<usize> {
        let mut per_share = vec![0; count];
        for key in keys {
            per_share[share_of_key(key, count)] += 1;
        }
        per_share
    }

    #[track_caller]
    fn assert_even(keys: &[FlowKey], what: &str) {
        for count in [2, 3, 7, 16] {
            let per_share = spread(keys, count);
            let mean = keys.len() / count;
            assert!(
                per_share
                    .iter()
                    .all(|&keys| keys * 10 >= mean * 8 && keys * 10 <= mean * 12),
                "{what}, {count} shares: {per_share:?}"
            );
        }
    }

    #[test]
    fn keys_of_every_shape_spread_evenly_over_the_shares() {
        let schema = |fields: &[KeyField]| KeySchema::from_fields(fields);
        let five_tuples: Vec<FlowKey> = (0..30_000u32)
            .map(|n| {
                FlowKey::ipv4(
                    Ipv4Addr::from(0x0a00_0000 | (n % 5_000)),
                    Ipv4Addr::new(192, 168, 1, (n % 7) as u8),
                    1024 + (n % 50_000) as u16,
                    [80, 443, 53][n as usize % 3],
                    [6, 17][n as usize % 2],
                )
            })
            .collect();
        assert_even(&five_tuples, "IPv4 5-tuples");
        let sources: Vec<FlowKey> = five_tuples
            .iter()
            .map(|key| schema(&[KeyField::SrcIp]).project(key))
            .collect();
        let distinct_sources: std::collections::HashSet<FlowKey> =
            sources.iter().copied().collect();
        assert_even(
            &distinct_sources.into_iter().collect::<Vec<_>>(),
            "IPv4 sources",
        );
        let ports: Vec<FlowKey> = (0..=u16::MAX)
            .map(|port| FlowKey {
                src_port: port,
                ..FlowKey::default()
            })
            .collect();
        assert_even(&ports, "source ports");
        let v6: Vec<FlowKey> = (0..20_000u16)
            .map(|n| {
                let host = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, n / 256, n % 256);
                let mut key = FlowKey::ipv4(Ipv4Addr::UNSPECIFIED, Ipv4Addr::UNSPECIFIED, 0, 0, 58);
                key.family = crate::flow::AddressFamily::Ipv6;
                key.src = host.octets();
                key
            })
            .collect();
        assert_even(&v6, "IPv6 sources");
    }

    #[test]
    fn a_key_always_goes_to_the_same_share_within_bounds() {
        let key = FlowKey::ipv4(
            Ipv4Addr::new(10, 0, 0, 1),
            Ipv4Addr::new(10, 0, 0, 2),
            1234,
            80,
            6,
        );
        for count in 1..=64 {
            let share = share_of_key(&key, count);
            assert!(share < count);
            assert_eq!(share, share_of_key(&key, count));
        }
        assert_eq!(share_of_key(&key, 1), 0);
    }
}
