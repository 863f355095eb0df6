//! Roll-ups: exact tasks counted by summing a wider exact task's records.
//!
//! A task keyed by a subset of another's fields (`SrcIP` of the 5-tuple,
//! `SrcIP/24` of `SrcIP`) has, per key, the sum of the wider task's
//! records that project onto that key: packets and bytes add up, first
//! and last seen are a min and a max. [`RollupAggregator`] counts the wider
//! (base) task packet by packet and the derived tasks without touching
//! them per packet, and hands over the same parts counting each task on
//! its own would:
//!
//! - **Keys and their order.** A derived key's first packet is the first
//!   packet of some base key. So when the base takes new keys, in the order
//!   their first packets came, each derived task takes the new keys'
//!   projections in that same order, up to its own key limit. Its records
//!   then come in the order of first packets, and exactly the keys it
//!   would have refused are missing.
//! - **Counts.** On a cut, every base record is added to its projection's
//!   record, or to the derived task's overflow when the projection was
//!   refused.
//! - **A full base.** Packets the base's own key limit refuses are in no
//!   base record: they are counted in each derived task as they come, as
//!   the task would count them on its own. The base only refuses once it
//!   is full, so no new base key follows them in the window.
//!
//! A base and the tasks derived from it are whole tasks on one shard
//! ([`crate::flow::place_tasks`] keeps them together and never splits them).

use super::aggregator::{
    Aggregator, OpenCounts, PacketRecord, Part, PartTotals, Share, TaskKind, TaskSpec,
};
use super::direct::SmallField;
use super::exact::{ExactAggregator, ExactPart};
use super::{FlowKey, FlowMap, FlowRecord, KeyField, KeySchema, OverflowCounter, hash_key};

/// Whether `task`'s counts can be summed from `base`'s records: both are
/// exact tasks, and `task` keeps no field `base` leaves out, nor more of an
/// address than `base` keeps.
pub fn derivable(base: &TaskSpec, task: &TaskSpec) -> bool {
    let keeps_within = |field: KeyField| {
        let (ours, theirs) = (task.schema.prefix(field), base.schema.prefix(field));
        base.schema.contains(field) && ours.v4 <= theirs.v4 && ours.v6 <= theirs.v6
    };
    base.kind == TaskKind::Exact
        && task.kind == TaskKind::Exact
        && task.schema.fields().all(keeps_within)
}

/// For each task, the task it is derived from, if any, given which tasks
/// `derives` from which. Wider tasks are bases first (more fields, then
/// config order); a task is derived from the first base that covers it,
/// and a base is never itself derived.
pub fn plan_rollups(
    tasks: &[TaskSpec],
    derives: fn(&TaskSpec, &TaskSpec) -> bool,
) -> Vec<Option<usize>> {
    let mut widest_first: Vec<usize> = (0..tasks.len()).collect();
    widest_first.sort_by_key(|&task| std::cmp::Reverse(tasks[task].schema.fields().count()));
    let mut bases: Vec<usize> = Vec::new();
    let mut derived_from = vec![None; tasks.len()];
    for task in widest_first {
        match bases
            .iter()
            .find(|&&base| derives(&tasks[base], &tasks[task]))
        {
            Some(&base) => derived_from[task] = Some(base),
            None => bases.push(task),
        }
    }
    derived_from
}

/// Counts a whole exact task and derives other whole exact tasks from it.
pub struct RollupAggregator {
    base: ExactAggregator,
    members: Vec<Derived>,
    /// The derived tasks' parts cut by the last `take_part`, until taken.
    cut: Vec<Box<dyn Part>>,
}

/// One derived task's open window: its keys in order of first packet,
/// with counts only from packets the base refused.
struct Derived {
    schema: KeySchema,
    key_limit: usize,
    map: FlowMap,
    overflow: OverflowCounter,
    /// Where each base record's projection is in `map`: a cut adds the
    /// base record there without looking its projection up again.
    numbers: RecordNumbers,
}

/// A derived task's record numbers ([`FlowMap::number_at`]), or
/// [`REFUSED`] for a projection the key limit refused.
enum RecordNumbers {
    /// Per base record, in the base's order.
    PerBaseRecord(Vec<u32>),
    /// Per value of the task's one small field (the protocol, or one
    /// port), [`UNSEEN`] for a value not seen this window: no projection
    /// is hashed, and nothing is kept per base record.
    PerValue {
        field: SmallField,
        numbers: Box<[u32]>,
    },
}

/// The projection was refused by the key limit.
const REFUSED: u32 = u32::MAX;

/// In [`RecordNumbers::PerValue`]: no base record has the value yet.
const UNSEEN: u32 = u32::MAX - 1;

/// How many base records ahead of the one being added its projection's
/// record is prefetched on a cut.
const PREFETCH_DISTANCE: usize = 16;

impl RollupAggregator {
    /// Counts `base` whole, and `derived` (each [`derivable`] from it) from its records.
    pub fn new(base: &TaskSpec, derived: &[TaskSpec]) -> RollupAggregator {
        RollupAggregator {
            base: ExactAggregator::keeping_refused(base, Share::whole(base)),
            members: derived
                .iter()
                .map(|task| Derived {
                    schema: task.schema,
                    key_limit: task.max_keys.map_or(usize::MAX, |limit| {
                        usize::try_from(limit).unwrap_or(usize::MAX)
                    }),
                    map: FlowMap::new(),
                    overflow: OverflowCounter::default(),
                    numbers: RecordNumbers::for_schema(task.schema),
                })
                .collect(),
            cut: Vec::new(),
        }
    }
}

impl Aggregator for RollupAggregator {
    /// The base counts the batch; then each derived task takes the keys
    /// of the base's new records, and counts the packets the base refused.
    fn count(&mut self, batch: &[PacketRecord]) {
        let known = self.base.map().len();
        self.base.count(batch);
        if self.base.map().len() > known {
            for member in &mut self.members {
                member.hold(self.base.map().records_after(known));
            }
        }
        for packet in self.base.take_refused() {
            for member in &mut self.members {
                member.count_refused(&packet);
            }
        }
    }

    fn take_part(&mut self) -> Box<dyn Part> {
        let base = self.base.take_part();
        self.cut = self
            .members
            .iter_mut()
            .map(|member| {
                let map = std::mem::take(&mut member.map);
                let overflow = std::mem::take(&mut member.overflow);
                let part = derive_part(
                    member.schema,
                    member.numbers.of_records(base.records()),
                    base.totals(),
                    map,
                    overflow,
                );
                member.numbers.clear();
                Box::new(part) as Box<dyn Part>
            })
            .collect();
        base
    }

    fn peek_part(&self) -> Option<Box<dyn Part>> {
        self.base.peek_part()
    }

    fn open_counts(&self) -> OpenCounts {
        self.base.open_counts()
    }

    fn take_derived_parts(&mut self) -> Vec<Box<dyn Part>> {
        std::mem::take(&mut self.cut)
    }

    /// Reads the base's open records in place: only the derived task's own
    /// keys are copied.
    fn peek_derived_part(&self, index: usize) -> Option<Box<dyn Part>> {
        let member = self.members.get(index)?;
        let open = self.base.open_counts();
        let base_totals = PartTotals {
            records: open.keys,
            packets: open.packets,
            bytes: open.bytes,
        };
        Some(Box::new(derive_part(
            member.schema,
            member.numbers.of_records(self.base.map().records()),
            base_totals,
            member.map.clone(),
            member.overflow.clone(),
        )))
    }

    /// Packets, bytes and keys are exact; the overflow shows only the
    /// packets the base refused until the cut adds the rest.
    fn derived_open_counts(&self, index: usize) -> OpenCounts {
        let Some(member) = self.members.get(index) else {
            return OpenCounts::default();
        };
        let base = self.base.open_counts();
        OpenCounts {
            packets: base.packets,
            bytes: base.bytes,
            keys: member.map.len() as u64,
            overflow_packets: member.overflow.packets(),
        }
    }
}

impl Derived {
    /// Takes the projections of new base keys, in order, unless held or
    /// refused, and notes each one's record number.
    fn hold<'a>(&mut self, base: impl Iterator<Item = &'a FlowRecord>) {
        let limit = self.key_limit;
        match &mut self.numbers {
            RecordNumbers::PerBaseRecord(numbers) => for_each_projected(
                self.schema,
                &mut self.map,
                base,
                |map, hash, key, candidate| {
                    let number = map
                        .number_at(candidate, &key)
                        .or_else(|| map.hold_bounded(hash, key, limit));
                    numbers.push(number.unwrap_or(REFUSED));
                },
            ),
            RecordNumbers::PerValue { field, numbers } => {
                for record in base {
                    let value = field.value_of(&record.key);
                    if numbers[value] == UNSEEN {
                        let key = field.key(value);
                        numbers[value] = self
                            .map
                            .hold_bounded(hash_key(&key), key, limit)
                            .unwrap_or(REFUSED);
                    }
                }
            }
        }
    }

    /// Counts a packet the base refused, as this task would on its own.
    fn count_refused(&mut self, packet: &PacketRecord) {
        let key = self.schema.project(&packet.key);
        let hash = hash_key(&key);
        if !self.map.add_bounded(
            hash,
            key,
            packet.timestamp_ns,
            packet.wire_len,
            self.key_limit,
        ) {
            self.overflow
                .add(hash, packet.timestamp_ns, packet.wire_len);
        }
    }
}

impl RecordNumbers {
    /// Per value for a task keyed by one small field, per base record otherwise.
    fn for_schema(schema: KeySchema) -> RecordNumbers {
        match SmallField::of(schema) {
            Some(field) => RecordNumbers::PerValue {
                field,
                numbers: vec![UNSEEN; field.values()].into_boxed_slice(),
            },
            None => RecordNumbers::PerBaseRecord(Vec::new()),
        }
    }

    /// Each of the base's `records` (all of them, in order) with its
    /// projection's record number.
    fn of_records<'a>(
        &'a self,
        records: impl Iterator<Item = &'a FlowRecord> + 'a,
    ) -> impl Iterator<Item = (&'a FlowRecord, u32)> + 'a {
        let mut noted = match self {
            RecordNumbers::PerBaseRecord(numbers) => numbers.iter(),
            RecordNumbers::PerValue { .. } => [].iter(),
        };
        records.map(move |record| {
            let number = match self {
                RecordNumbers::PerBaseRecord(_) => noted.next().copied().unwrap_or(REFUSED),
                RecordNumbers::PerValue { field, numbers } => numbers[field.value_of(&record.key)],
            };
            (record, number)
        })
    }

    /// Forgets the window's numbers.
    fn clear(&mut self) {
        match self {
            RecordNumbers::PerBaseRecord(numbers) => *numbers = Vec::new(),
            RecordNumbers::PerValue { numbers, .. } => numbers.fill(UNSEEN),
        }
    }
}

/// A derived task's part: `map` (its keys, with the refused packets'
/// counts) and `overflow`, plus each base record of `numbered` added to
/// its projection's record, or to the overflow when the projection was
/// refused. Its packets and bytes are the base's (`base_totals`): every
/// packet lands in both.
fn derive_part<'a>(
    schema: KeySchema,
    numbered: impl Iterator<Item = (&'a FlowRecord, u32)>,
    base_totals: PartTotals,
    mut map: FlowMap,
    mut overflow: OverflowCounter,
) -> ExactPart {
    let mut add =
        |map: &mut FlowMap, (record, number): (&FlowRecord, u32)| match map.stats_of(number) {
            Some(stats) => stats.absorb(&record.stats),
            None => {
                let key = schema.project(&record.key);
                overflow.add_stats(hash_key(&key), &record.stats);
            }
        };
    // Each record is added `PREFETCH_DISTANCE` records after its
    // projection's record was prefetched.
    let mut pending = std::collections::VecDeque::with_capacity(PREFETCH_DISTANCE);
    for (record, number) in numbered {
        map.prefetch_number(number);
        if pending.len() == PREFETCH_DISTANCE
            && let Some(due) = pending.pop_front()
        {
            add(&mut map, due);
        }
        pending.push_back((record, number));
    }
    for due in pending {
        add(&mut map, due);
    }
    let totals = PartTotals {
        records: map.len() as u64,
        ..base_totals
    };
    ExactPart::new(map, overflow.take(), totals)
}

/// Base records projected and hashed before the first of them is looked
/// up in a derived task's map: enough to cover a memory access.
const PREFETCH_GROUP: usize = 16;

/// Calls `each` with `map`, and each of `records` projected onto `schema`:
/// its key's hash, the key, and the record its index slot points to (for
/// [`FlowMap::number_at`]). Records go in groups whose index slots, then
/// candidate records, are prefetched first, so the group's cache misses
/// overlap.
fn for_each_projected<'a>(
    schema: KeySchema,
    map: &mut FlowMap,
    records: impl Iterator<Item = &'a FlowRecord>,
    mut each: impl FnMut(&mut FlowMap, u64, FlowKey, Option<u32>),
) {
    let mut group = [(0, FlowKey::default()); PREFETCH_GROUP];
    let mut visit = |map: &mut FlowMap, group: &[(u64, FlowKey)]| {
        let mut candidates = [None; PREFETCH_GROUP];
        for ((hash, _), candidate) in group.iter().zip(&mut candidates) {
            *candidate = map.prefetch_record(*hash);
        }
        for (&(hash, key), candidate) in group.iter().zip(candidates) {
            each(map, hash, key, candidate);
        }
    };
    let mut count = 0;
    for record in records {
        let key = schema.project(&record.key);
        let hash = hash_key(&key);
        map.prefetch_slot(hash);
        group[count] = (hash, key);
        count += 1;
        if count == PREFETCH_GROUP {
            visit(map, &group);
            count = 0;
        }
    }
    visit(map, &group[..count]);
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;
    use crate::flow::{AddressPrefix, ExactAggregator, FlowKey, Overflow};

    fn spec(name: &str, schema: KeySchema, max_keys: Option<u64>) -> TaskSpec {
        TaskSpec {
            name: name.into(),
            kind: TaskKind::Exact,
            schema,
            max_keys,
        }
    }

    fn fields(fields: &[KeyField]) -> KeySchema {
        KeySchema::from_fields(fields)
    }

    /// Packets over a few hundred 5-tuples, heavy and light, with
    /// timestamps that go backwards now and then.
    fn packets(count: u64, seed: u64) -> Vec<PacketRecord> {
        (0..count)
            .map(|n| {
                let mix = (n + seed).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 40;
                let host = if n % 3 == 0 { 7 } else { (mix % 40) as u8 };
                PacketRecord {
                    key: FlowKey::ipv4(
                        Ipv4Addr::new(10, (mix % 3) as u8, 0, host),
                        Ipv4Addr::new(192, 168, (mix % 5) as u8, 1),
                        1024 + (mix % 9) as u16,
                        [53, 80, 443][(mix % 3) as usize],
                        [6, 17][(mix % 2) as usize],
                    ),
                    timestamp_ns: 1_000 + (n * 7919) % 5_000,
                    wire_len: 60 + (mix % 1400) as u32,
                }
            })
            .collect()
    }

    /// Everything a part shows: totals, records in order, overflow.
    fn shown(part: &dyn Part) -> (PartTotals, Vec<FlowRecord>, Overflow) {
        (
            part.totals(),
            part.records().copied().collect(),
            part.overflow(),
        )
    }

    /// Counts `batches` (a cut after each window's) with a roll-up of
    /// `base` and `derived`, and with each task on its own; every part must match.
    fn assert_same_as_on_their_own(
        base: &TaskSpec,
        derived: &[TaskSpec],
        windows: &[Vec<Vec<PacketRecord>>],
    ) {
        let mut rollup = RollupAggregator::new(base, derived);
        let mut alone: Vec<ExactAggregator> = std::iter::once(base)
            .chain(derived)
            .map(|task| ExactAggregator::new(task, Share::whole(task)))
            .collect();
        for (window, batches) in windows.iter().enumerate() {
            for batch in batches {
                rollup.count(batch);
                for aggregator in &mut alone {
                    aggregator.count(batch);
                }
                for (index, aggregator) in alone.iter().enumerate().skip(1) {
                    let open = rollup.derived_open_counts(index - 1);
                    let theirs = aggregator.open_counts();
                    assert_eq!(
                        (open.packets, open.bytes, open.keys),
                        (theirs.packets, theirs.bytes, theirs.keys),
                        "window {window}, {}",
                        derived[index - 1].name
                    );
                    let peeked = rollup.peek_derived_part(index - 1).expect("a copy");
                    let their_peek = aggregator.peek_part().expect("a copy");
                    assert_eq!(shown(peeked.as_ref()), shown(their_peek.as_ref()));
                }
            }
            let ours: Vec<Box<dyn Part>> = std::iter::once(rollup.take_part())
                .chain(rollup.take_derived_parts())
                .collect();
            assert_eq!(ours.len(), alone.len());
            for ((part, aggregator), task) in ours
                .iter()
                .zip(&mut alone)
                .zip(std::iter::once(base).chain(derived))
            {
                let theirs = aggregator.take_part();
                assert_eq!(
                    shown(part.as_ref()),
                    shown(theirs.as_ref()),
                    "window {window}, task {}",
                    task.name
                );
            }
        }
    }

    fn windows(seed: u64) -> Vec<Vec<Vec<PacketRecord>>> {
        (0..3)
            .map(|window| {
                (0..4)
                    .map(|batch| packets(97 + batch * 61, seed + window * 1000 + batch * 17))
                    .collect()
            })
            .collect()
    }

    fn single_fields(max_keys: Option<u64>) -> Vec<TaskSpec> {
        vec![
            spec("src", fields(&[KeyField::SrcIp]), max_keys),
            spec("dst", fields(&[KeyField::DstIp]), max_keys),
            spec("sport", fields(&[KeyField::SrcPort]), max_keys),
            spec("dport", fields(&[KeyField::DstPort]), max_keys),
            spec("proto", fields(&[KeyField::Protocol]), max_keys),
            spec(
                "src24",
                fields(&[KeyField::SrcIp])
                    .with_prefix(KeyField::SrcIp, AddressPrefix::new(16, 48).expect("valid"))
                    .expect("an address field"),
                max_keys,
            ),
        ]
    }

    #[test]
    fn derived_parts_equal_counting_each_task_on_its_own() {
        let base = spec("five", KeySchema::FIVE_TUPLE, None);
        assert_same_as_on_their_own(&base, &single_fields(None), &windows(1));
    }

    #[test]
    fn key_limits_refuse_the_same_keys_in_derived_tasks_and_in_a_full_base() {
        for (base_limit, derived_limit) in [
            (None, Some(5)),
            (Some(30), None),
            (Some(30), Some(4)),
            (Some(1), Some(2)),
        ] {
            let base = spec("five", KeySchema::FIVE_TUPLE, base_limit);
            assert_same_as_on_their_own(&base, &single_fields(derived_limit), &windows(7));
        }
    }

    #[test]
    fn a_task_is_derivable_only_from_an_exact_task_holding_all_it_keeps() {
        let five = spec("five", KeySchema::FIVE_TUPLE, None);
        let src = spec("src", fields(&[KeyField::SrcIp]), None);
        let src16 = &single_fields(None)[5];
        assert!(derivable(&five, &src));
        assert!(
            derivable(&src, src16),
            "a shorter prefix of a whole address"
        );
        assert!(!derivable(src16, &src), "a whole address from a prefix");
        assert!(!derivable(&src, &five));
        let mut conversation = five.clone();
        conversation.kind = TaskKind::Conversation;
        assert!(!derivable(&conversation, &src));
        assert!(!derivable(&five, &conversation));
    }

    #[test]
    fn the_widest_tasks_are_bases_and_each_other_task_has_one() {
        let mut tasks = single_fields(None);
        tasks.push(spec("five", KeySchema::FIVE_TUPLE, None));
        tasks.push(spec(
            "pair",
            fields(&[KeyField::SrcIp, KeyField::DstIp]),
            None,
        ));
        let plan = plan_rollups(&tasks, derivable);
        assert_eq!(
            plan,
            [
                Some(6),
                Some(6),
                Some(6),
                Some(6),
                Some(6),
                Some(6),
                None,
                Some(6)
            ]
        );
        let never = plan_rollups(&tasks, crate::flow::never_derived);
        assert!(never.iter().all(Option::is_none));
    }
}
